"""Retries with exponential back-off, for gRPC calls that never reached a model.

UNAVAILABLE (server starting, restarting, shutting down, overloaded connection) and gRPC's own
RESOURCE_EXHAUSTED "Concurrent RPC limit exceeded!" (a server's bound on requests in progress,
answered before the request is read) are safe to retry. Every other code is the server's answer (a
bad request, a missing model, a deadline, a message over the size limit) and retrying would not
change it.
"""

import logging
import time

import grpc

log = logging.getLogger(__name__)

RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE})
CONCURRENCY_LIMIT = "Concurrent RPC limit exceeded!"  # grpcio's message for maximum_concurrent_rpcs


def is_retryable(code, details):
    return code in RETRYABLE or (code == grpc.StatusCode.RESOURCE_EXHAUSTED and details == CONCURRENCY_LIMIT)


def backoff_delays(retries, initial=0.1, maximum=5.0, multiplier=2.0):
    """The waits before each retry: initial, initial·m, initial·m², … capped at `maximum` seconds."""
    return [min(initial * multiplier**attempt, maximum) for attempt in range(retries)]


def call_with_retries(call, retries=4, initial_backoff=0.1, max_backoff=5.0, sleep=time.sleep):
    """`call()`, retried up to `retries` times on UNAVAILABLE; the last error propagates."""
    delays = backoff_delays(retries, initial_backoff, max_backoff)
    for attempt in range(retries + 1):
        try:
            return call()
        except grpc.RpcError as error:
            code = error.code() if callable(getattr(error, "code", None)) else None
            details = error.details() if callable(getattr(error, "details", None)) else None
            if not is_retryable(code, details) or attempt == retries:
                raise
            log.warning(
                "%s (%s); retry %d/%d in %.2f s",
                code.name,
                error.details(),
                attempt + 1,
                retries,
                delays[attempt],
            )
            sleep(delays[attempt])
    raise AssertionError("unreachable")
