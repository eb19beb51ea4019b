"""FSSH: its closed-form steps against finite differences of the objective with S formed explicitly, the
n × n-free SY against S @ Y, the codes, and retrieval on labelled clusters."""

import numpy as np
import pytest

from dmrh_tf.evaluation import map_at_k
from dmrh_tf.evaluation.baselines import FSSH, LSH, fit_baseline
from dmrh_tf.evaluation.baselines.fssh import (
    fssh_b_step,
    fssh_g_step,
    fssh_objective,
    fssh_w_step,
    label_matrix,
    similarity_times_labels,
)

MU, THETA = 1e4, 0.01


def explicit_similarity(Y):
    """S [n, n] = +1 where rows share a label, else −1, pair by pair."""
    return np.array([[1.0 if np.any((a > 0) & (b > 0)) else -1.0 for b in Y] for a in Y])


def explicit_objective(X, Y, S, B, G, W, mu=MU, theta=THETA):
    return (
        np.sum((S - X @ W @ G.T @ Y.T) ** 2)
        + mu * np.sum((B - Y @ G) ** 2)
        + theta * np.sum((B - X @ W) ** 2)
    )


def numeric_gradient(f, M, step=1e-5):
    gradient = np.zeros_like(M)
    for index in np.ndindex(M.shape):
        plus, minus = M.copy(), M.copy()
        plus[index] += step
        minus[index] -= step
        gradient[index] = (f(plus) - f(minus)) / (2 * step)
    return gradient


def tiny(seed=0, n=60, d=8, c=4, bits=5):
    """The reference doc's tiny test: n = 60, d = 8, c = 4, K = 5, single-label, standardised X."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    Y = np.eye(c)[rng.integers(0, c, n)]
    return X, Y, rng.standard_normal((c, bits)), rng.standard_normal((d, bits)), rng


@pytest.mark.parametrize("ridge, tolerance", [(0.0, 1e-9), (1e-9, 1e-7)])
def test_g_and_w_steps_zero_the_finite_difference_gradients(ridge, tolerance):
    """At the new G (given B, W) the objective's finite-difference gradient in G vanishes, and at the new
    W (given B, G), relative to the gradient's size at the old values (≈ 3·10⁵ and 10⁴; about 10⁻¹¹ of
    it without the ridge; moving W by 10⁻⁶ already gives 4·10⁻⁷). The S of the objective is explicit."""
    X, Y, G, W, _ = tiny()
    S = explicit_similarity(Y)
    A = X.T @ S @ Y
    B = fssh_b_step(X, Y, G, W, MU, THETA)
    G_new = fssh_g_step(Y, A, B, W, X.T @ X, Y.T @ Y, MU, ridge)
    grad_g = numeric_gradient(lambda g: explicit_objective(X, Y, S, B, g, W), G_new)
    scale_g = np.abs(numeric_gradient(lambda g: explicit_objective(X, Y, S, B, g, W), G)).max()
    assert np.abs(grad_g).max() < tolerance * scale_g
    W_new = fssh_w_step(X, A, B, G_new, X.T @ X, Y.T @ Y, THETA, ridge)
    grad_w = numeric_gradient(lambda w: explicit_objective(X, Y, S, B, G_new, w), W_new)
    scale_w = np.abs(numeric_gradient(lambda w: explicit_objective(X, Y, S, B, G_new, w), W)).max()
    assert np.abs(grad_w).max() < tolerance * scale_w


def test_b_step_is_the_best_sign_matrix():
    """The objective is separable in B's entries: no single flip of the B-step's result lowers it."""
    X, Y, G, W, _ = tiny()
    S = explicit_similarity(Y)
    B = fssh_b_step(X, Y, G, W, MU, THETA)
    base = explicit_objective(X, Y, S, B, G, W)
    for index in [(0, 0), (7, 3), (59, 4), (30, 1)]:
        flipped = B.copy()
        flipped[index] *= -1
        assert explicit_objective(X, Y, S, flipped, G, W) > base


def test_objective_without_s_matches_the_explicit_one():
    X, Y, G, W, rng = tiny()
    S = explicit_similarity(Y)
    B = np.where(rng.random((60, 5)) < 0.5, 1.0, -1.0)
    ours = fssh_objective(X, Y, X.T @ similarity_times_labels(Y), B, G, W, MU, THETA)
    assert ours == pytest.approx(explicit_objective(X, Y, S, B, G, W), rel=1e-10)


def test_single_label_identity_equals_s_times_y():
    """SY = 2Y(YᵀY) − 1(1ᵀY) for one-hot Y (the tiny test), against the explicit S @ Y."""
    _, Y, _, _, _ = tiny()
    np.testing.assert_allclose(similarity_times_labels(Y), explicit_similarity(Y) @ Y, atol=1e-12)


def test_multi_label_chunks_equal_s_times_y():
    """Thresholded S = 2·[YYᵀ > 0] − 1 in chunks of 7 rows (9 chunks, the last partial) and in one."""
    Y = (np.random.default_rng(2).random((60, 5)) < 0.35).astype(float)
    expected = explicit_similarity(Y) @ Y
    np.testing.assert_allclose(similarity_times_labels(Y, chunk_rows=7), expected, atol=1e-12)
    np.testing.assert_allclose(similarity_times_labels(Y), expected, atol=1e-12)


def test_label_matrix_accepts_ids_and_hot_rows_and_drops_absent_classes():
    np.testing.assert_array_equal(label_matrix(np.array([3, 1, 3])), [[0, 1], [1, 0], [0, 1]])
    np.testing.assert_array_equal(label_matrix(np.array([[0, 1, 0], [0, 1, 1.0]])), [[1, 0], [1, 1]])


def clustered(seed=0, n=600, dim=32, classes=4, spread=0.5):
    """Labelled Gaussian clusters, close together (centres N(0, 0.25 I), unit noise): the labels matter."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, spread, (classes, dim))
    labels = rng.integers(0, classes, n)
    return centres[labels] + rng.normal(0.0, 1.0, (n, dim)), labels


def test_codes_shape_determinism_and_training_statistics():
    features, labels = clustered(n=200)
    model = FSSH.fit(features[:150], 12, seed=1, labels=labels[:150], anchors=100)
    codes = model.encode(features[150:])
    assert model.bits == 12 and codes.shape == (50, 12) and codes.dtype == np.int8
    assert set(np.unique(codes)) <= {-1, 1}
    assert (
        model.codes.shape == (150, 12) and model.codes.dtype == np.int8 and model.anchors.shape == (100, 32)
    )
    again = FSSH.fit(features[:150], 12, seed=1, labels=np.eye(4)[labels[:150]], anchors=100)
    np.testing.assert_array_equal(again.encode(features[150:]), codes)  # seed-deterministic; ids = one-hot
    np.testing.assert_array_equal(model.encode(features[150:155]), codes[:5])  # no statistics of the queries
    assert np.all(np.diff(model.objectives) <= 1e-9 * model.objectives[0])  # exact block minimisers
    other = FSSH.fit(features[:150], 12, seed=2, labels=labels[:150], anchors=100)
    assert not np.array_equal(other.anchors, model.anchors)


def test_sigma_defaults_to_the_mean_anchor_distance():
    """All 5 rows are anchors (anchors ≥ n): σ = the mean of the 25 distances, 0 on the diagonal; here the
    points 0, 1, 2, 3, 4 on a line: Σ|i − j| = 2·(4·1 + 3·2 + 2·3 + 1·4) = 40, σ = 40/25 = 1.6."""
    features = np.arange(5.0)[:, None]
    model = FSSH.fit(features, 2, labels=np.array([0, 0, 1, 1, 1]))
    assert model.sigma == pytest.approx(1.6) and len(model.anchors) == 5
    assert FSSH.fit(features, 2, labels=np.array([0, 0, 1, 1, 1]), sigma=0.4).sigma == 0.4


def test_beats_lsh_and_chance_on_labelled_clusters():
    """Four overlapping classes: chance mAP ≈ 0.25, LSH ≈ 0.45 (seed 0), FSSH ≈ 0.85 with its labels."""
    features, labels = clustered()
    scores = {}
    for model in (FSSH.fit(features[:400], 16, labels=labels[:400]), LSH.fit(features[:400], 16)):
        query, database = model.encode(features[400:]), model.encode(features[:400])
        scores[type(model).__name__] = map_at_k(query, database, labels[400:], labels[:400], 100)
    assert scores["FSSH"] > 0.7 and scores["FSSH"] > scores["LSH"] + 0.2


def test_needs_labels():
    features, labels = clustered(n=20)
    with pytest.raises(ValueError, match="supervised"):
        FSSH.fit(features, 4)
    with pytest.raises(ValueError, match="supervised"):
        fit_baseline("fssh", features, 4)
    with pytest.raises(ValueError, match="labels for"):
        FSSH.fit(features, 4, labels=labels[:10])
    assert fit_baseline("FSSH", features, 4, labels=labels).bits == 4
