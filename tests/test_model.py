"""The DMRH network: shapes for every N, width, outputs, and the .keras round trip."""

import ast
import inspect
import os
import re

import keras
import numpy as np
import pytest

from dmrh_tf import build_model, encode, input_side
from dmrh_tf.model.cnnf import scaled_channels

README = os.path.join(os.path.dirname(__file__), os.pardir, "README.md")


@pytest.mark.parametrize("regions", range(1, 11))
def test_input_side_gives_an_n_by_n_grid(regions):
    side = input_side(regions)
    assert side == 192 + 32 * regions
    model = build_model(bits=6, regions=regions, width=1 / 32, dropout=0.0)
    out = model(np.zeros((1, side, side, 3), "float32"))
    assert tuple(out["region_outputs"].shape) == (1, regions, regions, 6)
    assert tuple(out["h"].shape) == (1, 6) and tuple(out["codes"].shape) == (1, 6)


@pytest.mark.parametrize("regions", [0, 11, 2.5])
def test_input_side_rejects_bad_grids(regions):
    with pytest.raises(ValueError, match="regions"):
        input_side(regions)


def test_paper_width_has_cnnf_layer_shapes():
    model = build_model(bits=48, regions=1, width=1.0, normalization="lrn")
    shapes = {layer.name: tuple(layer.kernel.shape) for layer in model.layers if hasattr(layer, "kernel")}
    assert shapes == {
        "conv1": (11, 11, 3, 64),
        "conv2": (5, 5, 64, 256),
        "conv3": (3, 3, 256, 256),
        "conv4": (3, 3, 256, 256),
        "conv5": (3, 3, 256, 256),
        "conv6": (6, 6, 256, 4096),
        "conv7": (1, 1, 4096, 4096),
        "conv8": (1, 1, 4096, 48),
    }
    assert {"conv1_lrn", "conv2_lrn", "conv6_dropout", "conv7_dropout"} <= {
        layer.name for layer in model.layers
    }
    assert model.get_layer("conv8").activation.__name__ == "linear"


def test_conv8_init_is_normal_with_std_001():
    """Kernel and bias both N(0, 0.01²), as in the authors' release. The bias has only `bits` = 1024
    values: standard errors 0.01 / sqrt(2·1024) ≈ 2.2e-4 (std) and 0.01 / sqrt(1024) ≈ 3.1e-4 (mean)."""
    model = build_model(bits=1024, regions=1, width=1 / 32)
    kernel = model.get_layer("conv8").kernel.numpy()
    assert abs(kernel.std() - 0.01) < 0.001 and abs(kernel.mean()) < 0.001
    bias = model.get_layer("conv8").bias.numpy()
    assert abs(bias.std() - 0.01) < 0.001 and abs(bias.mean()) < 0.0015


def test_width_scales_channels():
    assert scaled_channels(4096, 0.25) == 1024 and scaled_channels(64, 0.001) == 1
    model = build_model(bits=8, regions=1, width=0.25)
    assert model.get_layer("conv7").kernel.shape[-1] == 1024


def test_codes_are_the_sign_of_h():
    model = build_model(bits=16, regions=2, width=0.0625)
    x = np.random.default_rng(0).uniform(0, 255, (2, 256, 256, 3)).astype("float32")
    out = model(x)
    np.testing.assert_array_equal(out["codes"], np.where(out["h"].numpy() > 0, 1, -1))
    np.testing.assert_allclose(out["h"], out["region_outputs"].numpy().reshape(2, 4, 16).mean(1), rtol=1e-5)


@pytest.mark.parametrize("normalization,weighting", [("batch", "learned"), ("lrn", "magnitude")])
def test_keras_save_and_load_give_identical_outputs(tmp_path, normalization, weighting):
    model = build_model(
        bits=8,
        regions=2,
        width=0.0625,
        normalization=normalization,
        weighting=weighting,
        pixel_mean=(100, 110, 120),
        pixel_std=(50, 60, 70),
    )
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    x = np.random.default_rng(1).uniform(0, 255, (2, 256, 256, 3)).astype("float32")
    for key, value in model(x).items():
        np.testing.assert_array_equal(value, restored(x)[key])
    np.testing.assert_allclose(
        restored.get_layer("pixel_normalization").mean.numpy().ravel(), [100, 110, 120]
    )


def test_encode_preprocesses_uint8_images_of_any_size():
    model = build_model(bits=8, regions=1, width=0.0625)
    images = np.random.default_rng(2).integers(0, 256, (5, 40, 30, 3), dtype=np.uint8)
    codes = encode(model, images, batch_size=2)
    assert codes.dtype == np.int8 and codes.shape == (5, 8)
    assert set(np.unique(codes)) <= {-1, 1}
    import tensorflow as tf

    resized = tf.image.resize(images.astype("float32"), (224, 224), antialias=True).numpy()
    np.testing.assert_array_equal(codes, model(np.clip(resized, 0, 255))["codes"].numpy().astype(np.int8))


def test_readme_builds_cnnf_where_it_loads_the_pretrained_weights():
    """The README's "Use the model" block loads ImageNet CNN-F weights into the model it builds, so
    that model must be the paper's network (LRN); the default `normalization="batch"` is not."""
    with open(README, encoding="utf-8") as f:
        section = f.read().split("## Use the model", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert "load_cnnf_weights(model" in code
    calls = [
        node
        for node in ast.walk(ast.parse(code))
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "build_model"
    ]
    assert len(calls) == 1
    args = [ast.literal_eval(a) for a in calls[0].args]
    kwargs = {k.arg: ast.literal_eval(k.value) for k in calls[0].keywords}
    bound = inspect.signature(build_model).bind(*args, **kwargs)
    bound.apply_defaults()
    assert bound.arguments["normalization"] == "lrn" and bound.arguments["width"] == 1.0
