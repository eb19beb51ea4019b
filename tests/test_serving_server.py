"""Export → local server on 127.0.0.1 → HashingClient over real gRPC, against `dmrh_tf.encode`.

Also: TF Serving's status code and message for every error path (the server keeps answering),
a bounded concurrent load test, version hot-swap, health service, and SIGTERM in a subprocess.
"""

import base64
import functools
import http.client
import io
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from grpc_health.v1 import health_pb2, health_pb2_grpc
from serving_support import (
    BITS,
    MODEL_NAME,
    assert_codes_vary,
    make_run_dir,
    png,
    png_of_zeros,
    smooth_images,
)
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

import dmrh_tf
from dmrh_tf.index import model_fingerprint
from serving import client as client_module
from serving import server as server_module
from serving.client import HashingClient, to_hex
from serving.errors import ServingError
from serving.export import export_run
from serving.image_limits import DEFAULT_MAX_PIXELS
from serving.predict import run_predict
from serving.retry import backoff_delays, call_with_retries
from serving.server import ModelServer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OK = grpc.StatusCode.OK


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(model, server, client, model_dir): version 1 of a fake run served on 127.0.0.1."""
    root = tmp_path_factory.mktemp("served")
    model = make_run_dir(str(root / "run"))
    export_run(str(root / "run"), str(root / "models"), MODEL_NAME)
    model_dir = str(root / "models" / MODEL_NAME)
    server = ModelServer(
        MODEL_NAME, model_dir, port=0, host="127.0.0.1", poll_wait_seconds=0.2, rest_api_port=0
    )
    assert server.start(timeout=120)
    client = HashingClient(server.address, MODEL_NAME, timeout=60)
    yield model, server, client, model_dir
    client.close()
    server.stop(grace=1)


@pytest.fixture(scope="module")
def stubs(served):
    channel = grpc.insecure_channel(served[1].address)
    yield (
        prediction_service_pb2_grpc.PredictionServiceStub(channel),
        model_service_pb2_grpc.ModelServiceStub(channel),
        health_pb2_grpc.HealthStub(channel),
    )
    channel.close()


def predict_request(signature="", name=MODEL_NAME, **inputs):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.model_spec.signature_name = signature
    for alias, value in inputs.items():
        request.inputs[alias].CopyFrom(tf.make_tensor_proto(value))
    return request


# --- codes over gRPC equal the in-process model's ---


def test_arrays_chunked_and_concurrent_match_encode(served):
    model, server, _, _ = served
    images = smooth_images(5, 64, 48, seed=1)
    expected = dmrh_tf.encode(model, images)
    assert_codes_vary(expected)
    with HashingClient(server.address, MODEL_NAME, batch_size=2, concurrency=2) as chunked:
        result = chunked.hash_images(images, output=("codes", "packed", "h"))
    np.testing.assert_array_equal(result["codes"], expected)
    np.testing.assert_array_equal(result["packed"], np.packbits(expected > 0, axis=1))
    h = model(dmrh_tf.data.preprocessing.resize_images(images, 224), training=False)["h"].numpy()
    np.testing.assert_allclose(result["h"], h, rtol=1e-4, atol=1e-5)


def test_mixed_sizes_and_grey_images(served):
    model, _, client, _ = served
    a, b = smooth_images(2, 100, 60, seed=2), smooth_images(1, 224, 224, seed=3)
    grey = smooth_images(1, 50, 50, seed=4)[0, :, :, 0]
    codes = client.hash_images([a[0], b[0], a[1], grey])
    expected_a, expected_b = dmrh_tf.encode(model, a), dmrh_tf.encode(model, b)
    np.testing.assert_array_equal(codes[[0, 2]], expected_a)
    np.testing.assert_array_equal(codes[1], expected_b[0])
    np.testing.assert_array_equal(codes[3], dmrh_tf.encode(model, grey[None, :, :, None])[0])
    assert client.hash_images(np.zeros((0, 10, 10, 3), np.uint8)).shape == (0, BITS)
    with pytest.raises(TypeError, match="uint8"):
        client.hash_images(np.zeros((1, 10, 10, 3), np.float32))


def test_png_bytes_and_files_match_encode_exactly(served, tmp_path):
    model, _, client, _ = served
    images = smooth_images(4, 72, 96, seed=5)
    expected = dmrh_tf.encode(model, images)
    np.testing.assert_array_equal(client.hash_bytes([png(image) for image in images]), expected)
    paths = []
    for i, image in enumerate(images):
        paths.append(str(tmp_path / f"{i}.png"))
        with open(paths[-1], "wb") as f:
            f.write(png(image))
    np.testing.assert_array_equal(
        client.hash_files(paths, output="packed"), np.packbits(expected > 0, axis=1)
    )


def test_messages_over_4_mib(served):
    model, _, client, _ = served
    images = smooth_images(2, 1100, 1100, seed=6)  # 7.3 MB request
    assert images.nbytes > 4 << 20
    np.testing.assert_array_equal(client.hash_images(images), dmrh_tf.encode(model, images))


# --- TF Serving's response format ---


def test_response_echoes_model_spec_and_uses_typed_fields(served, stubs):
    image = smooth_images(1, 32, 32)
    response = stubs[0].Predict(predict_request(images=image), timeout=60)
    spec = response.model_spec
    assert (spec.name, spec.signature_name, spec.version.value) == (MODEL_NAME, "serving_default", 1)
    assert set(response.outputs) == {"codes", "packed", "h"}
    assert len(response.outputs["codes"].int_val) == BITS and not response.outputs["codes"].tensor_content
    assert len(response.outputs["h"].float_val) == BITS
    filtered = predict_request(images=image)
    filtered.output_filter.append("packed")
    response = stubs[0].Predict(filtered, timeout=60)
    assert set(response.outputs) == {"packed"}
    assert tf.make_ndarray(response.outputs["packed"]).dtype == np.uint8


def test_tensor_content_serialisation_parses_the_same(served):
    servable = served[1].manager.servable()
    request = predict_request(images=smooth_images(2, 40, 40))
    typed = run_predict(servable, request)
    packed = run_predict(servable, request, as_tensor_content=True)
    assert packed.outputs["codes"].tensor_content and not packed.outputs["codes"].int_val
    for alias in ("codes", "packed", "h"):
        np.testing.assert_array_equal(
            tf.make_ndarray(typed.outputs[alias]), tf.make_ndarray(packed.outputs[alias])
        )


def test_metadata_status_and_health(served, stubs):
    _, _, client, _ = served
    metadata = client.metadata()
    assert (metadata["name"], metadata["version"]) == (MODEL_NAME, 1)
    assert set(metadata["signatures"]) == {"serving_default", "hash_bytes", "metadata"}
    assert metadata["signatures"]["serving_default"]["inputs"] == {
        "images": {"dtype": "uint8", "shape": [-1, -1, -1, 3]}
    }
    assert metadata["signatures"]["hash_bytes"]["outputs"]["packed"] == {"dtype": "uint8", "shape": [-1, 2]}
    info = client.export_info()
    assert (info["bits"], info["regions"], info["input_side"], info["version"]) == (BITS, 1, 224, 1)
    assert info["config"]["bits"] == BITS
    assert info["weights_sha256"] == model_fingerprint(served[0])["weights_sha256"]
    assert info["max_pixels"] == DEFAULT_MAX_PIXELS and "run_dir" not in info["config"]
    assert client.code_length() == BITS
    assert client.status() == [{"version": 1, "state": "AVAILABLE", "error_code": 0, "error_message": ""}]
    assert client.wait_until_available(timeout=5)
    for service in ("", "ModelService", "PredictionService"):
        reply = stubs[2].Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


# --- every error path: TF Serving's code and message, and the server keeps serving ---


def _error_cases():
    image = smooth_images(1, 16, 16)
    cases = []

    def case(label, rpc, request, code, message):
        cases.append((label, rpc, request, code, message))

    case(
        "empty name",
        "Predict",
        predict_request(name="", images=image),
        "INVALID_ARGUMENT",
        "ModelSpec has no name specified.",
    )
    case(
        "unknown model",
        "Predict",
        predict_request(name="nope", images=image),
        "NOT_FOUND",
        "Servable not found for request: Latest(nope)",
    )
    request = predict_request(images=image)
    request.model_spec.version.value = 99
    case(
        "unknown version",
        "Predict",
        request,
        "NOT_FOUND",
        "Servable not found for request: Specific(dmrh, 99)",
    )
    request = predict_request(images=image)
    request.model_spec.version_label = "stable"
    case(
        "version label", "Predict", request, "INVALID_ARGUMENT", "Unrecognized servable version label: stable"
    )
    request = predict_request(images=image)
    request.ClearField("model_spec")
    case("no model spec", "Predict", request, "INVALID_ARGUMENT", "Missing ModelSpec")
    case(
        "unknown signature",
        "Predict",
        predict_request("nope", images=image),
        "FAILED_PRECONDITION",
        'Serving signature key "nope" not found.',
    )
    case(
        "missing input",
        "Predict",
        predict_request(),
        "INVALID_ARGUMENT",
        "input size does not match signature: 0!=1 len({}) != len({images}). Sent extra: {}. "
        "Missing but required: {images}.",
    )
    case(
        "extra input",
        "Predict",
        predict_request(images=image, foo=image),
        "INVALID_ARGUMENT",
        "input size does not match signature: 2!=1 len({foo,images}) != len({images}). Sent extra: {foo}. "
        "Missing but required: {}.",
    )
    case(
        "misnamed input",
        "Predict",
        predict_request(image=image),
        "INVALID_ARGUMENT",
        "Signature input alias: images(feed name: serving_default_images:0) not found",
    )
    case(
        "float pixels",
        "Predict",
        predict_request(images=image.astype(np.float32)),
        "INVALID_ARGUMENT",
        "Expects arg[0] to be uint8 but float is provided",
    )
    case(
        "bytes to images",
        "Predict",
        predict_request(images=[b"x"]),
        "INVALID_ARGUMENT",
        "Expects arg[0] to be uint8 but string is provided",
    )
    request = predict_request()
    request.inputs["images"].dtype = tf.uint8.as_datatype_enum
    request.inputs["images"].tensor_shape.CopyFrom(tf.TensorShape([1, 2, 2, 3]).as_proto())
    request.inputs["images"].tensor_content = b"12345"
    case("malformed tensor", "Predict", request, "INVALID_ARGUMENT", "tensor parsing error: images")
    case(
        "undecodable bytes",
        "Predict",
        predict_request("hash_bytes", image_bytes=[b"not an image"]),
        "INVALID_ARGUMENT",
        "assertion failed: [Unknown or unsupported image file format: hash_bytes accepts JPEG, PNG, GIF",
    )
    case(
        "rank 3 images",
        "Predict",
        predict_request(images=image[0]),
        "INVALID_ARGUMENT",
        "Specified a list with shape [?,?,3] from a tensor with shape [16,3]",
    )
    request = predict_request(images=image)
    request.output_filter.append("nope")
    case(
        "unknown output",
        "Predict",
        request,
        "INVALID_ARGUMENT",
        "output tensor alias not found in signature: nope Outputs expected to be in the set "
        "{codes,h,packed}.",
    )
    request = predict_request(images=image)
    request.output_filter.extend(["codes", "codes"])
    case("duplicate output", "Predict", request, "INVALID_ARGUMENT", "duplicate output tensor alias: codes")

    def metadata(name=MODEL_NAME, fields=("signature_def",), spec=True):
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=list(fields))
        if spec:
            request.model_spec.name = name
        return request

    case(
        "metadata field",
        "GetModelMetadata",
        metadata(fields=["signature_def", "foo"]),
        "INVALID_ARGUMENT",
        "Metadata field foo is not supported",
    )
    case(
        "no metadata field",
        "GetModelMetadata",
        metadata(fields=[]),
        "INVALID_ARGUMENT",
        "GetModelMetadataRequest must specify at least one metadata_field",
    )
    case(
        "metadata no spec", "GetModelMetadata", metadata(spec=False), "INVALID_ARGUMENT", "Missing ModelSpec"
    )
    case(
        "metadata empty name",
        "GetModelMetadata",
        metadata(name=""),
        "INVALID_ARGUMENT",
        "ModelSpec has no name specified.",
    )
    case(
        "metadata unknown model",
        "GetModelMetadata",
        metadata(name="nope"),
        "NOT_FOUND",
        "Servable not found for request: Latest(nope)",
    )
    status = get_model_status_pb2.GetModelStatusRequest()
    status.model_spec.name = "nope"
    case(
        "status unknown model",
        "GetModelStatus",
        status,
        "NOT_FOUND",
        "Could not find any versions of model nope",
    )
    status = get_model_status_pb2.GetModelStatusRequest()
    status.model_spec.name = MODEL_NAME
    status.model_spec.version.value = 99
    case(
        "status unknown version",
        "GetModelStatus",
        status,
        "NOT_FOUND",
        "Could not find version 99 of model dmrh",
    )
    case(
        "status no spec",
        "GetModelStatus",
        get_model_status_pb2.GetModelStatusRequest(),
        "INVALID_ARGUMENT",
        "Missing ModelSpec",
    )
    return cases


def test_every_error_path_answers_tf_serving_status_and_server_keeps_serving(served, stubs):
    model, _, client, _ = served
    prediction, model_service, _ = stubs
    image = smooth_images(1, 16, 16)
    expected = dmrh_tf.encode(model, image)
    for label, rpc, request, code, message in _error_cases():
        call = getattr(model_service if rpc == "GetModelStatus" else prediction, rpc)
        with pytest.raises(grpc.RpcError) as raised:  # grpcio frees a slot just after its answer
            call_with_retries(functools.partial(call, request, timeout=60), max_backoff=0.05)
        assert raised.value.code().name == code, (label, raised.value.code(), raised.value.details())
        assert raised.value.details().startswith(message), (label, raised.value.details())
        np.testing.assert_array_equal(client.hash_images(image), expected, err_msg=label)


def test_concurrent_load_loses_no_request(served):
    """4 clients × 6 rounds (a good request of 2 images, then a bad one): all 24 good answers exact."""
    model, server, _, _ = served
    images = smooth_images(8, 40, 56, seed=7)
    expected = dmrh_tf.encode(model, images)
    results, errors = [], []

    def worker(index):
        with HashingClient(server.address, MODEL_NAME, timeout=120) as client:
            pair = images[2 * (index % 4) : 2 * (index % 4) + 2]
            for _ in range(6):
                try:
                    results.append((index, client.hash_images(pair)))
                except grpc.RpcError as error:
                    errors.append(error)
                try:
                    client.predict("nope", {"images": pair})
                except grpc.RpcError as error:
                    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == [] and len(results) == 24
    for index, codes in results:
        np.testing.assert_array_equal(codes, expected[2 * (index % 4) : 2 * (index % 4) + 2])


# --- client behaviour: retries, deadlines, CLI ---


class _FakeRpcError(grpc.RpcError):
    def __init__(self, code):
        self._code = code

    def code(self):
        return self._code

    def details(self):
        return self._code.name


def test_retries_only_unavailable_with_exponential_backoff():
    assert backoff_delays(5, initial=0.1, maximum=0.5) == [0.1, 0.2, 0.4, 0.5, 0.5]
    outcomes = [_FakeRpcError(grpc.StatusCode.UNAVAILABLE)] * 2 + ["answer"]
    sleeps = []

    def flaky():
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert call_with_retries(flaky, retries=4, initial_backoff=0.1, sleep=sleeps.append) == "answer"
    assert sleeps == [0.1, 0.2]
    for code in (
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.NOT_FOUND,
    ):
        calls = []

        def failing(code=code, calls=calls):
            calls.append(1)
            raise _FakeRpcError(code)

        with pytest.raises(grpc.RpcError):
            call_with_retries(failing, retries=4, sleep=sleeps.append)
        assert len(calls) == 1
    calls = []

    def down():
        calls.append(1)
        raise _FakeRpcError(grpc.StatusCode.UNAVAILABLE)

    with pytest.raises(grpc.RpcError):
        call_with_retries(down, retries=3, sleep=lambda s: None)
    assert len(calls) == 4


def test_unreachable_server_is_unavailable_after_retries():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = HashingClient(f"127.0.0.1:{port}", retries=2, initial_backoff=0.01, timeout=5)
    with client, pytest.raises(grpc.RpcError) as raised:
        client.hash_images(smooth_images(1, 8, 8))
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE


def test_the_concurrency_limit_is_retried_but_other_resource_exhausted_are_not():
    class ExhaustedError(_FakeRpcError):
        def __init__(self, details):
            super().__init__(grpc.StatusCode.RESOURCE_EXHAUSTED)
            self._details = details

        def details(self):
            return self._details

    outcomes = [ExhaustedError("Concurrent RPC limit exceeded!"), "answer"]
    assert call_with_retries(lambda: _pop(outcomes), sleep=lambda s: None) == "answer"
    too_large = [ExhaustedError("Received message larger than max (5 vs. 4)"), "answer"]
    with pytest.raises(grpc.RpcError):
        call_with_retries(lambda: _pop(too_large), sleep=lambda s: None)


def _pop(outcomes):
    outcome = outcomes.pop(0)
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def test_deadline_exceeded_is_not_retried(served):
    with HashingClient(served[1].address, MODEL_NAME, timeout=0.001, retries=3) as client:
        calls = []
        predict = client.prediction.Predict

        def counted(request, timeout):
            calls.append(timeout)
            return predict(request, timeout=timeout)

        client.prediction = type("Stub", (), {"Predict": staticmethod(counted)})()
        with pytest.raises(grpc.RpcError) as raised:
            client.hash_images(smooth_images(8, 300, 300))
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert calls == [0.001]


def test_client_cli_prints_hex_codes_and_json(served, tmp_path):
    model, server, _, _ = served
    images = smooth_images(3, 50, 70, seed=8)
    paths = []
    for i, image in enumerate(images):
        paths.append(str(tmp_path / f"img{i}.png"))
        with open(paths[-1], "wb") as f:
            f.write(png(image))
    hexes = to_hex(np.packbits(dmrh_tf.encode(model, images) > 0, axis=1))
    out = io.StringIO()
    assert client_module.main(["--target", server.address, "--model-name", MODEL_NAME, *paths], out=out) == 0
    assert out.getvalue().splitlines() == [f"{h}  {p}" for h, p in zip(hexes, paths)]
    out = io.StringIO()
    assert (
        client_module.main(
            ["--target", server.address, "--model-name", MODEL_NAME, "--json", paths[0]], out=out
        )
        == 0
    )
    assert json.loads(out.getvalue()) == [{"image": paths[0], "code": hexes[0], "bits": BITS}]
    out = io.StringIO()
    assert (
        client_module.main(["--target", server.address, "--model-name", MODEL_NAME, "--status"], out=out) == 0
    )
    assert json.loads(out.getvalue())[0]["state"] == "AVAILABLE"
    out = io.StringIO()
    assert (
        client_module.main(["--target", server.address, "--model-name", MODEL_NAME, "--metadata"], out=out)
        == 0
    )
    assert json.loads(out.getvalue())["bits"] == BITS
    assert (
        client_module.main(["--target", server.address, "--model-name", "nope", paths[0]], out=io.StringIO())
        == 1
    )


# --- versions while running ---


def _wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_new_versions_are_picked_up_and_broken_ones_reported(served, tmp_path):
    _, _, _, model_dir = served
    base = tmp_path / MODEL_NAME
    shutil.copytree(os.path.join(model_dir, "1"), base / "1")
    with ModelServer(MODEL_NAME, str(base), port=0, poll_wait_seconds=0.1, max_num_load_retries=0) as server:
        client = HashingClient(server.address, MODEL_NAME)
        image = smooth_images(1, 30, 30)
        codes_v1 = client.hash_images(image)
        assert client.predict("", {"images": image})[1].version.value == 1
        shutil.copytree(base / "1", base / ".staging")  # the way export writes: then an atomic rename
        os.rename(base / ".staging", base / "2")
        assert _wait_for(
            lambda: (
                client.status()[0]
                == {"version": 2, "state": "AVAILABLE", "error_code": 0, "error_message": ""}
            )
        )
        assert [(s["version"], s["state"]) for s in client.status()] == [(2, "AVAILABLE"), (1, "END")]
        assert client.predict("", {"images": image})[1].version.value == 2
        np.testing.assert_array_equal(client.hash_images(image), codes_v1)
        with pytest.raises(grpc.RpcError) as raised:
            HashingClient(server.address, MODEL_NAME, version=1).hash_images(image)
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND
        os.makedirs(base / "3")  # not a SavedModel: fails to load, version 2 keeps serving
        assert _wait_for(lambda: client.status()[0]["version"] == 3 and client.status()[0]["state"] == "END")
        broken = client.status()[0]
        assert broken["error_code"] != 0 and broken["error_message"]
        assert str(tmp_path) not in broken["error_message"]  # no server path reaches a client
        assert "<server path>" in broken["error_message"]
        assert client.predict("", {"images": image})[1].version.value == 2
        client.close()


def test_server_waits_for_a_first_version_and_fails_if_it_cannot_load(tmp_path):
    waiting = ModelServer(MODEL_NAME, str(tmp_path / "empty"), port=0)
    assert not waiting.start(timeout=0.3)  # no version yet: the port stays closed
    waiting.stop(grace=0)
    os.makedirs(tmp_path / "broken" / "1")
    broken = ModelServer(MODEL_NAME, str(tmp_path / "broken"), port=0, max_num_load_retries=0)
    with pytest.raises(RuntimeError, match="loading dmrh failed"):
        broken.start(timeout=5)
    broken.stop(grace=0)


# --- the CLI server process ---


def test_server_process_serves_and_stops_cleanly_on_sigterm(served):
    model, _, _, model_dir = served
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [
        sys.executable,
        "-m",
        "serving.server",
        "--model_name",
        MODEL_NAME,
        "--model_base_path",
        model_dir,
    ]
    process = subprocess.Popen(
        [*command, "--port", "0", "--host", "127.0.0.1"], cwd=REPO, env=env, stderr=subprocess.PIPE, text=True
    )
    lines = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in process.stderr], daemon=True)
    reader.start()
    try:
        address, deadline = None, time.monotonic() + 180
        while address is None and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                assert process.poll() is None, "server exited early"
                continue
            match = re.search(r"Running gRPC ModelServer at (\S+) \.\.\.", line)
            address = match and match.group(1)
        assert address, "server did not start"
        image = smooth_images(2, 60, 60, seed=9)
        with HashingClient(address, MODEL_NAME) as client:
            np.testing.assert_array_equal(client.hash_images(image), dmrh_tf.encode(model, image))
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    reader.join(timeout=10)
    logged = []
    while not lines.empty():
        logged.append(lines.get())
    assert any("Server stopped" in line for line in logged), logged[-5:]


# --- hostile requests: bounded memory and work (issue 15, items 1-3) ---


def _hollow(shape, dtype=tf.uint8):
    """A TensorProto declaring `shape` with no values (TensorFlow would fill it with zeros)."""
    proto = tf.make_tensor_proto(np.zeros([0], dtype.as_numpy_dtype))
    proto.tensor_shape.CopyFrom(tf.TensorShape(shape).as_proto())
    proto.dtype = dtype.as_datatype_enum
    return proto


def _predict_hollow(stub, signature, alias, proto):
    request = predict_request(signature)
    request.inputs[alias].CopyFrom(proto)
    with pytest.raises(grpc.RpcError) as raised:
        stub.Predict(request, timeout=60)
    return raised.value


def test_hollow_tensors_are_refused_before_any_allocation(served, stubs):
    """A 61-byte TensorProto declaring uint8 [1, 20000, 20000, 3] (1.2 GB once converted), and its
    smaller cousins, are refused from their declared shape; the next request is answered normally."""
    model, _, client, _ = served
    over_limit = f"is over the limit of {DEFAULT_MAX_PIXELS} pixels (max_pixels, set at export)]"
    for shape in ([1, 5000, 4000, 3], [1, 20000, 20000, 3]):
        proto = _hollow(shape)
        assert len(proto.SerializeToString()) < 64
        error = _predict_hollow(stubs[0], "", "images", proto)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error.details() == f"assertion failed: [image of {shape[1]} x {shape[2]} pixels {over_limit}"
    error = _predict_hollow(stubs[0], "", "images", _hollow([20000, 100, 100, 3]))  # 600 MB of small images
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith("tensor parsing error: images declares shape [20000, 100, 100, 3]")
    error = _predict_hollow(stubs[0], "hash_bytes", "image_bytes", _hollow([10**8], tf.string))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith("tensor parsing error: image_bytes declares shape [100000000]")
    image = smooth_images(1, 30, 30)
    np.testing.assert_array_equal(client.hash_images(image), dmrh_tf.encode(model, image))


@pytest.fixture(scope="module")
def limited(served):
    """A second server on the same versions with small bounds: 1 MiB messages, 1 request at a time."""
    server = ModelServer(
        MODEL_NAME,
        served[3],
        port=0,
        warmup=False,
        max_message_bytes=1 << 20,
        max_concurrent_requests=1,
        rest_api_port=0,
    )
    assert server.start(timeout=120)
    yield server
    server.stop(grace=1)


def test_messages_over_the_limit_are_refused(served, limited):
    model = served[0]
    with HashingClient(limited.address, MODEL_NAME) as client:  # retries the 1 slot, never the size
        with pytest.raises(grpc.RpcError) as raised:
            client.hash_images(smooth_images(1, 700, 700))  # 1.5 MB
        assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "larger than max" in raised.value.details(), raised.value.details()
        image = smooth_images(1, 100, 100)
        np.testing.assert_array_equal(client.hash_images(image), dmrh_tf.encode(model, image))
    status, body = _http(limited, "POST", "/v1/models/dmrh:predict", b"x" * (2 << 20))
    assert status == 429 and "larger than the limit" in body["error"]


class _Gate:
    """Holds every Predict in `run_predict` until opened (a request that is surely in flight)."""

    def __init__(self, monkeypatch):
        import serving.services

        self.entered, self.opened, self.outcomes = threading.Event(), threading.Event(), []
        run = serving.services.run_predict

        def gated(*args, **kwargs):
            self.entered.set()
            assert self.opened.wait(120)
            return run(*args, **kwargs)

        monkeypatch.setattr(serving.services, "run_predict", gated)


def test_requests_beyond_the_concurrency_limit_get_resource_exhausted(served, limited, monkeypatch):
    model = served[0]
    gate = _Gate(monkeypatch)
    image = smooth_images(1, 40, 40)
    answers = []
    with (
        HashingClient(limited.address, MODEL_NAME, retries=0) as first,
        HashingClient(limited.address, MODEL_NAME, retries=0) as second,
    ):
        blocked = threading.Thread(target=lambda: answers.append(first.hash_images(image)))
        blocked.start()
        assert gate.entered.wait(60)
        with pytest.raises(grpc.RpcError) as raised:
            second.predict("", {"images": image})
        assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert raised.value.details() == "Concurrent RPC limit exceeded!"
        gate.opened.set()
        blocked.join(60)
        np.testing.assert_array_equal(answers[0], dmrh_tf.encode(model, image))
    with HashingClient(limited.address, MODEL_NAME) as third:  # the slot frees just after the answer
        np.testing.assert_array_equal(third.hash_images(image), answers[0])


def test_rest_requests_beyond_the_concurrency_limit_get_429(limited, monkeypatch):
    gate = _Gate(monkeypatch)
    body = json.dumps({"instances": smooth_images(1, 8, 8).tolist()}).encode()
    replies = []
    blocked = threading.Thread(target=lambda: replies.append(_http(limited, "POST", PREDICT, body)))
    blocked.start()
    assert gate.entered.wait(60)
    assert _http(limited, "POST", PREDICT, body) == (429, {"error": "Concurrent RPC limit exceeded!"})
    gate.opened.set()
    blocked.join(60)
    assert replies[0][0] == 200


def test_work_stops_when_the_deadline_passes(served, monkeypatch):
    """A request of 40 large PNGs (seconds of decoding) with a 0.5 s deadline: inside the server the
    request ends CANCELLED (its graph cancelled, or never started if it was still queued) instead of
    running to the end."""
    core = served[1].core
    outcomes, done = [], threading.Event()
    predict = core.predict

    def recorded(*args, **kwargs):
        try:
            return predict(*args, **kwargs)
        except ServingError as error:
            outcomes.append(error.code)
            raise
        finally:
            done.set()

    monkeypatch.setattr(core, "predict", recorded)
    heavy = [png(smooth_images(1, 1500, 1500, seed=11)[0])] * 40
    client = HashingClient(served[1].address, MODEL_NAME, timeout=0.5, retries=0)
    with client, pytest.raises(grpc.RpcError) as raised:
        client.hash_bytes(heavy)
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert done.wait(120)
    assert outcomes == [grpc.StatusCode.CANCELLED]
    image = smooth_images(1, 30, 30)
    np.testing.assert_array_equal(served[2].hash_images(image), dmrh_tf.encode(served[0], image))


def test_a_second_server_on_a_busy_port_fails_to_start(served):
    port = int(served[1].address.rsplit(":", 1)[1])
    with pytest.raises(OSError, match="could not bind"):
        ModelServer(MODEL_NAME, served[3], port=port)
    with pytest.raises(OSError):
        ModelServer(MODEL_NAME, served[3], port=0, rest_api_port=served[1].rest.port)
    assert (
        server_module.main(["--model_name", MODEL_NAME, "--model_base_path", served[3], "--port", str(port)])
        == 1
    )


# --- the REST API (TF Serving's URLs, JSON and error contract) over a plain HTTP client ---

PREDICT = f"/v1/models/{MODEL_NAME}:predict"


def _http(server, method, path, body=None):
    """(HTTP status, parsed JSON) of a request to `server`'s REST API, with http.client only."""
    connection = http.client.HTTPConnection("127.0.0.1", server.rest.port, timeout=120)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        assert response.getheader("Content-Type") == "application/json"
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def _post(server, path, document):
    return _http(server, "POST", path, json.dumps(document).encode())


def test_rest_status_and_metadata(served):
    server = served[1]
    available = {
        "model_version_status": [
            {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
        ]
    }
    assert _http(server, "GET", "/v1/models/dmrh") == (200, available)
    assert _http(server, "GET", "/v1/models/dmrh/versions/1") == (200, available)
    assert _http(server, "GET", "/v1/models/dmrh/labels/stable") == (200, available)  # labels ignored
    status, metadata = _http(server, "GET", "/v1/models/dmrh/metadata")
    assert status == 200
    assert metadata["model_spec"] == {"name": "dmrh", "signature_name": "", "version": "1"}
    signatures = metadata["metadata"]["signature_def"]["signature_def"]
    assert set(signatures) >= {"serving_default", "hash_bytes", "metadata"}
    assert signatures["hash_bytes"]["inputs"]["image_bytes"]["dtype"] == "DT_STRING"
    assert signatures["serving_default"]["method_name"] == "tensorflow/serving/predict"


def test_rest_predict_rows_columns_and_b64_match_encode(served):
    model, server = served[0], served[1]
    images = smooth_images(3, 24, 32, seed=12)
    expected = dmrh_tf.encode(model, images)
    assert_codes_vary(expected)
    status, rows = _post(server, PREDICT, {"instances": images.tolist()})
    assert status == 200 and len(rows["predictions"]) == 3
    np.testing.assert_array_equal([row["codes"] for row in rows["predictions"]], expected)
    np.testing.assert_array_equal(
        [row["packed"] for row in rows["predictions"]], np.packbits(expected > 0, axis=1)
    )
    status, columns = _post(
        server, "/v1/models/dmrh/versions/1:predict", {"inputs": {"images": images.tolist()}}
    )
    assert status == 200
    np.testing.assert_array_equal(columns["outputs"]["codes"], expected)
    np.testing.assert_allclose(
        columns["outputs"]["h"], [row["h"] for row in rows["predictions"]], rtol=1e-6, atol=1e-6
    )
    encoded = [{"b64": base64.b64encode(png(image)).decode()} for image in images]
    status, answer = _post(server, PREDICT, {"signature_name": "hash_bytes", "instances": encoded})
    assert status == 200
    np.testing.assert_array_equal([row["codes"] for row in answer["predictions"]], expected)
    status, answer = _post(server, PREDICT, {"signature_name": "hash_bytes", "inputs": encoded[:1]})
    np.testing.assert_array_equal(answer["outputs"]["codes"], expected[:1])
    status, answer = _post(server, PREDICT, {"signature_name": "metadata", "instances": [0]})
    assert status == 200 and answer["predictions"][0]["bits"] == BITS
    assert answer["predictions"][0]["max_pixels"] == DEFAULT_MAX_PIXELS


def test_rest_errors_follow_tf_serving(served):
    server = served[1]
    image = smooth_images(1, 8, 8).tolist()
    bomb = {"b64": base64.b64encode(png_of_zeros(5000, 4000)).decode()}
    cases = [
        ("GET", "/v1/models/nope", None, 404, "Could not find any versions of model nope"),
        ("GET", "/v1/models/dmrh/versions/9", None, 404, "Could not find version 9 of model dmrh"),
        ("GET", "/v1/models", None, 400, "Missing model name in request."),
        (
            "POST",
            "/v1/models/dmrh/labels/stable:predict",
            {"instances": image},
            400,
            "Unrecognized servable version label: stable",
        ),
        (
            "POST",
            "/v1/models/nope:predict",
            {"instances": image},
            404,
            "Servable not found for request: Latest(nope)",
        ),
        (
            "POST",
            "/v1/models/dmrh/versions/9:predict",
            {"instances": image},
            404,
            "Servable not found for request: Specific(dmrh, 9)",
        ),
        ("POST", PREDICT, b"{not json", 400, "JSON Parse error"),
        ("POST", PREDICT, b"", 400, "JSON Parse error: The document is empty"),
        (
            "POST",
            PREDICT,
            {"signature_name": "nope", "instances": image},
            400,
            'Serving signature name: "nope" not found in signature def',
        ),
        (
            "POST",
            PREDICT,
            {"instances": image, "inputs": image},
            400,
            "Not formatted correctly expecting only one of 'inputs' or 'instances' keys",
        ),
        ("POST", PREDICT, {"images": image}, 400, "Missing 'inputs' or 'instances' key"),
        ("POST", PREDICT, {"instances": []}, 400, "No values in 'instances' array"),
        (
            "POST",
            PREDICT,
            {"instances": [[[[0.5, 1, 2]]]]},
            400,
            "JSON Value: [[[0.5, 1, 2]]] is not of expected type: uint8",
        ),
        (
            "POST",
            PREDICT,
            {"instances": [[[1, 2, 3]], [[[1, 2, 3]]]]},
            400,
            "Failed to process element: 1 of 'instances' list. Error: Expecting shape",
        ),
        (
            "POST",
            PREDICT,
            {"signature_name": "hash_bytes", "instances": [{"b64": "%%%"}]},
            400,
            "Unable to base64 decode",
        ),
        (
            "POST",
            PREDICT,
            {"signature_name": "hash_bytes", "instances": [bomb]},
            400,
            "assertion failed: [image of 4000 x 5000 pixels is over the limit",
        ),
        ("POST", "/v1/models/dmrh:classify", {"instances": image}, 501, "classify is not implemented"),
        ("GET", "/v2/models/dmrh", None, 400, "Malformed request: GET /v2/models/dmrh"),
    ]
    for method, path, document, code, message in cases:
        body = document if isinstance(document, bytes) or document is None else json.dumps(document).encode()
        status, answer = _http(server, method, path, body)
        assert (status, set(answer)) == (code, {"error"}), (path, document, status, answer)
        assert answer["error"].startswith(message), (path, answer)
    status, answer = _post(server, PREDICT, {"instances": image})
    assert status == 200 and len(answer["predictions"]) == 1


@pytest.mark.slow
def test_hostile_benchmark_runs_and_answers_every_step(tmp_path):
    """`benchmarks/serving_hostile.py` end to end (about a minute): the codes of every step. Its
    RSS and times are measurements (docs/serving.md), not asserted."""
    out = tmp_path / "hostile.json"
    command = [sys.executable, os.path.join(REPO, "benchmarks", "serving_hostile.py"), "--out", str(out)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    steps = {row["step"]: row for row in json.loads(out.read_text())["steps"]}
    for name, row in steps.items():
        if "bomb" in name or "hollow" in name:
            assert row["codes"] == {"INVALID_ARGUMENT": 1}, name
        if name.startswith("burst"):
            assert set(row["codes"]) <= {"OK", "RESOURCE_EXHAUSTED"} and row["codes"].get("OK"), name
    assert steps["normal request after"]["same_codes_as_the_first"]


def test_image_requests_are_split_under_the_message_limit():
    """The local server refuses messages over 128 MiB: arrays are split at 64 MiB of pixels too."""
    images = np.zeros((10, 100, 100, 3), np.uint8)  # 30,000 bytes each
    assert [len(c) for c in client_module._image_chunks(images, 32, max_bytes=100_000)] == [3, 3, 3, 1]
    listed = [image for image in images[:5]] + [np.zeros((20, 20, 3), np.uint8)]
    assert [c.shape[:3] for c in client_module._image_chunks(listed, 32, max_bytes=70_000)] == [
        (2, 100, 100),
        (2, 100, 100),
        (1, 100, 100),
        (1, 20, 20),
    ]
    assert [len(c) for c in client_module._image_chunks(images, 4, max_bytes=10)] == [1] * 10  # 1 at least


def test_rest_requests_past_their_deadline_answer_504(served):
    """REST requests have a deadline (TF Serving's --rest_api_timeout_in_ms): the graph is cancelled."""
    from serving.rest import RestApi

    heavy = {"b64": base64.b64encode(png(smooth_images(1, 1500, 1500, seed=11)[0])).decode()}
    body = json.dumps({"signature_name": "hash_bytes", "instances": [heavy] * 40}).encode()
    api = RestApi(served[1].core, timeout_seconds=0.3)
    assert api.handle("POST", PREDICT, body) == (504, {"error": "Deadline Exceeded"})
