"""Files written by dmrh_tf 0.1.0, before the package layout changed, still load and give the same codes.

The fixtures and how they were made: tests/fixtures/v0.1.0/README.md.
"""

import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

import dmrh_tf

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "v0.1.0"


@pytest.fixture(scope="module")
def expected():
    return np.load(FIXTURES / "expected.npz")


def _images(seed, count, side):
    return np.random.default_rng(seed).integers(0, 256, (count, side, side, 3)).astype("float32")


def test_a_run_directory_of_0_1_0_loads_and_gives_the_same_codes(expected):
    model, config = dmrh_tf.load_run(FIXTURES / "run")
    assert (config.regions, config.bits, config.weighting) == (2, 16, "learned")
    out = model(_images(0, 3, dmrh_tf.input_side(config.regions)), training=False)
    np.testing.assert_array_equal(np.asarray(out["codes"]), expected["run_codes"])
    np.testing.assert_allclose(np.asarray(out["h"]), expected["run_h"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        np.asarray(out["region_outputs"]), expected["run_region_outputs"], rtol=1e-5, atol=1e-6
    )


def test_a_compiled_lrn_model_of_0_1_0_loads_with_its_loss(expected):
    model = keras.saving.load_model(FIXTURES / "lrn_model.keras")
    assert isinstance(model.loss, dmrh_tf.DMRHLoss)
    assert (model.loss.eta, model.loss.mode) == (0.5, "batch")
    assert isinstance(model.get_layer("conv1_lrn"), dmrh_tf.LocalResponseNormalization)
    out = model(_images(1, 2, 224), training=False)
    np.testing.assert_array_equal(np.asarray(out["codes"]), expected["lrn_codes"])
    np.testing.assert_allclose(np.asarray(out["h"]), expected["lrn_h"], rtol=1e-5, atol=1e-7)


def test_evaluate_reads_a_0_1_0_run_directory(tmp_path):
    """`python -m dmrh_tf.evaluate` on the old run: its config, split lists and model still work."""
    out = tmp_path / "report"
    result = subprocess.run(
        [sys.executable, "-m", "dmrh_tf.evaluate", "--runs", str(FIXTURES / "run"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (out / "results.json").exists()
