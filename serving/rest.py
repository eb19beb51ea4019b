"""TF Serving's REST API over the same ServingCore as the gRPC API (`--rest_api_port`).

    GET  /v1/models/NAME[/versions/V|/labels/L]             GetModelStatus as JSON
    GET  /v1/models/NAME[/versions/V|/labels/L]/metadata    GetModelMetadata as JSON
    POST /v1/models/NAME[/versions/V|/labels/L]:predict     {"signature_name"?, "instances" | "inputs"}

URLs, JSON formats and messages follow `http_rest_api_handler.cc`, `http_rest_api_util.cc` and
`util/json_tensor.cc`: "instances" (row format, a list with one entry per batch row, objects when
the signature has several inputs) answers {"predictions": [...]}; "inputs" (columnar, a value or an
object of values) answers {"outputs": ...}; a string input or output whose name ends in `_bytes`
is written {"b64": "..."}. Every error answers {"error": message} with TF Serving's HTTP code for
its status (`http_server.cc` ToHTTPStatusCode: INVALID_ARGUMENT and FAILED_PRECONDITION 400,
NOT_FOUND 404, RESOURCE_EXHAUSTED 429, DEADLINE_EXCEEDED 504, …). Requests over the server's
message limit, and more than its concurrent-request limit, are refused before the body is read.
"""

import base64
import binascii
import json
import logging
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2, predict_pb2

from serving.errors import ServingError, invalid_argument
from serving.services import SIGNATURE_DEF_FIELD, find_servable

log = logging.getLogger(__name__)

_PREDICT_PATH = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)", re.I
)
_STATUS_PATH = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?", re.I
)
_BYTES_SUFFIX = "_bytes"

HTTP_STATUS = {  # http_server.cc ToHTTPStatusCode
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}


def _model_spec(spec, name, version, label):
    """`FillModelSpecWithNameVersionAndLabel` (the regexes make version and label exclusive)."""
    spec.name = urllib.parse.unquote(name or "")
    if version:
        spec.version.value = int(version)
    if label:
        spec.version_label = urllib.parse.unquote(label)


def _debug(value):
    return json.dumps(value)[:200]


# --- JSON → tensors (json_tensor.cc FillPredictRequestFromJson) ---


def _is_b64(value):
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _string_leaves(value):
    """Nested lists of strings / {"b64": …} → (flat list of bytes, shape)."""
    if isinstance(value, list):
        parts = [_string_leaves(item) for item in value]
        shapes = {shape for _, shape in parts}
        if len(shapes) > 1:
            raise invalid_argument(f"Encountered list at unexpected size in JSON Value: {_debug(value)}")
        inner = shapes.pop() if shapes else ()
        return [leaf for leaves, _ in parts for leaf in leaves], (len(parts), *inner)
    if isinstance(value, str):
        return [value.encode()], ()
    if _is_b64(value):
        try:
            return [base64.b64decode(value["b64"], validate=True)], ()
        except (binascii.Error, ValueError):
            raise invalid_argument("Unable to base64 decode") from None
    if isinstance(value, dict):
        raise invalid_argument(f"JSON Value: {_debug(value)} not formatted correctly for base64 data")
    raise invalid_argument(f"JSON Value: {_debug(value)} is not of expected type: string")


def _strings(value):
    leaves, shape = _string_leaves(value)
    array = np.empty(len(leaves), dtype=object)
    array[:] = leaves
    return array.reshape(shape)


_KINDS = {"i": "iu", "u": "iu", "f": "iuf", "c": "iuf", "b": "b"}


def json_to_array(value, dtype):
    """A JSON value (a scalar or nested lists) as a numpy array of the signature's `dtype`."""
    dtype = tf.as_dtype(dtype)
    if dtype == tf.string:
        return _strings(value)
    try:
        array = np.array(value)
    except ValueError:
        raise invalid_argument(
            f"Encountered list at unexpected size in JSON Value: {_debug(value)}"
        ) from None
    target = np.dtype(dtype.as_numpy_dtype)
    if array.size and array.dtype.kind not in _KINDS.get(target.kind, ""):
        raise invalid_argument(f"JSON Value: {_debug(value)} is not of expected type: {dtype.name}")
    return array.astype(target)


def _input_infos(core, spec, signature_name):
    servable = find_servable(core.models, spec)
    name = signature_name or "serving_default"
    signature = servable.signature_defs.get(name)
    if signature is None:
        raise invalid_argument(f'Serving signature name: "{name}" not found in signature def')
    if not signature.inputs:
        raise invalid_argument(f"Failed to get input map for signature: {signature_name or 'DEFAULT'}")
    return signature.inputs


def _rows(instances, infos):
    """The "instances" list → alias → array, one row per instance (FillTensorMapFromInstancesList)."""
    named = isinstance(instances[0], dict) and not _is_b64(instances[0])
    if not named and len(infos) > 1:
        raise invalid_argument(
            "instances is a plain list, but expecting list of objects as multiple input tensors "
            "required as per tensorinfo_map"
        )
    columns = {alias: [] for alias in infos}
    for index, instance in enumerate(instances):
        if named:
            if not isinstance(instance, dict) or _is_b64(instance):
                raise invalid_argument(f"Expecting object but got list at item {index} of input list")
            if set(instance) != set(infos):
                raise invalid_argument(
                    f"Failed to process element: {index} of 'instances' list. JSON object: "
                    f"{_debug(instance)} keys must be equal to: {','.join(sorted(infos))}"
                )
            items = instance
        else:
            if isinstance(instance, dict) and not _is_b64(instance):
                raise invalid_argument(f"Expecting value/list but got object at item {index} of input list")
            items = {next(iter(infos)): instance}
        for alias, value in items.items():
            row = json_to_array(value, infos[alias].dtype)
            if columns[alias] and row.shape != columns[alias][0].shape:
                raise invalid_argument(
                    f"Failed to process element: {index} of 'instances' list. Error: Expecting shape "
                    f"{list(columns[alias][0].shape)} but got: {list(row.shape)}"
                )
            columns[alias].append(row)
    return {alias: np.stack(rows) for alias, rows in columns.items()}


def _columns(inputs, infos):
    """The "inputs" value → alias → array (FillTensorMapFromInputsMap)."""
    if not isinstance(inputs, dict) or _is_b64(inputs):
        if len(infos) > 1:
            raise invalid_argument(
                "inputs is a plain value/list, but expecting an object as multiple input tensors "
                "required as per tensorinfo_map"
            )
        alias = next(iter(infos))
        return {alias: json_to_array(inputs, infos[alias].dtype)}
    arrays = {}
    for alias, info in infos.items():
        if alias not in inputs:
            raise invalid_argument(f"Missing named input: {alias} in 'inputs' object.")
        arrays[alias] = json_to_array(inputs[alias], info.dtype)
    return arrays


def predict_request_from_json(core, spec, body):
    """(PredictRequest, "row" | "columnar") from a REST predict body."""
    if not body:
        raise invalid_argument("JSON Parse error: The document is empty")
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise invalid_argument(f"JSON Parse error: {error}") from None
    if not isinstance(document, dict):
        raise invalid_argument(f"JSON Value: {_debug(document)} Is not object")
    signature_name = document.get("signature_name", "")
    if not isinstance(signature_name, str):
        raise invalid_argument(
            f"JSON Value: {_debug(document)} not formatted correctly. "
            "'signature_name' key must be a string value."
        )
    request = predict_pb2.PredictRequest()
    request.model_spec.CopyFrom(spec)
    request.model_spec.signature_name = signature_name
    infos = _input_infos(core, request.model_spec, signature_name)
    if "instances" in document and "inputs" in document:
        raise invalid_argument("Not formatted correctly expecting only one of 'inputs' or 'instances' keys")
    if "instances" in document:
        instances = document["instances"]
        if not isinstance(instances, list):
            raise invalid_argument("Expecting 'instances' to be an list/array")
        if not instances:
            raise invalid_argument("No values in 'instances' array")
        arrays, form = _rows(instances, infos), "row"
    elif "inputs" in document:
        arrays, form = _columns(document["inputs"], infos), "columnar"
    else:
        raise invalid_argument("Missing 'inputs' or 'instances' key")
    for alias, array in arrays.items():
        request.inputs[alias].CopyFrom(tf.make_tensor_proto(array, dtype=infos[alias].dtype))
    return request, form


# --- tensors → JSON (MakeJsonFromTensors) ---


def _json_values(array, as_bytes):
    if array.dtype == object or array.dtype.kind == "S":
        flat = [
            {"b64": base64.b64encode(v).decode()} if as_bytes else v.decode("utf-8", "replace")
            for v in array.ravel()
        ]
        return np.array(flat, dtype=object).reshape(array.shape).tolist()
    return array.tolist()


def predict_response_to_json(response, form):
    outputs = {alias: tf.make_ndarray(proto) for alias, proto in sorted(response.outputs.items())}
    if not outputs:
        raise invalid_argument("Cannot convert empty tensor map to JSON")
    values = {alias: _json_values(a, alias.endswith(_BYTES_SUFFIX)) for alias, a in outputs.items()}
    if form == "columnar":
        return {"outputs": values if len(values) > 1 else next(iter(values.values()))}
    batch = None
    for alias, array in outputs.items():
        if array.ndim == 0:
            raise invalid_argument(f"Tensor name: {alias} has no shape information ")
        if batch is not None and array.shape[0] != batch:
            raise invalid_argument(
                f"Tensor name: {alias} has inconsistent batch size: {array.shape[0]} expecting: {batch}"
            )
        batch = array.shape[0]
    if len(values) == 1:
        return {"predictions": next(iter(values.values()))}
    return {"predictions": [{alias: values[alias][row] for alias in values} for row in range(batch)]}


class _HttpCall:
    """What `ServingCore.predict` uses of a gRPC context, for an HTTP request with a timeout."""

    def __init__(self, timeout):
        self._callbacks = []
        self._lock = threading.Lock()
        self.expired = False
        self._timer = threading.Timer(timeout, self._expire) if timeout else None
        if self._timer is not None:
            self._timer.daemon = True
            self._timer.start()

    def add_callback(self, callback):
        with self._lock:
            if self.expired:
                return False
            self._callbacks.append(callback)
            return True

    def is_active(self):
        return not self.expired

    def _expire(self):
        with self._lock:
            self.expired = True
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def finish(self):
        if self._timer is not None:
            self._timer.cancel()


class RestApi:
    """Route one HTTP request to the ServingCore: (HTTP status, JSON document)."""

    def __init__(self, core, timeout_seconds=None):
        self.core = core
        self.timeout_seconds = timeout_seconds

    def handle(self, method, path, body):
        try:
            return 200, self._dispatch(method, path, body)
        except ServingError as error:
            error = self.core.public(error)
            return HTTP_STATUS.get(error.code, 500), {"error": error.message}
        except Exception as error:  # a bug of ours: answer INTERNAL, keep serving
            log.exception("REST request failed")
            error = self.core.public(
                ServingError(grpc.StatusCode.INTERNAL, f"{type(error).__name__}: {error}")
            )
            return 500, {"error": error.message}

    def _dispatch(self, method, path, body):
        path = urllib.parse.urlsplit(path).path
        if method == "POST":
            match = _PREDICT_PATH.fullmatch(path)
            if match:
                name, version, label, verb = match.groups()
                if verb.lower() != "predict":
                    raise ServingError(grpc.StatusCode.UNIMPLEMENTED, f"{verb} is not implemented")
                return self._predict(name, version, label, body)
        elif method == "GET":
            match = _STATUS_PATH.fullmatch(path)
            if match:
                name, version, label, metadata = match.groups()
                if not name:
                    raise invalid_argument("Missing model name in request.")
                if metadata:
                    return self._metadata(name, version, label)
                return self._status(name, version, label)
        raise invalid_argument(f"Malformed request: {method} {path}")

    def _predict(self, name, version, label, body):
        spec = predict_pb2.PredictRequest().model_spec
        _model_spec(spec, name, version, label)
        request, form = predict_request_from_json(self.core, spec, body)
        call = _HttpCall(self.timeout_seconds)
        try:
            response = self.core.predict(request, call)
        except ServingError as error:
            if call.expired:
                raise ServingError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded") from error
            raise
        finally:
            call.finish()
        return predict_response_to_json(response, form)

    def _status(self, name, version, label):
        request = get_model_status_pb2.GetModelStatusRequest()
        _model_spec(request.model_spec, name, version, label)
        response = self.core.status(request)
        return json_format.MessageToDict(response, always_print_fields_with_no_presence=True)

    def _metadata(self, name, version, label):
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=[SIGNATURE_DEF_FIELD])
        _model_spec(request.model_spec, name, version, label)
        response = self.core.metadata(request)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata[SIGNATURE_DEF_FIELD].Unpack(signature_map)
        options = {"always_print_fields_with_no_presence": True, "preserving_proto_field_name": True}
        return {
            "model_spec": json_format.MessageToDict(response.model_spec, **options),
            "metadata": {SIGNATURE_DEF_FIELD: json_format.MessageToDict(signature_map, **options)},
        }


class RestApiServer:
    """A threaded HTTP server for `RestApi` on `host:port` (0: any free port)."""

    def __init__(
        self, core, host, port, max_body_bytes=None, max_concurrent_requests=None, timeout_seconds=30.0
    ):
        api = RestApi(core, timeout_seconds)
        slots = threading.BoundedSemaphore(max_concurrent_requests) if max_concurrent_requests else None

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _reply(self, status, document):
                data = json.dumps(document, indent=1).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _serve(self, method):
                length = int(self.headers.get("Content-Length") or 0)
                if max_body_bytes is not None and length > max_body_bytes:
                    self.close_connection = True
                    for _ in range(0, length, 1 << 16):  # discard it (memory stays bounded), then answer
                        if not self.rfile.read(1 << 16):
                            break
                    message = f"Request body of {length} bytes is larger than the limit of {max_body_bytes}"
                    return self._reply(429, {"error": message})
                if slots is not None and not slots.acquire(blocking=False):
                    self.close_connection = True
                    return self._reply(429, {"error": "Concurrent RPC limit exceeded!"})
                try:
                    body = self.rfile.read(length) if length else b""
                    answer = api.handle(method, self.path, body)
                finally:  # before the reply: a client's next request never finds its own slot taken
                    if slots is not None:
                        slots.release()
                self._reply(*answer)

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

            def log_message(self, format, *args):
                log.debug("REST %s", format % args)

        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = None

    def start(self):
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="rest-api", daemon=True)
        self._thread.start()

    def stop(self):
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
        self._httpd.server_close()
