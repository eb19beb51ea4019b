"""The network, its layers and the loss are keras.ops only: on JAX, in a process where TensorFlow
cannot be imported (as on a GPU machine without it), they load, give TensorFlow's numbers and train."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from dmrh_tf import DMRHLoss, build_model

REPO = Path(__file__).resolve().parent.parent

WITHOUT_TENSORFLOW = """
import sys

class NoTensorFlow:  # any `import tensorflow` fails, as where it is not installed
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "tensorflow":
            raise ModuleNotFoundError("No module named 'tensorflow'", name="tensorflow")

sys.meta_path.insert(0, NoTensorFlow())
"""


def run_on_jax(code, cwd, args=()):
    script = Path(cwd) / "on_jax.py"
    script.write_text(WITHOUT_TENSORFLOW + textwrap.dedent(code))
    environment = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [sys.executable, str(script), *args], cwd=REPO, env=environment, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.parametrize(
    "options",
    [{"normalization": "batch", "weighting": "magnitude"}, {"normalization": "lrn", "weighting": "learned"}],
)
def test_saved_model_gives_the_same_outputs_and_loss_on_jax(options, tmp_path):
    model = build_model(bits=12, regions=2, width=0.125, **options)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (3, 256, 256, 3)).astype("float32")
    labels = np.eye(4, dtype="float32")[[0, 1, 1]]
    bank_h = rng.normal(size=(5, 12)).astype("float32")
    bank_labels = np.eye(4, dtype="float32")[[0, 1, 2, 3, 3]]
    outputs = model(images, training=False)
    loss = DMRHLoss(eta=0.1).compute(outputs["h"], labels, bank_h, bank_labels)
    model.save(tmp_path / "model.keras")
    np.savez(tmp_path / "inputs.npz", images=images, labels=labels, bank_h=bank_h, bank_labels=bank_labels)

    run_on_jax(
        """
        import keras, numpy as np
        import dmrh_tf
        assert keras.backend.backend() == "jax" and "tensorflow" not in sys.modules
        assert not hasattr(dmrh_tf, "encode")  # the TensorFlow-only parts are left out
        model = keras.saving.load_model(sys.argv[1] + "/model.keras")
        inputs = np.load(sys.argv[1] + "/inputs.npz")
        outputs = model(inputs["images"], training=False)
        loss = dmrh_tf.DMRHLoss(eta=0.1).compute(
            outputs["h"], inputs["labels"], inputs["bank_h"], inputs["bank_labels"]
        )
        np.savez(sys.argv[1] + "/outputs.npz", **{k: np.asarray(v) for k, v in outputs.items()},
                 loss=np.asarray([float(x) for x in loss]))
        """,
        tmp_path,
        [str(tmp_path)],
    )
    on_jax = np.load(tmp_path / "outputs.npz")
    for name in ("region_outputs", "h"):
        np.testing.assert_allclose(on_jax[name], outputs[name].numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(on_jax["codes"], outputs["codes"].numpy())
    np.testing.assert_allclose(on_jax["loss"], [float(x) for x in loss], rtol=1e-5)


def test_model_trains_on_jax_without_tensorflow(tmp_path):
    """A jit-compiled Keras train step with DMRH's in-batch loss: the loss falls on a fixed batch."""
    stdout = run_on_jax(
        """
        import json, keras, numpy as np
        from dmrh_tf import DMRHLoss, build_model
        keras.utils.set_random_seed(0)
        encoder = build_model(bits=16, regions=1, width=0.125)
        model = keras.Model(encoder.input, encoder.output["h"])
        optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
        model.compile(optimizer=optimizer, loss=DMRHLoss(eta=0.1, mode="batch"))
        rng = np.random.default_rng(0)
        images = rng.uniform(0, 255, (8, 224, 224, 3)).astype("float32")
        labels = np.eye(2, dtype="float32")[[0, 1] * 4]
        losses = [float(model.train_on_batch(images, labels)) for _ in range(8)]
        print(json.dumps(losses))
        """,
        tmp_path,
    )
    losses = json.loads(stdout.strip().splitlines()[-1])
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]


def test_model_throughput_benchmark_runs_on_jax_without_tensorflow(tmp_path):
    """benchmarks/model_throughput.py is what runs on a GPU machine without TensorFlow."""
    run_on_jax(
        """
        import runpy
        sys.path.insert(0, "benchmarks")
        sys.argv = ["model_throughput.py", *sys.argv[1:]]
        runpy.run_path("benchmarks/model_throughput.py", run_name="__main__")
        """,
        tmp_path,
        ["--widths", "0.125", "--regions", "1", "--train-batch", "2", "--infer-batch", "2", "--steps", "1",
         "--rounds", "1", "--min-seconds", "0", "--warmup", "1", "--precision", "mixed_bfloat16",
         "--out", f"{tmp_path}/m.json"],
    )  # fmt: skip
    report = json.loads((tmp_path / "m.json").read_text())
    assert report["machine"]["backend"] == "jax" and "jax" in report["machine"]
    (row,) = report["results"]
    assert row["precision"] == "mixed_bfloat16" and np.isfinite(row["training"]["loss_after_warmup"])
    assert row["inference"]["images_per_second"] > 0 and row["training"]["images_per_second"] > 0
