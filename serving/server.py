"""A local, pure-Python server that speaks TF Serving's gRPC API for one model.

    python -m serving.server --model_name dmrh --model_base_path models/dmrh --port 8500

Flags are named like `tensorflow_model_server`'s. It serves PredictionService (Predict,
GetModelMetadata), ModelService (GetModelStatus) and the standard gRPC health service
(`grpc.health.v1`: "", "ModelService" and "PredictionService" SERVING), with TF Serving's
semantics: the highest integer version under the base path serves, new versions are picked up
while running (polled every `--file_system_poll_wait_seconds`), warm-up requests are replayed at
load, and every error answers with TF Serving's status code and message. Requests run in parallel
on a thread pool; SIGTERM/SIGINT drain in-flight requests and exit 0.

It is meant for development and tests (no batching, no REST, no model config file). Production
uses the real server: see `serving/README.md`.
"""

import argparse
import logging
import os
import signal
import threading
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

from serving.model_manager import ModelManager
from serving.services import ModelServicer, PredictionServicer

log = logging.getLogger(__name__)

# TF Serving lifts gRPC's 4 MiB default (builder.SetMaxMessageSize(INT32_MAX)).
UNLIMITED_MESSAGES = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
# The short service names TF Serving registers with --enable_grpc_healthcheck_service, plus "".
HEALTH_SERVICES = ("", "ModelService", "PredictionService")


class ModelServer:
    """A gRPC server for model `name` under `base_path`; `start()` returns once a version serves."""

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
    ):
        self.manager = ModelManager(name, os.path.abspath(base_path), poll_wait_seconds, warmup=warmup)
        self.models = {name: self.manager}
        self.max_threads = max_threads or 4 * (os.cpu_count() or 1)  # TF Serving's --grpc_max_threads default
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=self.max_threads, thread_name_prefix="grpc"),
            options=UNLIMITED_MESSAGES,
        )
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            PredictionServicer(self.models, as_tensor_content), self._server
        )
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(self.models), self._server)
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        self.port = self._server.add_insecure_port(f"{host}:{port}")
        if self.port == 0:
            raise OSError(f"could not bind {host}:{port}")
        self.address = f"{host}:{self.port}"

    def start(self, timeout=None, stop_event=None):
        """Load the latest version, then start answering. False if `stop_event`/`timeout` came first.

        Like TF Serving, the port opens only once the model is available; a first version that
        fails to load is fatal (RuntimeError).
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
        return True

    def stop(self, grace=5.0):
        """Report NOT_SERVING, finish in-flight requests (up to `grace` s), stop polling."""
        self.health.enter_graceful_shutdown()
        self._server.stop(grace).wait()
        self.manager.stop()
        log.info("Server stopped")

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop(grace=1.0)


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
    parser.add_argument("--file_system_poll_wait_seconds", type=float, default=1.0, help="version polling")
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


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda number, _frame: stop.set())
    server = ModelServer(
        args.model_name,
        args.model_base_path,
        port=args.port,
        host=args.host,
        max_threads=args.grpc_max_threads,
        poll_wait_seconds=args.file_system_poll_wait_seconds,
        as_tensor_content=args.enable_serialization_as_tensor_content,
        warmup=args.enable_model_warmup,
    )
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
