"""Retries with exponential back-off, for gRPC calls that fail with UNAVAILABLE only.

UNAVAILABLE means the request never reached a model (server starting, restarting, overloaded
connection): retrying is safe. Every other code is the server's answer (a bad request, a missing
model, a deadline) and retrying would not change it.
"""

import logging
import time

import grpc

log = logging.getLogger(__name__)

RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE})


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
            if code not in RETRYABLE or attempt == retries:
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
