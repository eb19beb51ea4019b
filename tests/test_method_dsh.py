"""DSHLoss against the authors' Caffe layer (a NumPy port of its loop), a NumPy reference of the
formula, finite differences and a hand-checked case; the split over replicas; serialization; JAX."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from method_support import (
    in_batch_whole_and_split,
    random_batch,
    run_without_tensorflow,
    tf_value_and_gradient,
)

from dmrh_tf.methods.dsh_loss import DSHLoss, dsh_loss


def caffe_layer(h, labels, margin, tradeoff):
    """A line-by-line port of `HashingLossLayer::Forward_cpu` (lhmRyan/deep-supervised-hashing-DSH
    @ 631901f, multi-label branch: similar = label dot > 0): returns (top value, bottom diff). The
    layer writes its gradient in the forward pass; Backward_cpu only applies it."""
    num, channels = h.shape
    alpha = 1.0 / (num * (num - 1))
    beta = 1.0 / num
    bout = np.zeros_like(h, dtype=float)
    loss = reg = 0.0
    for i in range(num):
        for j in range(i + 1, num):
            diff = h[i] - h[j]
            dist_sq = diff @ diff
            if labels[i] @ labels[j] > 0:
                loss += dist_sq
                bout[i] += alpha * diff
                bout[j] -= alpha * diff
            else:
                loss += max(margin - dist_sq, 0.0)
                if margin - dist_sq > 0:
                    bout[i] -= alpha * diff
                    bout[j] += alpha * diff
        for k in range(channels):
            data = h[i, k]
            bout[i, k] += beta * tradeoff * (1.0 if data >= 1 or (-1 <= data <= 0) else -1.0)
            reg += abs(abs(data) - 1)
    return loss / (num * (num - 1)) + tradeoff * reg / num, bout


def numpy_loss(h, labels, margin, alpha, rows=None):
    """The gradient-matching form, by broadcasting: ¼·mean over ordered i ≠ j + (α/B) Σ ‖|h|−1‖₁."""
    rows = len(h) if rows is None else rows
    d2 = np.sum((h[:, None, :] - h[None, :, :]) ** 2, axis=-1)
    s = (labels @ labels.T > 0).astype(float)
    terms = np.where(s > 0, d2, np.maximum(margin - d2, 0.0))
    np.fill_diagonal(terms, 0.0)
    pairs = 0.25 * terms.sum() / (rows * (rows - 1))
    regularizer = np.abs(np.abs(h) - 1).sum() / rows
    return pairs + alpha * regularizer, pairs, regularizer


def test_hand_checked_case():
    """K = 2, m = 4, α = 0.01; h1 = [.5, 1.5] and h2 = [.5, .5] share a label, h3 = [−.5, −.5] not.
    d²: (1,2) = 1 (similar → 1); (1,3) = 1 + 4 = 5 ≥ m (→ 0); (2,3) = 1 + 1 = 2 (→ m − 2 = 2).
    pairs = ¼ · 2·(1 + 0 + 2) / (3·2) = 0.25. ‖|h_i| − 1‖₁ = 1 for each row → regularizer = 3/3 = 1.
    loss = 0.25 + 0.01 = 0.26.
    The Caffe layer's gradient, α_c = 1/(B(B−1)) = 1/6, β = 1/B = 1/3:
      (1,2) similar: g1 += (h1 − h2)/6 = [0, 1]/6, g2 −= [0, 1]/6;
      (2,3) dissimilar, inside the margin: g2 −= (h2 − h3)/6 = [1, 1]/6, g3 += [1, 1]/6;
      regulariser: 0.01/3 · sign(|x| − 1)·sign(x): h1 → [−1, 1], h2 → [−1, −1], h3 → [1, 1]."""
    h = np.array([[0.5, 1.5], [0.5, 0.5], [-0.5, -0.5]])
    labels = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    loss, pairs, regularizer = dsh_loss(h, labels, h, labels, margin=4.0, alpha=0.01)
    assert float(pairs) == pytest.approx(0.25) and float(regularizer) == pytest.approx(1.0)
    assert float(loss) == pytest.approx(0.26)
    by_hand = np.array([[0, 1], [-1, -2], [1, 1]]) / 6 + np.array([[-1, 1], [-1, -1], [1, 1]]) * 0.01 / 3
    _, gradient = tf_value_and_gradient(DSHLoss(margin=4.0, alpha=0.01), h, labels)
    np.testing.assert_allclose(gradient, by_hand, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(caffe_layer(h, labels, 4.0, 0.01)[1], by_hand, rtol=1e-12)


@pytest.mark.parametrize("multi_label", [False, True])
def test_matches_numpy_reference(multi_label):
    rng = np.random.default_rng(1)
    h, labels = random_batch(rng, multi_label=multi_label)
    ours = dsh_loss(h, labels, h, labels, margin=9.0, alpha=0.05, num_rows=10)
    np.testing.assert_allclose([float(v) for v in ours], numpy_loss(h, labels, 9.0, 0.05, rows=10), rtol=1e-5)


@pytest.mark.parametrize("multi_label", [False, True])
def test_gradient_equals_the_caffe_layer(multi_label):
    """Rows and columns are the same tensor (one device): the row path and the column path together
    give the authors' backward pass; the value is half the layer's pair value plus its regulariser."""
    rng = np.random.default_rng(2)
    h, labels = random_batch(rng, rows=8, multi_label=multi_label)
    margin = 2.0 * h.shape[1]
    d2 = np.sum((h[:, None] - h[None]) ** 2, -1)[np.triu_indices(len(h), 1)]
    dissimilar = (labels @ labels.T == 0)[np.triu_indices(len(h), 1)]
    assert np.any(dissimilar & (d2 < margin)) and np.any(dissimilar & (d2 > margin))  # both hinge sides
    value, gradient = tf_value_and_gradient(DSHLoss(), h, labels)
    official_value, official_gradient = caffe_layer(h, labels, margin, 0.01)
    np.testing.assert_allclose(gradient, official_gradient, rtol=1e-5, atol=1e-7)
    official_regularizer = 0.01 * np.abs(np.abs(h) - 1).sum() / len(h)
    expected = (official_value - official_regularizer) / 2 + official_regularizer
    assert value == pytest.approx(expected, rel=1e-5)


def test_gradient_matches_finite_differences_of_the_reference():
    rng = np.random.default_rng(3)
    h, labels = random_batch(rng, rows=5, bits=4)
    _, gradient = tf_value_and_gradient(DSHLoss(alpha=0.1), h, labels)
    step, numeric = 1e-6, np.zeros_like(h)
    for index in np.ndindex(h.shape):
        shift = np.zeros_like(h)
        shift[index] = step
        plus = numpy_loss(h + shift, labels, 8.0, 0.1)[0]
        minus = numpy_loss(h - shift, labels, 8.0, 0.1)[0]
        numeric[index] = (plus - minus) / (2 * step)
    np.testing.assert_allclose(gradient, numeric, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("multi_label", [False, True])
def test_replicas_add_up_to_the_global_batch(multi_label):
    """Two replicas with 3 and 5 of the 8 rows: losses, terms and gradients add up to one device's."""
    rng = np.random.default_rng(4)
    h, labels = random_batch(rng, rows=8, multi_label=multi_label)
    labels = tf.constant(labels, "float32")
    whole, split = in_batch_whole_and_split(DSHLoss(alpha=0.2), h, labels, (np.arange(3), np.arange(3, 8)))
    assert float(split[0]) == pytest.approx(float(whole[0]), rel=1e-6)
    for k in range(2):
        assert float(split[1][k]) == pytest.approx(float(whole[1][k]), rel=1e-6)
    np.testing.assert_allclose(split[2], whole[2], rtol=1e-5, atol=1e-7)


def test_default_margin_is_twice_the_bits():
    rng = np.random.default_rng(5)
    h, labels = random_batch(rng, bits=5)
    assert float(DSHLoss()(labels, h)) == pytest.approx(float(DSHLoss(margin=10.0)(labels, h)), rel=1e-6)
    assert float(DSHLoss()(labels, h)) != pytest.approx(float(DSHLoss(margin=9.0)(labels, h)), rel=1e-6)


def test_keras_call_is_the_in_batch_form():
    rng = np.random.default_rng(6)
    h, labels = random_batch(rng)
    expected = numpy_loss(h, labels, 12.0, 0.01)[0]
    value = DSHLoss()(labels.astype("float32"), h.astype("float32"))
    assert float(value) == pytest.approx(expected, rel=1e-5)
    assert DSHLoss.columns == "batch" and DSHLoss.terms == ("pairs", "regularizer")


def test_round_trips_its_hyper_parameters():
    for loss in (DSHLoss(margin=7.5, alpha=0.3), DSHLoss()):
        restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
        assert isinstance(restored, DSHLoss)
        assert (restored.margin, restored.alpha) == (loss.margin, loss.alpha)
        assert DSHLoss.from_config(loss.get_config()).get_config() == loss.get_config()


@pytest.mark.parametrize("kwargs", [{"margin": 0.0}, {"margin": -1.0}, {"alpha": -0.1}])
def test_validates(kwargs):
    with pytest.raises(ValueError):
        DSHLoss(**kwargs)


def test_same_value_and_gradient_on_jax(tmp_path):
    """keras.ops only: on JAX (TensorFlow not importable) the loss and its jax.grad equal TensorFlow's."""
    rng = np.random.default_rng(7)
    h, labels = random_batch(rng, multi_label=True)
    value, gradient = tf_value_and_gradient(DSHLoss(alpha=0.1), h, labels)
    body = """
        import jax, keras
        from dmrh_tf.methods.dsh_loss import DSHLoss
        assert keras.backend.backend() == "jax"
        loss = DSHLoss(alpha=0.1)
        value, gradient = jax.value_and_grad(lambda h: loss(inputs["labels"], h))(inputs["h"])
        print(json.dumps({"value": float(value), "gradient": np.asarray(gradient).tolist()}))
        """
    on_jax = run_without_tensorflow(tmp_path, body, h=h.astype("float32"), labels=labels.astype("float32"))
    assert on_jax["value"] == pytest.approx(value, rel=1e-5)
    np.testing.assert_allclose(on_jax["gradient"], gradient, rtol=1e-5, atol=1e-7)
