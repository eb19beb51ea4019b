"""The gRPC servicers: PredictionService (Predict, GetModelMetadata) and ModelService (GetModelStatus).

`ServingCore` answers the requests as protos, or raises a ServingError with TF Serving's status
code and message (see `predict.py` and `serving.errors`); the gRPC servicers here and the REST
API (`serving/rest.py`) only translate. No request state is shared, so one bad request never
affects the next. Classify, Regress, MultiInference and HandleReloadConfigRequest are not
implemented (gRPC answers UNIMPLEMENTED).
"""

import contextlib
import logging
import os
import sys
import threading

import grpc
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
    status_pb2,
)

from serving.cancellation import cancellable
from serving.errors import ServingError, invalid_argument, not_found, redact_paths, truncate
from serving.predict import run_predict

log = logging.getLogger(__name__)

SIGNATURE_DEF_FIELD = "signature_def"
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def find_servable(models, model_spec):
    """The Servable a ModelSpec asks for (`ServerCore::ServableRequestFromModelSpec` + the manager)."""
    if not model_spec.name:
        raise invalid_argument("ModelSpec has no name specified.")
    choice = model_spec.WhichOneof("version_choice")
    if choice == "version_label":
        # TF Serving allows labels; this server has none configured, so every label is unknown.
        raise invalid_argument(f"Unrecognized servable version label: {model_spec.version_label}")
    version = model_spec.version.value if choice == "version" else None
    manager = models.get(model_spec.name)
    if manager is None:
        request = (
            f"Latest({model_spec.name})" if version is None else f"Specific({model_spec.name}, {version})"
        )
        raise not_found(f"Servable not found for request: {request}")
    return manager.servable(version)


class ServingCore:
    """The request handling both APIs share, over `models` (model name → ModelManager).

    `max_tensor_bytes` bounds each input tensor's declared size; `server_paths` are replaced in
    every message a client reads (`public`), as are the working directory, Python's prefix and the
    repository. Predict calls are counted so that shutdown can wait for them while new ones are
    refused (UNAVAILABLE, which clients retry elsewhere).
    """

    def __init__(self, models, as_tensor_content=False, max_tensor_bytes=None, server_paths=()):
        self.models = models
        self.as_tensor_content = as_tensor_content
        self.max_tensor_bytes = max_tensor_bytes
        self.server_paths = (*server_paths, os.getcwd(), sys.prefix, os.path.dirname(_PACKAGE_DIR))
        self._idle = threading.Condition()
        self._in_flight = 0
        self._closed = False

    def public(self, error):
        """`error` as a client may read it: no server paths, TF Serving's length limit."""
        return ServingError(error.code, truncate(redact_paths(error.message, self.server_paths)))

    @contextlib.contextmanager
    def _tracked(self):
        with self._idle:
            if self._closed:
                raise ServingError(grpc.StatusCode.UNAVAILABLE, "Server is shutting down")
            self._in_flight += 1
        try:
            yield
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def close(self, timeout):
        """Refuse new Predict calls; wait up to `timeout` s for running ones. True if none is left."""
        with self._idle:
            self._closed = True
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    def predict(self, request, rpc_context=None):
        if not request.HasField("model_spec"):
            raise invalid_argument("Missing ModelSpec")
        with self._tracked():
            if rpc_context is not None and not rpc_context.is_active():
                # Queued behind other requests until the client gave up: do not start the work.
                raise ServingError(grpc.StatusCode.CANCELLED, "Request cancelled before it ran")
            servable = find_servable(self.models, request.model_spec)
            with cancellable(rpc_context):
                return run_predict(
                    servable, request, self.as_tensor_content, self.max_tensor_bytes, release_inputs=True
                )

    def metadata(self, request):
        if not request.HasField("model_spec"):
            raise invalid_argument("Missing ModelSpec")
        if not request.metadata_field:
            raise invalid_argument("GetModelMetadataRequest must specify at least one metadata_field")
        for field in request.metadata_field:
            if field != SIGNATURE_DEF_FIELD:
                raise invalid_argument(f"Metadata field {field} is not supported")
        servable = find_servable(self.models, request.model_spec)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = servable.name
        response.model_spec.version.value = servable.version
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        for name, signature in servable.signature_defs.items():
            signature_map.signature_def[name].CopyFrom(signature)
        response.metadata[SIGNATURE_DEF_FIELD].Pack(signature_map)
        return response

    def status(self, request):
        """GetModelStatus, as `get_model_status_impl.cc` answers it."""
        if not request.HasField("model_spec"):
            raise invalid_argument("Missing ModelSpec")
        spec = request.model_spec  # a version_label is ignored, as get_model_status_impl.cc does
        manager = self.models.get(spec.name)
        states = manager.version_states() if manager is not None else []
        if spec.HasField("version"):
            states = [s for s in states if s[0] == spec.version.value]
            if not states:
                raise not_found(f"Could not find version {spec.version.value} of model {spec.name}")
        elif not states:
            raise not_found(f"Could not find any versions of model {spec.name}")
        response = get_model_status_pb2.GetModelStatusResponse()
        for version, state, code, message in states:
            status = response.model_version_status.add(version=version, state=state)
            message = redact_paths(message, self.server_paths)
            status.status.CopyFrom(status_pb2.StatusProto(error_code=code.value[0], error_message=message))
        return response


def _answer(core, context, method, *args):
    try:
        return method(*args)
    except ServingError as error:
        error = core.public(error)
        context.abort(error.code, error.message)
    except Exception as error:  # a bug of ours: answer INTERNAL, keep serving
        log.exception("request failed")
        error = core.public(ServingError(grpc.StatusCode.INTERNAL, f"{type(error).__name__}: {error}"))
        context.abort(error.code, error.message)


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict and GetModelMetadata over a ServingCore."""

    def __init__(self, core):
        self.core = core

    def Predict(self, request, context):  # noqa: N802 (gRPC method name)
        return _answer(self.core, context, self.core.predict, request, context)

    def GetModelMetadata(self, request, context):  # noqa: N802
        return _answer(self.core, context, self.core.metadata, request)


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    """GetModelStatus over a ServingCore."""

    def __init__(self, core):
        self.core = core

    def GetModelStatus(self, request, context):  # noqa: N802
        return _answer(self.core, context, self.core.status, request)
