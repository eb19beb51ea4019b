"""DCHLoss against NumPy references (the paper's form as DeepHash-pytorch writes it, restricted to
off-diagonal pairs; a port of the official TF code's `cauchy_cross_entropy`), finite differences
and hand-checked cases; its numerical guards; the split over replicas; serialization; JAX."""

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

from dmrh_tf.methods.dch_loss import DCHLoss, dch_loss

LOG2 = np.log(2.0)


def numpy_paper(h, labels, gamma, weight):
    """The paper's form: w·[s log(d/γ) + log(1 + γ/d)] averaged over the off-diagonal pairs, w =
    |S|/|S₁| (similar) or |S|/|S₀| (dissimilar), 1 if one kind is absent; λ·mean log(1 + d(|h|, 1)/γ)."""
    rows, bits = h.shape
    norms = np.linalg.norm(h, axis=1)
    cosine = np.minimum(h @ h.T / np.maximum(np.outer(norms, norms), 1e-4), 0.99)
    d = bits / 2 * (1 - cosine)
    s = labels @ labels.T > 0
    ell = s * np.log(d / gamma) + np.log(1 + gamma / d)
    off = ~np.eye(rows, dtype=bool)
    similar, dissimilar = s[off].sum(), (~s)[off].sum()
    w = 1.0
    if similar and dissimilar:
        w = np.where(s, off.sum() / similar, off.sum() / dissimilar)
    cauchy = np.mean((w * ell)[off])
    to_ones = np.minimum(np.abs(h).sum(1) / np.maximum(norms * np.sqrt(bits), 1e-4), 0.99)
    quantization = np.mean(np.log(1 + bits / 2 * (1 - to_ones) / gamma))
    return cauchy + weight * quantization, cauchy, quantization


def numpy_official(h, labels, gamma, q_lambda):
    """A port of thulab/DeepHash @ 9907613 `DCH.cauchy_cross_entropy(normed=False)` and its q_loss,
    on u = tanh(h) (`with_tanh`)."""
    u = np.tanh(h)
    r_u = np.sum(u * u, 1).reshape(-1, 1)
    dist = r_u - 2 * u @ u.T + r_u.T + 0.001
    cauchy = gamma / (dist + gamma)
    s = np.clip(labels @ labels.T, 0.0, 1.0)
    s_t = (s - 0.5) * 2.0
    balance = np.abs(s - 1.0) + np.abs(s_t).sum() / s.sum() * s
    mask = np.eye(len(u)) == 0
    all_loss = -s[mask] * np.log(cauchy[mask]) - (1.0 - s[mask]) * np.log(1.0 - cauchy[mask])
    cos_loss = np.mean(all_loss * balance[mask])
    q_loss = np.mean(np.square(np.abs(u) - 1.0))
    return cos_loss + q_lambda * q_loss, cos_loss, q_loss


REFERENCES = {"cosine": numpy_paper, "euclidean_tanh": numpy_official}


def test_tiny_cosine_pairs_at_gamma_give_log_2_times_w():
    """h = 2·e₁, 3·e₂, e₃ (K = 3) are orthogonal: cos = 0, d = (3/2)(1 − 0) = 1.5 = γ for every pair,
    so ℓ = log(1 + 1) = log 2 whether similar or not. Rows 1, 2 share a label, row 3 none: |S| = 6
    ordered pairs, |S₁| = 2 (w = 3), |S₀| = 4 (w = 3/2): cauchy = (2·3 + 4·3/2)·log 2 / 6 = 2 log 2
    (the mean over similar plus the mean over dissimilar). Only rows 1, 2 (one kind): w = 1 → log 2.
    Quantization: cos(|e_k|, 1) = 1/√3 → d = 1.5(1 − 1/√3) for each row → log(1 + d/1.5) = log(2 − 1/√3)."""
    h = np.array([[2.0, 0, 0], [0, 3.0, 0], [0, 0, 1.0]])
    labels = np.array([[1.0, 0], [1.0, 0], [0, 1.0]])
    loss, cauchy, quantization = dch_loss(h, labels, h, labels, gamma=1.5, quantization_weight=0.5)
    assert float(cauchy) == pytest.approx(2 * LOG2, rel=1e-6)
    assert float(quantization) == pytest.approx(np.log(2 - 1 / np.sqrt(3)), rel=1e-6)
    assert float(loss) == pytest.approx(2 * LOG2 + 0.5 * np.log(2 - 1 / np.sqrt(3)), rel=1e-6)
    _, cauchy, _ = dch_loss(h[:2], labels[:2], h[:2], labels[:2], gamma=1.5)
    assert float(cauchy) == pytest.approx(LOG2, rel=1e-6)


def test_tiny_euclidean_pairs_at_gamma_give_log_2_times_w():
    """u = tanh h = ½e₁, ½e₂, ½e₃: ‖u_i − u_j‖² = ½, d = ½ + 10⁻³ = γ for every pair → ℓ = log 2.
    Official weights, rows 1, 2 similar, row 3 not: #similar with the diagonal = 3 + 2 = 5, B² = 9,
    so w = 9/5 for the 2 similar ordered pairs and 1 for the 4 dissimilar ones:
    cauchy = (2·9/5 + 4)·log 2 / 6 = (19/15) log 2. Quantization: (|u| − 1)² = [¼, 1, 1] per row →
    mean ¾."""
    h = np.arctanh(0.5) * np.eye(3)
    labels = np.array([[1.0, 0], [1.0, 0], [0, 1.0]])
    loss, cauchy, quantization = dch_loss(
        h, labels, h, labels, gamma=0.501, quantization_weight=0.2, distance="euclidean_tanh"
    )
    assert float(cauchy) == pytest.approx(19 / 15 * LOG2, rel=1e-5)
    assert float(quantization) == pytest.approx(0.75, rel=1e-6)
    assert float(loss) == pytest.approx(19 / 15 * LOG2 + 0.2 * 0.75, rel=1e-5)
    assert float(numpy_official(h, labels, 0.501, 0.2)[0]) == pytest.approx(float(loss), rel=1e-5)


@pytest.mark.parametrize("distance", ["cosine", "euclidean_tanh"])
@pytest.mark.parametrize("multi_label", [False, True])
def test_matches_numpy_reference(distance, multi_label):
    rng = np.random.default_rng(1)
    h, labels = random_batch(rng, rows=7, multi_label=multi_label)
    ours = dch_loss(h, labels, h, labels, gamma=3.0, quantization_weight=0.3, distance=distance)
    expected = REFERENCES[distance](h, labels, 3.0, 0.3)
    np.testing.assert_allclose([float(v) for v in ours], expected, rtol=1e-5)


@pytest.mark.parametrize("distance", ["cosine", "euclidean_tanh"])
def test_gradient_matches_finite_differences_of_the_reference(distance):
    """Rows and columns are one tensor (one device): autograd sums the row and the column paths, the
    gradient of the whole-batch loss that the references compute."""
    rng = np.random.default_rng(2)
    h, labels = random_batch(rng, rows=5, bits=4)
    loss = DCHLoss(gamma=2.0, quantization_weight=0.5, distance=distance)
    _, gradient = tf_value_and_gradient(loss, h, labels)
    step, numeric = 1e-6, np.zeros_like(h)
    for index in np.ndindex(h.shape):
        shift = np.zeros_like(h)
        shift[index] = step
        plus = REFERENCES[distance](h + shift, labels, 2.0, 0.5)[0]
        minus = REFERENCES[distance](h - shift, labels, 2.0, 0.5)[0]
        numeric[index] = (plus - minus) / (2 * step)
    np.testing.assert_allclose(gradient, numeric, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("distance", ["cosine", "euclidean_tanh"])
def test_one_kind_of_pair_is_a_plain_mean(distance):
    """All rows share a label: the cosine form's w = 1, the official w = B²/B² = 1; cauchy is the
    mean of log(1 + d/γ) over the off-diagonal pairs."""
    rng = np.random.default_rng(3)
    h, _ = random_batch(rng, rows=5)
    labels = np.ones((5, 1))
    _, cauchy, _ = dch_loss(h, labels, h, labels, gamma=4.0, distance=distance)
    if distance == "cosine":
        norms = np.linalg.norm(h, axis=1)
        d = 3 * (1 - np.minimum(h @ h.T / np.outer(norms, norms), 0.99))
    else:
        u = np.tanh(h)
        d = np.sum((u[:, None] - u[None]) ** 2, -1) + 1e-3
    expected = np.log1p(d / 4.0)[~np.eye(5, dtype=bool)].mean()
    assert float(cauchy) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("distance", ["cosine", "euclidean_tanh"])
def test_finite_for_zero_and_repeated_rows(distance):
    """A zero row (norm guard), two identical rows (cos clipped at 0.99, d = 0.005·K; or d = 10⁻³) and
    an unlabelled row (no similar pair, not even with itself): finite loss and gradient."""
    h = np.array([[0.0, 0, 0, 0], [1, -2, 3, 0.5], [1, -2, 3, 0.5], [-1, 1, 0.2, 2]])
    labels = np.array([[1.0, 0], [0, 1], [0, 1], [0, 0]])
    value, gradient = tf_value_and_gradient(DCHLoss(distance=distance), h, labels)
    assert np.isfinite(value) and np.all(np.isfinite(gradient))
    assert value == pytest.approx(REFERENCES[distance](h, labels, 20.0, 0.1)[0], rel=1e-5)


@pytest.mark.parametrize("distance", ["cosine", "euclidean_tanh"])
def test_replicas_add_up_to_the_global_batch(distance):
    """Two replicas with 3 and 5 of the 8 rows; the first holds one class only, so pair counts taken
    from a replica's rows would give it other weights: losses, terms and gradients add up to one
    device's only if the counts come from the global batch."""
    rng = np.random.default_rng(4)
    h, _ = random_batch(rng, rows=8)
    labels = tf.constant(np.eye(3)[[0, 0, 0, 1, 2, 1, 0, 2]], "float32")
    loss = DCHLoss(gamma=3.0, quantization_weight=0.4, distance=distance)
    whole, split = in_batch_whole_and_split(loss, h, labels, (np.arange(3), np.arange(3, 8)))
    assert float(split[0]) == pytest.approx(float(whole[0]), rel=1e-6)
    for k in range(2):
        assert float(split[1][k]) == pytest.approx(float(whole[1][k]), rel=1e-6)
    np.testing.assert_allclose(split[2], whole[2], rtol=1e-5, atol=1e-7)


def test_cosine_form_is_scale_invariant_in_its_pair_term():
    rng = np.random.default_rng(5)
    h, labels = random_batch(rng)
    _, cauchy, _ = dch_loss(h, labels, h, labels)
    _, scaled, _ = dch_loss(7 * h, labels, 7 * h, labels)
    assert float(scaled) == pytest.approx(float(cauchy), rel=1e-5)


def test_keras_call_is_the_in_batch_form():
    rng = np.random.default_rng(6)
    h, labels = random_batch(rng)
    for distance, reference in REFERENCES.items():
        value = DCHLoss(distance=distance)(labels.astype("float32"), h.astype("float32"))
        assert float(value) == pytest.approx(reference(h, labels, 20.0, 0.1)[0], rel=1e-5)
    assert DCHLoss.columns == "batch" and DCHLoss.terms == ("cauchy", "quantization")


def test_round_trips_its_hyper_parameters():
    for loss in (DCHLoss(gamma=30.0, quantization_weight=0.0, distance="euclidean_tanh"), DCHLoss()):
        restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
        assert isinstance(restored, DCHLoss)
        assert (restored.gamma, restored.quantization_weight, restored.distance) == (
            loss.gamma,
            loss.quantization_weight,
            loss.distance,
        )
        assert DCHLoss.from_config(loss.get_config()).get_config() == loss.get_config()


@pytest.mark.parametrize(
    "kwargs", [{"gamma": 0.0}, {"gamma": -1.0}, {"quantization_weight": -0.1}, {"distance": "hamming"}]
)
def test_validates(kwargs):
    with pytest.raises(ValueError):
        DCHLoss(**kwargs)


def test_same_values_and_gradients_on_jax(tmp_path):
    """keras.ops only: on JAX (TensorFlow not importable) both forms and their jax.grad equal TensorFlow's."""
    rng = np.random.default_rng(7)
    h, labels = random_batch(rng, multi_label=True)
    expected = {d: tf_value_and_gradient(DCHLoss(gamma=3.0, distance=d), h, labels) for d in REFERENCES}
    body = """
        import jax, keras
        from dmrh_tf.methods.dch_loss import DCHLoss
        assert keras.backend.backend() == "jax"
        results = {}
        for distance in ("cosine", "euclidean_tanh"):
            loss = DCHLoss(gamma=3.0, distance=distance)
            value, gradient = jax.value_and_grad(lambda h: loss(inputs["labels"], h))(inputs["h"])
            results[distance] = [float(value), np.asarray(gradient).tolist()]
        print(json.dumps(results))
        """
    on_jax = run_without_tensorflow(tmp_path, body, h=h.astype("float32"), labels=labels.astype("float32"))
    for distance, (value, gradient) in expected.items():
        assert on_jax[distance][0] == pytest.approx(value, rel=1e-5)
        np.testing.assert_allclose(on_jax[distance][1], gradient, rtol=1e-5, atol=1e-7)
