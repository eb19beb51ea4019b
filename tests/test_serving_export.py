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
    decode,
    jpeg,
    make_run_dir,
    png,
    smooth_images,
)
from tensorflow_serving.apis import prediction_log_pb2

import dmrh_tf
from dmrh_tf.index import model_fingerprint
from serving import contract, export
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
    assert facts["model_fingerprint"] == model_fingerprint(model)


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
    out = loaded.signatures[contract.METADATA_SIGNATURE]()
    assert int(out["bits"]) == BITS and int(out["regions"]) == 1 and int(out["input_side"]) == 224
    with open(os.path.join(exported[0], "config.json")) as f:
        assert json.loads(out["config"].numpy().decode()) == json.load(f)
    assert out["weights_sha256"].numpy().decode() == model_fingerprint(exported[1])["weights_sha256"]


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
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ""}
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
