"""Predict on a loaded version with TF Serving's checks, in its order (`predict_util.cc`).

1. the signature exists (FAILED_PRECONDITION) and is a predict/classify/regress one (INTERNAL);
2. the request has as many inputs as the signature (INVALID_ARGUMENT, naming extra and missing);
3. every signature input is present and parses (INVALID_ARGUMENT), no unused input is left; before
   parsing, a tensor's declared shape is checked (the local server's own check, not TF Serving's):
   a TensorProto may declare a huge shape with no values (TensorFlow fills it with zeros), so one
   declaring more than `max_tensor_bytes`, or `images` over the export's `max_pixels` (the limit
   the graph checks), is refused without allocating it;
4. `output_filter` names known, distinct outputs (INVALID_ARGUMENT); empty means all outputs;
5. the dtypes match the signature (INVALID_ARGUMENT "Expects arg[i] to be … but … is provided"),
   then the graph runs; its errors keep their TensorFlow code (e.g. undecodable image bytes).
"""

import math

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2

from serving import contract
from serving.errors import ServingError, from_exception, invalid_argument
from serving.image_limits import declared_pixels_message
from serving.tensor_proto import to_tensor_proto

_METHOD_NAMES = (
    contract.PREDICT_METHOD_NAME,
    "tensorflow/serving/classify",
    "tensorflow/serving/regress",
)
# TensorFlow's DataTypeString names where they differ from tf.DType.name.
_TF_TYPE_NAMES = {"float32": "float", "float64": "double", "float16": "half"}


def _type_name(datatype_enum):
    name = tf.as_dtype(datatype_enum).name
    return _TF_TYPE_NAMES.get(name, name)


def _braces(names):
    return "{" + ",".join(sorted(names)) + "}"


def resolve_signature(servable, request):
    """The signature name (empty → serving_default) and its SignatureDef, or FAILED_PRECONDITION."""
    name = request.model_spec.signature_name or contract.IMAGES_SIGNATURE
    signature = servable.signature_defs.get(name)
    if signature is None:
        raise ServingError(grpc.StatusCode.FAILED_PRECONDITION, f'Serving signature key "{name}" not found.')
    if signature.method_name not in _METHOD_NAMES:
        raise ServingError(
            grpc.StatusCode.INTERNAL,
            f"Expected prediction signature method_name to be one of {{{', '.join(_METHOD_NAMES)}}}. "
            f"Was: {signature.method_name}",
        )
    return name, signature


def _check_input_count(signature, request):
    sent, expected = set(request.inputs), set(signature.inputs)
    if len(sent) > len(expected) or (len(sent) < len(expected) and not signature.defaults):
        raise invalid_argument(
            f"input size does not match signature: {len(sent)}!={len(expected)} "
            f"len({_braces(sent)}) != len({_braces(expected)}). Sent extra: {_braces(sent - expected)}. "
            f"Missing but required: {_braces(expected - sent)}."
        )


def _check_declared_size(alias, proto, max_tensor_bytes, max_pixels):
    """Refuse a TensorProto whose declared shape is too large, before it is converted."""
    dims = [dim.size for dim in proto.tensor_shape.dim]
    if proto.tensor_shape.unknown_rank or any(size < 0 for size in dims):
        return  # malformed: make_ndarray refuses it
    if alias == contract.IMAGES_INPUT and max_pixels and len(dims) == 4 and dims[1] * dims[2] > max_pixels:
        raise invalid_argument(f"assertion failed: [{declared_pixels_message(dims[1], dims[2], max_pixels)}]")
    if max_tensor_bytes is None or proto.dtype == 0:
        return
    itemsize = np.dtype(tf.as_dtype(proto.dtype).as_numpy_dtype).itemsize
    declared = math.prod(dims) * itemsize
    if declared > max_tensor_bytes:
        raise invalid_argument(
            f"tensor parsing error: {alias} declares shape {dims} ({declared} bytes), more than the "
            f"server's limit of {max_tensor_bytes} bytes per tensor"
        )


def _parse_inputs(signature, request, max_tensor_bytes=None, max_pixels=None):
    """alias → numpy array, following `saved_model::GetInputValues`."""
    arrays, seen = {}, set()
    for alias in sorted(signature.inputs):
        if alias in request.inputs:
            proto = request.inputs[alias]
            seen.add(alias)
        elif alias in signature.defaults:
            proto = signature.defaults[alias]
        else:
            defaults = ",".join(sorted(signature.defaults))
            raise invalid_argument(
                f"Signature input alias: {alias}(feed name: {signature.inputs[alias].name}) not found in "
                f"request and no default value provided. Inputs expected to be in the request "
                f"{_braces(request.inputs)}, or default input alias set: {defaults}"
            )
        _check_declared_size(alias, proto, max_tensor_bytes, max_pixels)
        try:
            arrays[alias] = (proto.dtype, tf.make_ndarray(proto))
        except Exception as error:  # any malformed TensorProto
            raise invalid_argument(f"tensor parsing error: {alias}") from error
    if request.inputs and len(seen) != len(request.inputs):
        raise invalid_argument(
            f"Inputs contains invalid name. Used request inputs: {','.join(sorted(seen))}, "
            f"request input: {','.join(sorted(request.inputs))}"
        )
    return arrays


def _output_aliases(signature, request):
    aliases = []
    for alias in request.output_filter:
        if alias not in signature.outputs:
            raise invalid_argument(
                f"output tensor alias not found in signature: {alias} Outputs expected to be in the set "
                f"{_braces(signature.outputs)}."
            )
        if alias in aliases:
            raise invalid_argument(f"duplicate output tensor alias: {alias}")
        aliases.append(alias)
    return aliases or sorted(signature.outputs)


def _check_dtypes(signature, arrays):
    for index, alias in enumerate(sorted(arrays)):
        sent, expected = arrays[alias][0], signature.inputs[alias].dtype
        if sent != expected:
            raise invalid_argument(
                f"Expects arg[{index}] to be {_type_name(expected)} but {_type_name(sent)} is provided"
            )


def run_predict(servable, request, as_tensor_content=False, max_tensor_bytes=None, release_inputs=False):
    """The PredictResponse of `request` on `servable`, or a ServingError with TF Serving's status.

    `max_tensor_bytes` bounds the declared size of each input tensor (None: no bound).
    `release_inputs` clears `request.inputs` once they are converted, so that a large request is
    held once (as tensors), not three times (proto, numpy, tensors) while its graph runs.
    """
    name, signature = resolve_signature(servable, request)
    response = predict_pb2.PredictResponse()
    response.model_spec.name = request.model_spec.name
    response.model_spec.signature_name = name
    response.model_spec.version.value = servable.version
    _check_input_count(signature, request)
    arrays = _parse_inputs(signature, request, max_tensor_bytes, servable.max_pixels)
    aliases = _output_aliases(signature, request)
    _check_dtypes(signature, arrays)
    try:
        tensors = {alias: tf.constant(array) for alias, (_, array) in arrays.items()}
        arrays.clear()
        if release_inputs:
            request.ClearField("inputs")
        outputs = servable.function(name)(**tensors)
        values = {alias: outputs[alias].numpy() for alias in aliases}
    except Exception as error:
        raise from_exception(error) from error
    for alias in aliases:
        response.outputs[alias].CopyFrom(to_tensor_proto(values[alias], as_tensor_content))
    return response
