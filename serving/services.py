"""The gRPC servicers: PredictionService (Predict, GetModelMetadata) and ModelService (GetModelStatus).

Each request is answered with TF Serving's status code and message on failure (see `predict.py`
and `serving.errors`); the servicers hold no per-request state, so one bad request never affects
the next. Classify, Regress, MultiInference and HandleReloadConfigRequest are not implemented
(gRPC answers UNIMPLEMENTED).
"""

import logging

import grpc
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
    status_pb2,
)

from serving.errors import ServingError, invalid_argument, not_found, truncate
from serving.predict import run_predict

log = logging.getLogger(__name__)

SIGNATURE_DEF_FIELD = "signature_def"


def _abort(context, error):
    context.abort(error.code, truncate(error.message))


def find_servable(models, model_spec):
    """The Servable a ModelSpec asks for (`ServerCore::ServableRequestFromModelSpec` + the manager)."""
    if not model_spec.name:
        raise invalid_argument("ModelSpec has no name specified.")
    choice = model_spec.WhichOneof("version_choice")
    if choice == "version_label":
        raise invalid_argument(
            "ModelSpec has 'version_label' set, but it is not currently allowed by the server."
        )
    version = model_spec.version.value if choice == "version" else None
    manager = models.get(model_spec.name)
    if manager is None:
        request = (
            f"Latest({model_spec.name})" if version is None else f"Specific({model_spec.name}, {version})"
        )
        raise not_found(f"Servable not found for request: {request}")
    return manager.servable(version)


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict and GetModelMetadata over `models` (model name → ModelManager)."""

    def __init__(self, models, as_tensor_content=False):
        self.models = models
        self.as_tensor_content = as_tensor_content

    def Predict(self, request, context):  # noqa: N802 (gRPC method name)
        try:
            servable = find_servable(self.models, request.model_spec)
            return run_predict(servable, request, self.as_tensor_content)
        except ServingError as error:
            _abort(context, error)
        except Exception as error:  # a bug of ours: answer INTERNAL, keep serving
            log.exception("Predict failed")
            _abort(context, ServingError(grpc.StatusCode.INTERNAL, f"{type(error).__name__}: {error}"))

    def GetModelMetadata(self, request, context):  # noqa: N802
        try:
            return self._metadata(request)
        except ServingError as error:
            _abort(context, error)

    def _metadata(self, request):
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


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    """GetModelStatus over `models`, as `get_model_status_impl.cc` answers it."""

    def __init__(self, models):
        self.models = models

    def GetModelStatus(self, request, context):  # noqa: N802
        try:
            return self._status(request)
        except ServingError as error:
            _abort(context, error)

    def _status(self, request):
        if not request.HasField("model_spec"):
            raise invalid_argument("Missing ModelSpec")
        spec = request.model_spec
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
            status.status.CopyFrom(status_pb2.StatusProto(error_code=code.value[0], error_message=message))
        return response
