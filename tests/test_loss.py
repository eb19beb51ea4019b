"""DMRHLoss against a NumPy reference and hand-checked values; memory semantics; serialization."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from dmrh_tf import DMRHLoss, dpsh_loss
from dmrh_tf.methods import pairwise_similarity
from dmrh_tf.training.hashing_trainer import write_rows


def numpy_loss(h, labels, bank_h, bank_labels, eta, rows=None):
    """The naive (unstable) form log(1 + e^Θ) − sΘ, fine for small Θ."""
    theta = 0.5 * h @ bank_h.T
    s = (labels @ bank_labels.T > 0).astype(float)
    rows = len(h) if rows is None else rows
    likelihood = np.sum(np.log1p(np.exp(theta)) - s * theta) / (rows * len(bank_h))
    b = np.where(h > 0, 1.0, -1.0)
    quantization = np.sum((b - h) ** 2) / (rows * h.shape[1])
    return likelihood + eta * quantization, likelihood, quantization


def test_hand_checked_case():
    """h = [1, 1] against H = {[1, 1] (shares a label), [−1, −1] (does not)}:
    Θ = ½·[2, −2] = [1, −1], s = [1, 0];
    terms: log(1+e) − 1 = log(1+e^{−1}) and log(1+e^{−1}) − 0 → mean = log(1 + e^{−1}) ≈ 0.3133;
    b = sign(h) = h → quantization 0; loss = 0.3133 whatever η."""
    h = np.array([[1.0, 1.0]], "float32")
    bank = np.array([[1.0, 1.0], [-1.0, -1.0]], "float32")
    labels = np.array([[1.0, 0.0]], "float32")
    bank_labels = np.array([[1.0, 0.0], [0.0, 1.0]], "float32")
    loss, likelihood, quantization = dpsh_loss(h, labels, bank, bank_labels, eta=0.5)
    assert float(likelihood) == pytest.approx(np.log1p(np.exp(-1.0)), rel=1e-6)
    assert float(quantization) == 0.0 and float(loss) == pytest.approx(float(likelihood))


def test_quantization_hand_checked():
    """h = [0.5, 0, −2]: b = [1, −1, −1] (0 → −1); (b−h)² = [0.25, 1, 1] → mean 0.75; ×η = 0.1."""
    h = np.array([[0.5, 0.0, -2.0]], "float32")
    labels = np.ones((1, 1), "float32")
    _, _, quantization = dpsh_loss(h, labels, np.zeros_like(h), labels, eta=0.1)
    assert float(quantization) == pytest.approx(0.75)


@pytest.mark.parametrize("multi_label", [False, True])
def test_matches_numpy_reference(multi_label):
    rng = np.random.default_rng(0)
    h = rng.normal(0, 1.5, (4, 6)).astype("float32")
    bank = rng.normal(0, 1.5, (9, 6)).astype("float32")
    if multi_label:
        labels = (rng.random((4, 5)) < 0.3).astype("float32")
        bank_labels = (rng.random((9, 5)) < 0.3).astype("float32")
    else:
        labels = np.eye(3, dtype="float32")[rng.integers(0, 3, 4)]
        bank_labels = np.eye(3, dtype="float32")[rng.integers(0, 3, 9)]
    ours = dpsh_loss(h, labels, bank, bank_labels, eta=0.02, num_rows=8)
    reference = numpy_loss(h, labels, bank, bank_labels, 0.02, rows=8)
    np.testing.assert_allclose([float(v) for v in ours], reference, rtol=1e-5)


def test_stable_for_large_theta():
    h = np.full((2, 64), 40.0, "float32")
    labels = np.array([[1.0, 0.0], [0.0, 1.0]], "float32")
    loss, likelihood, _ = dpsh_loss(h, labels, h, labels)
    # dissimilar pair: Θ = ½·64·1600 = 51200 → term ≈ Θ; similar pair → ≈ 0. Finite, no overflow.
    assert np.isfinite(float(loss))
    assert float(likelihood) == pytest.approx(51200 * 2 / 4, rel=1e-6)


def test_similarity_shares_at_least_one_label():
    a = np.array([[1, 0, 1], [0, 1, 0]], "float32")
    b = np.array([[0, 0, 1], [1, 1, 0], [0, 0, 0]], "float32")
    np.testing.assert_array_equal(pairwise_similarity(a, b), [[1, 1, 0], [0, 1, 0]])


def test_no_gradient_flows_into_the_memory():
    """With the batch's rows written into the memory as constants, dL/dh_i is the analytic
    1/(B·n) Σ_j (σ(Θ_ij) − s_ij)·½ H_j + η·2(h_i − b_i)/(B·K), not twice-counted for its own row."""
    rng = np.random.default_rng(3)
    memory = tf.constant(rng.normal(size=(6, 4)).astype("float32"))
    memory_labels = np.eye(2, dtype="float32")[rng.integers(0, 2, 6)]
    rows = tf.constant([1, 4])
    h = tf.Variable(rng.normal(size=(2, 4)).astype("float32"))
    labels = memory_labels[[1, 4]]
    with tf.GradientTape(persistent=True) as tape:
        bank = write_rows(memory, rows, h)
        loss, _, _ = dpsh_loss(h, labels, bank, memory_labels, eta=0.3)
    assert tape.gradient(loss, memory) is None or not np.any(tape.gradient(loss, memory))
    bank = bank.numpy()
    theta = 0.5 * h.numpy() @ bank.T
    s = (labels @ memory_labels.T > 0).astype(float)
    sigma = 1 / (1 + np.exp(-theta))
    expected = ((sigma - s) @ bank) * 0.5 / (2 * 6)
    expected += 0.3 * 2 * (h.numpy() - np.where(h.numpy() > 0, 1, -1)) / (2 * 4)
    np.testing.assert_allclose(tape.gradient(loss, h), expected, rtol=1e-5, atol=1e-7)


def test_loss_class_round_trips_eta_and_mode():
    loss = DMRHLoss(eta=0.25, mode="batch")
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert isinstance(restored, DMRHLoss) and (restored.eta, restored.mode) == (0.25, "batch")
    assert DMRHLoss.from_config(loss.get_config()).eta == 0.25


def test_loss_class_is_the_in_batch_form():
    rng = np.random.default_rng(4)
    h = rng.normal(size=(5, 8)).astype("float32")
    labels = np.eye(3, dtype="float32")[rng.integers(0, 3, 5)]
    expected = numpy_loss(h, labels, h, labels, 0.1)[0]
    assert float(DMRHLoss(eta=0.1)(labels, h)) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("kwargs", [{"eta": -1.0}, {"mode": "pairs"}])
def test_loss_class_validates(kwargs):
    with pytest.raises(ValueError):
        DMRHLoss(**kwargs)


def test_loss_survives_a_keras_file_round_trip(tmp_path):
    """η and the mode travel with a compiled model's `.keras` file (a loss missing them from its
    config would silently reset to the defaults on reload)."""
    from dmrh_tf import build_model

    model = build_model(bits=8, regions=1, width=1 / 32)
    model.compile(optimizer="sgd", loss={"h": DMRHLoss(eta=0.3, mode="batch")})
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    loss = restored.loss["h"] if isinstance(restored.loss, dict) else restored.loss
    assert isinstance(loss, DMRHLoss) and (loss.eta, loss.mode) == (0.3, "batch")
