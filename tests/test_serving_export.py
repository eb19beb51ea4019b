"""Export for TF Serving: layout, atomic versions, signatures, warm-up file, plain loading."""

import json
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
import tensorflow as tf
from serving_support import (
    BITS,
    MODEL_NAME,
    assert_codes_vary,
    bmp_header,
    decode,
    gif,
    jpeg,
    make_run_dir,
    png,
    png_of_zeros,
    smooth_images,
)
from tensorflow_serving.apis import prediction_log_pb2

import dmrh_tf
from dmrh_tf.index import model_fingerprint
from serving import contract, export
from serving.image_limits import DEFAULT_MAX_PIXELS
from serving.serving_graph import pack_bits
from serving.versions import list_versions, next_version


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(run_dir, model, base_path, version_dir) of one export of a fake run."""
    root = tmp_path_factory.mktemp("export")
    run_dir = str(root / "run")
    model = make_run_dir(run_dir)
    base = str(root / "models")
    path = export.export_run(run_dir, base, MODEL_NAME)
    return run_dir, model, base, path


@pytest.fixture(scope="module")
def loaded(exported):
    return tf.saved_model.load(exported[3])


def test_export_layout_and_config(exported):
    run_dir, model, base, path = exported
    assert path == os.path.join(base, MODEL_NAME, "1")
    assert sorted(os.listdir(os.path.join(base, MODEL_NAME))) == ["1"]  # no staging dir left behind
    assert os.path.exists(os.path.join(path, "saved_model.pb"))
    assert os.path.isdir(os.path.join(path, "variables"))
    with open(os.path.join(path, contract.ASSETS_EXTRA_DIR, contract.CONFIG_FILE)) as f:
        facts = json.load(f)
    with open(os.path.join(run_dir, "config.json")) as f:
        assert facts["config"] == json.load(f)
    assert (facts["bits"], facts["regions"], facts["input_side"], facts["version"]) == (BITS, 1, 224, 1)
    assert facts["max_pixels"] == DEFAULT_MAX_PIXELS
    assert facts["model_fingerprint"] == model_fingerprint(model)


def test_the_saved_graph_holds_conv1_in_blocks(exported):
    """Whatever kernels the exporting process ran, the SavedModel computes conv1 as the stride-1
    convolution of 4×4 blocks (fast on TF's own kernels, which a TF Serving host may run): no
    stride-4 convolution is left in its graph."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    with open(os.path.join(exported[3], "saved_model.pb"), "rb") as f:
        saved.ParseFromString(f.read())
    graph = saved.meta_graphs[0].graph_def
    nodes = [*graph.node, *(node for function in graph.library.function for node in function.node_def)]
    strides = {tuple(node.attr["strides"].list.i) for node in nodes if node.op == "Conv2D"}
    assert (1, 1, 1, 1) in strides
    assert (1, 4, 4, 1) not in strides


def test_signatures_names_and_specs(loaded):
    assert set(loaded.signatures) == {
        contract.IMAGES_SIGNATURE,
        contract.BYTES_SIGNATURE,
        contract.METADATA_SIGNATURE,
    }
    images = loaded.signatures[contract.IMAGES_SIGNATURE]
    (spec,) = images.structured_input_signature[1].values()
    assert spec.name == "images" and spec.dtype == tf.uint8 and spec.shape.as_list() == [None, None, None, 3]
    (spec,) = loaded.signatures[contract.BYTES_SIGNATURE].structured_input_signature[1].values()
    assert spec.name == "image_bytes" and spec.dtype == tf.string and spec.shape.as_list() == [None]
    for name in (contract.IMAGES_SIGNATURE, contract.BYTES_SIGNATURE):
        outputs = loaded.signatures[name].structured_outputs
        assert {k: (v.dtype, v.shape.as_list()) for k, v in outputs.items()} == {
            "codes": (tf.int8, [None, BITS]),
            "packed": (tf.uint8, [None, 2]),
            "h": (tf.float32, [None, BITS]),
        }


def test_images_signature_matches_in_process_encode(exported, loaded):
    model = exported[1]
    serve = loaded.signatures[contract.IMAGES_SIGNATURE]
    for height, width in ((48, 64), (224, 224), (300, 180)):
        images = smooth_images(6, height, width, seed=height)
        expected = dmrh_tf.encode(model, images)
        out = serve(images=tf.constant(images))
        np.testing.assert_array_equal(out["codes"].numpy(), expected)
        np.testing.assert_array_equal(out["packed"].numpy(), np.packbits(expected > 0, axis=1))
        h = model(dmrh_tf.data.preprocessing.resize_images(images, 224), training=False)["h"].numpy()
        np.testing.assert_allclose(out["h"].numpy(), h, rtol=1e-4, atol=1e-5)
        assert_codes_vary(expected)


def test_bytes_signature_png_exact_and_jpeg_as_decoded(exported, loaded):
    model = exported[1]
    serve = loaded.signatures[contract.BYTES_SIGNATURE]
    small, large = smooth_images(3, 40, 90, seed=1), smooth_images(2, 250, 70, seed=2)
    images = [small[0], large[0], small[1], small[2], large[1]]  # sizes mixed within one request
    by_size = {40: dmrh_tf.encode(model, small), 250: dmrh_tf.encode(model, large)}
    expected = np.stack([by_size[40][0], by_size[250][0], by_size[40][1], by_size[40][2], by_size[250][1]])
    codes = serve(image_bytes=tf.constant([png(image) for image in images]))["codes"].numpy()
    np.testing.assert_array_equal(codes, expected)  # PNG is lossless: exactly the array codes
    assert_codes_vary(expected)
    jpegs = [jpeg(image) for image in small]
    from_jpeg = dmrh_tf.encode(model, np.stack([decode(data) for data in jpegs]))
    np.testing.assert_array_equal(serve(image_bytes=tf.constant(jpegs))["codes"].numpy(), from_jpeg)


def test_metadata_signature(loaded, exported):
    out = loaded.signatures[contract.METADATA_SIGNATURE](rows=tf.constant([0]))
    assert {name: value.shape.as_list() for name, value in out.items()} == {
        name: [1] for name in contract.METADATA_OUTPUTS
    }
    assert int(out["bits"][0]) == BITS and int(out["regions"][0]) == 1 and int(out["input_side"][0]) == 224
    assert int(out["max_pixels"][0]) == DEFAULT_MAX_PIXELS
    with open(os.path.join(exported[0], "config.json")) as f:
        run_config = json.load(f)
    served = json.loads(out["config"][0].numpy().decode())
    assert served == {k: v for k, v in run_config.items() if k not in export.PATH_FIELDS}
    assert out["weights_sha256"][0].numpy().decode() == model_fingerprint(exported[1])["weights_sha256"]


def test_metadata_config_holds_no_server_paths(loaded, exported):
    """The run's absolute run_dir (and any other path) stays out of what clients can read."""
    run_dir = exported[0]
    config = loaded.signatures[contract.METADATA_SIGNATURE](rows=tf.constant([0]))["config"][0].numpy()
    assert os.path.isabs(run_dir) and run_dir.encode() not in config
    assert export.served_config({"run_dir": "/srv/runs/a", "data_dir": "data", "x": "a/b", "bits": 8}) == {
        "bits": 8
    }


def test_metadata_signature_survives_tf_serving_batching(loaded):
    """TF Serving's batching (`batching_session.cc`) refuses a signature without inputs, concatenates
    the requests' inputs along dimension 0 and splits every output back along it. Emulated here:
    two requests' `rows` merged, run once, split: each request gets its own, complete answer."""
    metadata = loaded.signatures[contract.METADATA_SIGNATURE]
    assert [spec.name for spec in metadata.structured_input_signature[1].values()] == ["rows"]
    requests = [np.zeros([1], np.int32), np.zeros([2], np.int32)]
    merged = metadata(rows=tf.constant(np.concatenate(requests)))
    alone = metadata(rows=tf.constant(requests[0]))
    for name, value in merged.items():
        assert value.shape[0] == 3, name  # splittable: every output has the merged batch dimension
        first, second = np.split(value.numpy(), [1])
        np.testing.assert_array_equal(first, alone[name].numpy())
        assert len(second) == 2 and (second == first[0]).all()


def test_empty_batches_answer_empty_outputs(loaded):
    """An empty batch answers [0, …] without running the model or the resize (oneDNN's Conv2D fails
    on empty input on some CPUs; the resize kernel refuses [0, 0, 0, 3]: "input image must be of
    non-zero size")."""
    expected = {"codes": (tf.int8, [0, BITS]), "packed": (tf.uint8, [0, 2]), "h": (tf.float32, [0, BITS])}
    for name, inputs in (
        (contract.IMAGES_SIGNATURE, {"images": tf.zeros([0, 50, 70, 3], tf.uint8)}),
        (contract.IMAGES_SIGNATURE, {"images": tf.zeros([0, 0, 0, 3], tf.uint8)}),
        (contract.BYTES_SIGNATURE, {"image_bytes": tf.constant([], tf.string)}),
    ):
        out = loaded.signatures[name](**inputs)
        assert {k: (v.dtype, v.shape.as_list()) for k, v in out.items()} == expected, name


OVER_LIMIT = f"is over the limit of {DEFAULT_MAX_PIXELS} pixels (max_pixels, set at export)"


def _refusal(function, **inputs):
    with pytest.raises(tf.errors.InvalidArgumentError) as raised:
        function(**inputs)
    return raised.value.message


def test_bytes_over_the_pixel_limit_are_refused_before_decoding(loaded):
    """Each format's declared size is read from its header: a real 5000 × 4000 PNG bomb (58 KB), a
    JPEG, headers of a BMP and of a GIF whose frames are counted; the refusal names the limit."""
    serve = loaded.signatures[contract.BYTES_SIGNATURE]
    small = png(smooth_images(1, 20, 20)[0])
    cases = {
        "png bomb": (png_of_zeros(5000, 4000), "image of 4000 x 5000 pixels "),
        "jpeg": (jpeg(np.zeros([4100, 4100, 3], np.uint8)), "image of 4100 x 4100 pixels "),
        "bmp": (bmp_header(70000, -70000) + b"\0" * 64, "image of 70000 x 70000 pixels "),
        "gif frame": (gif(4100, 4100, 1, hollow=True), "image of 4100 x 4100 pixels (up to 2 frames) "),
        "gif frames": (gif(1000, 1000, 17, hollow=True), "image of 1000 x 1000 pixels (up to 18 frames) "),
    }
    for label, (data, message) in cases.items():
        refusal = _refusal(serve, image_bytes=tf.constant([small, data]))
        assert f"assertion failed: [{message}{OVER_LIMIT}]" in refusal, (label, refusal)
    for data in (b"RIFF\0\0\0\0WEBPVP8X", b"\xff\x0a", b"", b"not an image"):  # WebP, JPEG XL, …
        assert "Unknown or unsupported image file format" in _refusal(serve, image_bytes=tf.constant([data]))


def test_bytes_at_the_limit_and_animated_gifs_still_hash(exported, loaded):
    model = exported[1]
    serve = loaded.signatures[contract.BYTES_SIGNATURE]
    at_limit = png_of_zeros(4096, 4096)  # exactly DEFAULT_MAX_PIXELS
    frames = gif(64, 48, 3)  # its first frame is what hash_bytes hashes
    codes = serve(image_bytes=tf.constant([at_limit, frames]))["codes"].numpy()
    expected = dmrh_tf.encode(model, np.zeros([1, 4096, 4096, 3], np.uint8))
    np.testing.assert_array_equal(codes[0], expected[0])
    np.testing.assert_array_equal(codes[1], dmrh_tf.encode(model, decode(frames)[None])[0])


def test_images_over_the_pixel_limit_are_refused_from_their_shape(loaded):
    serve = loaded.signatures[contract.IMAGES_SIGNATURE]
    refusal = _refusal(serve, images=tf.zeros([1, 4097, 4096, 3], tf.uint8))
    assert f"assertion failed: [image of 4097 x 4096 pixels {OVER_LIMIT}]" in refusal


def test_max_pixels_is_chosen_at_export_and_recorded(exported, tmp_path):
    run_dir, _, _, _ = exported
    base = str(tmp_path)
    argv = [
        "--run-dir",
        run_dir,
        "--model-base-path",
        base,
        "--model-name",
        MODEL_NAME,
        "--max-pixels",
        "2000",
    ]
    assert export.main(argv) == 0
    path = os.path.join(base, MODEL_NAME, "1")
    with open(os.path.join(path, contract.ASSETS_EXTRA_DIR, contract.CONFIG_FILE)) as f:
        assert json.load(f)["max_pixels"] == 2000
    signatures = tf.saved_model.load(path).signatures
    assert int(signatures[contract.METADATA_SIGNATURE](rows=tf.constant([0]))["max_pixels"][0]) == 2000
    serve = signatures[contract.IMAGES_SIGNATURE]
    assert serve(images=tf.constant(smooth_images(1, 40, 50)))["codes"].shape == (1, BITS)  # 2000 pixels
    refusal = _refusal(serve, images=tf.constant(smooth_images(1, 40, 51)))
    assert "image of 40 x 51 pixels is over the limit of 2000 pixels (max_pixels, set at export)" in refusal
    with pytest.raises(SystemExit):
        export.parse_args(["--run-dir", "r", "--model-base-path", "b", "--max-pixels", "0"])


def test_pack_bits_is_np_packbits():
    for bits in (1, 7, 8, 9, 12, 16, 17, 48):
        codes = np.where(np.random.RandomState(bits).rand(5, bits) > 0.5, 1.0, -1.0).astype(np.float32)
        np.testing.assert_array_equal(pack_bits(tf.constant(codes)).numpy(), np.packbits(codes > 0, axis=1))


def test_warmup_requests_are_prediction_logs_that_run(exported, loaded):
    path = os.path.join(exported[3], contract.ASSETS_EXTRA_DIR, contract.WARMUP_FILE)
    signatures = []
    for record in tf.data.TFRecordDataset(path):
        log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        request = log.predict_log.request
        assert request.model_spec.name == MODEL_NAME
        inputs = {alias: tf.constant(tf.make_ndarray(proto)) for alias, proto in request.inputs.items()}
        out = loaded.signatures[request.model_spec.signature_name](**inputs)
        assert out["codes"].shape == (1, BITS)
        signatures.append(request.model_spec.signature_name)
    assert sorted(signatures) == sorted([contract.IMAGES_SIGNATURE, contract.BYTES_SIGNATURE])


def test_versions_next_forced_existing_and_ignored_dirs(exported, tmp_path):
    run_dir = exported[0]
    model_dir = tmp_path / MODEL_NAME
    (model_dir / "not-a-version").mkdir(parents=True)
    (model_dir / "7").mkdir()
    (model_dir / "12").write_text("a file, not a version directory")
    assert list_versions(str(model_dir)) == [7]
    assert next_version(str(model_dir)) == 8
    with pytest.raises(FileExistsError):
        export.export_run(run_dir, str(tmp_path), MODEL_NAME, version=7)
    assert list_versions(str(model_dir)) == [7]


def test_failed_export_leaves_no_version_and_no_staging(exported, tmp_path, monkeypatch):
    def half_write(model, config, path, **kwargs):
        os.makedirs(os.path.join(path, "variables"))
        with open(os.path.join(path, "saved_model.pb"), "wb") as f:
            f.write(b"partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(export, "write_saved_model", half_write)
    with pytest.raises(RuntimeError, match="disk full"):
        export.export_model(exported[1], dmrh_tf.Config(), str(tmp_path), MODEL_NAME)
    assert os.listdir(tmp_path / MODEL_NAME) == []


def test_cli_exports_next_version_atomically_while_polled(exported, capsys):
    """A poller of the base path only ever sees complete version directories."""
    run_dir, _, base, _ = exported
    model_dir = os.path.join(base, MODEL_NAME)
    done, incomplete = threading.Event(), []

    def poll():
        while not done.is_set():
            for version in list_versions(model_dir):
                path = os.path.join(model_dir, str(version))
                needed = (
                    "saved_model.pb",
                    "variables/variables.index",
                    "assets.extra/tf_serving_warmup_requests",
                )
                if not all(os.path.exists(os.path.join(path, n)) for n in needed):
                    incomplete.append(version)
            done.wait(0.005)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        assert export.main(["--run-dir", run_dir, "--model-base-path", base, "--model-name", MODEL_NAME]) == 0
    finally:
        done.set()
        poller.join()
    assert capsys.readouterr().out.strip() == os.path.join(model_dir, "2")
    assert incomplete == []
    assert list_versions(model_dir) == [1, 2]


PLAIN_LOAD = textwrap.dedent(
    """
    import json, sys
    import numpy as np, tensorflow as tf
    path, images_file = sys.argv[1], sys.argv[2]
    loaded = tf.saved_model.load(path)
    codes = loaded.signatures["serving_default"](images=tf.constant(np.load(images_file)))["codes"]
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("dmrh_tf", "serving"))
    print(json.dumps({"codes": codes.numpy().tolist(), "leaked": leaked}))
    """
)


def test_loads_without_the_package_and_saved_model_cli_lists_signatures(exported, tmp_path):
    """In fresh processes: plain tf.saved_model.load (package never imported) and saved_model_cli."""
    _, model, _, path = exported
    images = smooth_images(4, 64, 96, seed=3)
    np.save(tmp_path / "images.npy", images)
    # as a process that never saw dmrh_tf: TensorFlow's own choice of CPU kernels
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ""}
    env.pop("TF_ENABLE_ONEDNN_OPTS", None)
    # cwd outside the repository, so that `serving`/`dmrh_tf` are not importable from the cwd.
    plain = subprocess.Popen(
        [sys.executable, "-c", PLAIN_LOAD, path, str(tmp_path / "images.npy")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    show = subprocess.run(
        [cli, "show", "--dir", path, "--all"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out, err = plain.communicate(timeout=120)
    assert plain.returncode == 0, err[-2000:]
    result = json.loads(out.strip().splitlines()[-1])
    assert result["leaked"] == []
    np.testing.assert_array_equal(np.array(result["codes"], np.int8), dmrh_tf.encode(model, images))
    assert show.returncode == 0, show.stderr[-2000:]
    for name in ("serving_default", "hash_bytes", "metadata"):
        assert f"signature_def['{name}']:" in show.stdout
    assert "inputs['images'] tensor_info:" in show.stdout
    assert "inputs['image_bytes'] tensor_info:" in show.stdout
    for output in ("codes", "packed", "h"):
        assert f"outputs['{output}'] tensor_info:" in show.stdout
    assert "Method name is: tensorflow/serving/predict" in show.stdout
