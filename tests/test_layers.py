"""The custom layers: numbers against references, and serialization round trips."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from dmrh_tf import BinaryCode, LocalResponseNormalization, RegionFusion, SyncBatchNormalization
from dmrh_tf.model import MatmulConv2D, PixelNormalization, SpaceToDepthConv2D
from dmrh_tf.model import space_to_depth_conv2d as s2d


def test_lrn_matches_tensorflow():
    x = np.random.default_rng(0).normal(0, 30, (2, 5, 5, 11)).astype("float32")
    ours = LocalResponseNormalization()(x)
    reference = tf.nn.local_response_normalization(x, depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75)
    np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-6)


def test_lrn_hand_computed_single_channel_window():
    """One channel, radius 0: y = x / (2 + 1e-4·x²)^0.75; x = 10 → 10 / 2.01^0.75."""
    y = LocalResponseNormalization(depth_radius=0)(np.full((1, 1, 1, 1), 10.0, "float32"))
    assert float(y[0, 0, 0, 0]) == pytest.approx(10 / 2.01**0.75, rel=1e-6)


def test_lrn_under_mixed_float16_is_the_float32_result():
    """Activations ≈ 300: Σ x² over the window ≈ 5·300² = 4.5e5 > 65504, which overflows float16 to
    inf and zeroes y = x / (2 + 1e-4·inf)^0.75. Computed in float32, y ≈ 300 / 47^0.75 ≈ 17.9."""
    x = np.random.default_rng(0).uniform(250, 350, (2, 3, 3, 8)).astype("float32")
    full = LocalResponseNormalization()(x)
    mixed = LocalResponseNormalization(dtype="mixed_float16")(x)
    assert keras.backend.standardize_dtype(mixed.dtype) == "float16"
    assert np.all(mixed.numpy() != 0)
    np.testing.assert_allclose(mixed.numpy().astype("float32"), full, rtol=2e-3)


def test_region_fusion_is_the_mean_of_region_outputs():
    """The paper's h = (1/N²) Σ_k |u_k| ⊗ sign(u_k) is the plain mean of u over the N² regions."""
    u = np.random.default_rng(1).normal(size=(3, 2, 2, 5)).astype("float32")
    h = RegionFusion()(u)
    np.testing.assert_allclose(h, u.reshape(3, 4, 5).mean(1), rtol=1e-6)
    paper_form = (np.abs(u) * np.sign(u)).reshape(3, 4, 5).mean(1)
    np.testing.assert_allclose(h, paper_form, rtol=1e-6, atol=1e-7)


def test_learned_weighting_starts_at_the_mean_and_is_trainable():
    u = np.random.default_rng(2).normal(size=(2, 3, 3, 4)).astype("float32")
    layer = RegionFusion(weighting="learned")
    np.testing.assert_allclose(layer(u), u.reshape(2, 9, 4).mean(1), rtol=1e-5, atol=1e-6)
    assert [w.shape for w in layer.trainable_weights] == [(9, 4)]


def test_region_fusion_rejects_unknown_weighting():
    with pytest.raises(ValueError, match="weighting"):
        RegionFusion(weighting="max")


def test_binary_code_maps_zero_to_minus_one_and_stops_gradient():
    h = tf.constant([[0.5, 0.0, -0.2, -0.0]])
    np.testing.assert_array_equal(BinaryCode()(h), [[1, -1, -1, -1]])
    with tf.GradientTape() as tape:
        tape.watch(h)
        out = tf.reduce_sum(BinaryCode()(h) * h)
    # d/dh (b·h) with b constant is b itself: nothing flows through b.
    np.testing.assert_array_equal(tape.gradient(out, h), [[1, -1, -1, -1]])


@pytest.mark.parametrize(
    "layer",
    [
        LocalResponseNormalization(depth_radius=3, bias=1.5, alpha=2e-4, beta=0.7),
        RegionFusion(weighting="learned"),
        BinaryCode(),
        SyncBatchNormalization(momentum=0.9, epsilon=1e-5),
        SpaceToDepthConv2D(8, 11, strides=4, use_bias=False),
        MatmulConv2D(8, 6),
        PixelNormalization(axis=-1),
    ],
    ids=lambda layer: type(layer).__name__,
)
def test_layer_config_round_trip(layer):
    restored = type(layer).from_config(layer.get_config())
    assert restored.get_config() == layer.get_config()
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(again) is type(layer) and again.get_config() == layer.get_config()


def test_sync_batch_norm_is_synchronized_on_tensorflow():
    """(On JAX it loads unsynchronised: tests/test_backends.py.)"""
    layer = SyncBatchNormalization()
    assert layer.synchronized and layer.get_config()["synchronized"]
    assert not SyncBatchNormalization(synchronized=False).synchronized


def _outputs_and_gradients(layer, x):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        upstream = np.random.default_rng(2).normal(size=y.shape).astype("float32")
        total = tf.reduce_sum(y * upstream)
    return (y, *tape.gradient(total, [x, *layer.trainable_weights]))


_S2D_CASES = [
    (dict(filters=6, kernel_size=11, strides=4), 224),  # conv1 at N = 1
    (dict(filters=6, kernel_size=11, strides=4), 227),  # pixels left over
    (dict(filters=6, kernel_size=11, strides=4), 230),  # blocks padded
    (dict(filters=4, kernel_size=(5, 3), strides=2), 17),
]


@pytest.mark.parametrize(
    "fast, kwargs, side, blocked",
    [(SpaceToDepthConv2D, kwargs, side, blocked) for blocked in (True, False) for kwargs, side in _S2D_CASES]
    + [
        (MatmulConv2D, dict(filters=5, kernel_size=6), 9, None),
        (MatmulConv2D, dict(filters=5, kernel_size=1), 3, None),
    ],
)
def test_fast_convolutions_equal_conv2d(fast, kwargs, side, blocked, monkeypatch):
    """Same weights, same outputs and gradients (input and weights) as `keras.layers.Conv2D`.
    SpaceToDepthConv2D on both its paths: blocked (TF's own kernels) and plain (oneDNN's), which is
    Conv2D's own computation and so equal to the bit."""
    if blocked is not None:
        monkeypatch.setattr(s2d, "blocks_pay", lambda: blocked)
    x = np.random.default_rng(0).uniform(-1, 1, (2, side, side, 3)).astype("float32")
    reference, layer = keras.layers.Conv2D(**kwargs), fast(**kwargs)
    reference.build(x.shape)
    layer.build(x.shape)
    rng = np.random.default_rng(1)
    layer.set_weights([rng.normal(size=w.shape).astype("float32") for w in reference.get_weights()])
    reference.set_weights(layer.get_weights())
    for got, want in zip(_outputs_and_gradients(layer, x), _outputs_and_gradients(reference, x)):
        if blocked is False:
            np.testing.assert_array_equal(got, want)
            continue
        # float32 sums in another order: equal to 2e-6 of the largest value; the blocked sums against
        # oneDNN's own order of the plain ones to 1e-5 (measured: 2.8e-6)
        tolerance = 1e-5 if blocked else 2e-6
        np.testing.assert_allclose(got, want, rtol=0, atol=tolerance * np.abs(want).max())


def test_fast_convolutions_reject_what_they_do_not_compute():
    with pytest.raises(ValueError, match="SpaceToDepthConv2D supports"):
        SpaceToDepthConv2D(4, 3, strides=1)
    with pytest.raises(ValueError, match="SpaceToDepthConv2D supports"):
        SpaceToDepthConv2D(4, 3, strides=2, padding="same")
    with pytest.raises(ValueError, match="MatmulConv2D supports"):
        MatmulConv2D(4, 3, strides=2)


def test_pixel_normalization_equals_keras_normalization():
    mean, variance = np.array([120.0, 110.0, 100.0]), np.array([3000.0, 0.0, 900.0])  # 0: epsilon
    x = np.random.default_rng(0).uniform(0, 255, (3, 7, 5, 3)).astype("float32")
    reference = keras.layers.Normalization(axis=-1, mean=mean, variance=variance)
    layer = PixelNormalization(axis=-1)
    layer.build(x.shape)
    layer.adapt_mean.assign(mean)
    layer.adapt_variance.assign(variance)
    layer.finalize_state()
    np.testing.assert_allclose(layer(x), reference(x), rtol=1e-4, atol=1e-5)
    inverse = PixelNormalization(axis=-1, mean=mean, variance=variance, invert=True)
    np.testing.assert_allclose(inverse(layer(x)), x, rtol=1e-4, atol=1e-2)  # Keras's own path


def test_blocked_convolutions_forces_the_blocked_path_and_restores():
    before = s2d.blocks_pay()
    with s2d.blocked_convolutions():
        assert s2d.blocks_pay()
    assert s2d.blocks_pay() is before
