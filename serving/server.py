"""A local, pure-Python server that speaks TF Serving's gRPC API (and its REST API) for one model.

    python -m serving.server --model_name dmrh --model_base_path models/dmrh --port 8500 \
        [--rest_api_port 8501]

Flags are named like `tensorflow_model_server`'s. It serves PredictionService (Predict,
GetModelMetadata), ModelService (GetModelStatus), the standard gRPC health service
(`grpc.health.v1`: "", "ModelService" and "PredictionService" SERVING) and, with
`--rest_api_port`, TF Serving's REST API (`serving/rest.py`), with TF Serving's semantics: the
highest integer version under the base path serves, new versions are picked up while running
(polled every `--file_system_poll_wait_seconds`), failed loads are retried, warm-up requests are
replayed at load, and every error answers with TF Serving's status code and message.

Unlike TF Serving it bounds what a client can make it hold: requests over `--max_message_bytes`
and tensors declaring more are refused, at most `--max_concurrent_requests` RPCs run at once
(more get RESOURCE_EXHAUSTED "Concurrent RPC limit exceeded!" before their message is read), and a
request whose client cancelled or whose deadline passed is stopped (its graph is cancelled).
SIGTERM/SIGINT: health goes NOT_SERVING while in-flight requests finish, then exit 0.

It is meant for development and tests (no batching, no model config file). Production uses the
real server: see `serving/README.md`.
"""

import argparse
import ctypes
import logging
import os
import signal
import threading
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

from serving.model_manager import ModelManager
from serving.services import ModelServicer, PredictionServicer, ServingCore

log = logging.getLogger(__name__)

# TF Serving lifts gRPC's 4 MiB limit to INT32_MAX; this server keeps a bound a client cannot use
# to make it hold gigabytes. 128 MiB fits the client's requests (at most 64 MiB of encoded images,
# or one image of the default 4096² pixel limit: 48 MiB).
DEFAULT_MAX_MESSAGE_BYTES = 128 << 20
# The short service names TF Serving registers with --enable_grpc_healthcheck_service, plus "".
HEALTH_SERVICES = ("", "ModelService", "PredictionService")


def default_max_concurrent_requests():
    """As many RPCs as CPUs (at least 2): more only wait for the CPUs while holding their memory."""
    return max(2, os.cpu_count() or 1)


def limit_malloc_arenas(arenas=2):
    """glibc's M_ARENA_MAX (as MALLOC_ARENA_MAX=2 would): one heap per request thread otherwise
    fragments and keeps hundreds of MB after a burst of large requests. Linux/glibc only; the CLI
    calls it before any thread starts."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(-8, arenas))  # -8: M_ARENA_MAX
    except (OSError, AttributeError):
        return False


class ModelServer:
    """A gRPC server for model `name` under `base_path`; `start()` returns once a version serves.

    `max_message_bytes` bounds requests and responses (None or -1: unlimited, like TF Serving);
    `max_concurrent_requests` bounds the RPCs in progress (None: `default_max_concurrent_requests`);
    `rest_api_port` (None: no REST API; 0: any free port) serves TF Serving's REST API.
    """

    def __init__(
        self,
        name,
        base_path,
        port=8500,
        host="127.0.0.1",
        max_threads=None,
        poll_wait_seconds=1.0,
        as_tensor_content=False,
        warmup=True,
        max_message_bytes=DEFAULT_MAX_MESSAGE_BYTES,
        max_concurrent_requests=None,
        max_num_load_retries=5,
        load_retry_interval_seconds=60.0,
        rest_api_port=None,
    ):
        base_path = os.path.abspath(base_path)
        self.manager = ModelManager(
            name,
            base_path,
            poll_wait_seconds,
            warmup=warmup,
            max_num_load_retries=max_num_load_retries,
            load_retry_interval_seconds=load_retry_interval_seconds,
        )
        self.models = {name: self.manager}
        unlimited = max_message_bytes is None or max_message_bytes < 0
        self.max_message_bytes = -1 if unlimited else int(max_message_bytes)
        self.max_concurrent_requests = max_concurrent_requests or default_max_concurrent_requests()
        # TF Serving's --grpc_max_threads default, and never fewer threads than allowed RPCs.
        self.max_threads = max(max_threads or 4 * (os.cpu_count() or 1), self.max_concurrent_requests)
        self.core = ServingCore(
            self.models,
            as_tensor_content,
            max_tensor_bytes=None if unlimited else self.max_message_bytes,
            server_paths=_server_paths(base_path),
        )
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=self.max_threads, thread_name_prefix="grpc"),
            options=[
                ("grpc.max_receive_message_length", self.max_message_bytes),
                ("grpc.max_send_message_length", self.max_message_bytes),
                ("grpc.so_reuseport", 0),  # a busy port is an error, not a shared one
            ],
            maximum_concurrent_rpcs=self.max_concurrent_requests,
        )
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            PredictionServicer(self.core), self._server
        )
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(self.core), self._server)
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        try:
            self.port = self._server.add_insecure_port(f"{host}:{port}")
        except RuntimeError as error:  # grpcio raises when the port is taken
            raise OSError(f"could not bind {host}:{port}: {error}") from error
        if self.port == 0:
            raise OSError(f"could not bind {host}:{port}")
        self.address = f"{host}:{self.port}"
        self.rest = None
        if rest_api_port is not None:
            from serving.rest import RestApiServer

            self.rest = RestApiServer(
                self.core,
                host,
                rest_api_port,
                max_body_bytes=None if unlimited else self.max_message_bytes,
                max_concurrent_requests=self.max_concurrent_requests,
            )
            self.rest_address = f"{host}:{self.rest.port}"

    def start(self, timeout=None, stop_event=None):
        """Load the latest version, then start answering. False if `stop_event`/`timeout` came first.

        Like TF Serving, the ports open only once the model is available; a first version that
        fails to load (after its retries) is fatal (RuntimeError).
        """
        self.manager.start()
        if not self.manager.available and self.manager.version_states():
            _, _, code, message = self.manager.version_states()[0]
            raise RuntimeError(f"loading {self.manager.name} failed ({code.name}): {message}")
        if not self.manager.wait_until_available(timeout, stop_event):
            return False
        self._server.start()
        for service in HEALTH_SERVICES:
            self.health.set(service, health_pb2.HealthCheckResponse.SERVING)
        log.info("Running gRPC ModelServer at %s ...", self.address)
        if self.rest is not None:
            self.rest.start()
            log.info("Exporting HTTP/REST API at:%s ...", self.rest_address)
        return True

    def stop(self, grace=5.0):
        """Health NOT_SERVING while in-flight requests finish (up to `grace` s), then stop.

        During that drain health checks still answer (NOT_SERVING) and new Predict calls get
        UNAVAILABLE, which clients retry on another replica; then the ports close.
        """
        self.health.enter_graceful_shutdown()
        drained = self.core.close(grace)
        if not drained:
            log.warning("Requests still running after %.1f s; stopping anyway", grace)
        if self.rest is not None:
            self.rest.stop()
        # A drained handler has returned, but its response may still be on its way out: a short grace
        # lets gRPC send it (stop(0) cancelled such responses with UNAVAILABLE "Cancelling all calls").
        self._server.stop(_RESPONSE_FLUSH_SECONDS if drained else 0).wait()
        self.manager.stop()
        log.info("Server stopped")

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop(grace=1.0)


_RESPONSE_FLUSH_SECONDS = 1.0  # after the drain: time for the last responses to leave


def _server_paths(base_path):
    """The server-side paths error messages may contain (replaced before a client reads them)."""
    paths = {base_path, os.path.realpath(base_path), os.path.dirname(base_path)}
    return tuple(path for path in paths if path and path != os.sep)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="A TF-Serving-compatible gRPC server for one dmrh_tf model (development and tests).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--model_name", default="default", help="name in every ModelSpec (TF Serving's)")
    parser.add_argument("--model_base_path", required=True, help="directory of integer version dirs")
    parser.add_argument("--port", type=int, default=8500, help="gRPC port (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (0.0.0.0: all)")
    parser.add_argument("--grpc_max_threads", type=int, default=None, help="request threads (4 × CPUs)")
    parser.add_argument(
        "--file_system_poll_wait_seconds",
        type=float,
        default=1.0,
        help="seconds between polls of the base path; 0: poll once; negative: never poll",
    )
    parser.add_argument(
        "--max_num_load_retries", type=int, default=5, help="retries of a failed load (TF Serving's)"
    )
    parser.add_argument(
        "--load_retry_interval_micros",
        type=int,
        default=60_000_000,
        help="wait between load retries, microseconds (TF Serving's; negative: no wait)",
    )
    parser.add_argument(
        "--max_message_bytes",
        type=int,
        default=DEFAULT_MAX_MESSAGE_BYTES,
        help="largest request/response (and declared input tensor) in bytes; -1: unlimited (TF Serving)",
    )
    parser.add_argument(
        "--max_concurrent_requests",
        type=int,
        default=None,
        help="RPCs in progress at once; more get RESOURCE_EXHAUSTED (default: CPUs, at least 2)",
    )
    parser.add_argument(
        "--rest_api_port", type=int, default=0, help="TF Serving's REST API port; 0: no REST API"
    )
    parser.add_argument(
        "--enable_serialization_as_tensor_content",
        action="store_true",
        help="answer with packed tensor_content instead of typed *_val fields",
    )
    parser.add_argument(
        "--enable_model_warmup",
        type=lambda s: s.lower() in ("1", "true", "yes"),
        default=True,
        help="replay assets.extra/tf_serving_warmup_requests at load",
    )
    return parser.parse_args(argv)


def _server_from_args(args):
    return ModelServer(
        args.model_name,
        args.model_base_path,
        port=args.port,
        host=args.host,
        max_threads=args.grpc_max_threads,
        poll_wait_seconds=args.file_system_poll_wait_seconds,
        as_tensor_content=args.enable_serialization_as_tensor_content,
        warmup=args.enable_model_warmup,
        max_message_bytes=args.max_message_bytes,
        max_concurrent_requests=args.max_concurrent_requests,
        max_num_load_retries=args.max_num_load_retries,
        load_retry_interval_seconds=args.load_retry_interval_micros / 1e6,
        rest_api_port=args.rest_api_port or None,
    )


def main(argv=None):
    args = parse_args(argv)
    limit_malloc_arenas()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda number, _frame: stop.set())
    try:
        server = _server_from_args(args)
    except OSError as error:  # e.g. the port is taken: fail to start, as TF Serving does
        log.error("%s", error)
        return 1
    try:
        if server.start(stop_event=stop):
            while not stop.wait(0.5):  # a timed wait, so the signal handler always gets to run
                pass
    except RuntimeError as error:
        log.error("%s", error)
        server.manager.stop()
        return 1
    log.info("Shutting down")
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
