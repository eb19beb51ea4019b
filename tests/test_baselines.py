"""The non-deep baselines (LSH, SH, SKLSH, PCAH, ITQ, FSSH) on data where their behaviour is known
(FSSH's own tests: test_baseline_fssh.py)."""

import numpy as np
import pytest

from dmrh_tf.evaluation import map_at_k
from dmrh_tf.evaluation.baselines import (
    BASELINES,
    ITQ,
    LSH,
    PCAH,
    SH,
    SKLSH,
    SUPERVISED,
    fit_baseline,
    pixel_features,
)


def clustered(seed=0, n=600, dim=32, classes=4):
    """Gaussian clusters: centres N(0, 9 I), unit noise; returns features and labels."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 3.0, (classes, dim))
    labels = rng.integers(0, classes, n)
    return centres[labels] + rng.normal(0.0, 1.0, (n, dim)), labels


def fit(name, features, bits, seed, labels):
    """`BASELINES[name]`, with the labels for the supervised ones."""
    extra = {"labels": labels} if name in SUPERVISED else {}
    return BASELINES[name](features, bits, seed=seed, **extra)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_common_interface(name):
    features, labels = clustered(n=200)
    model = fit(name, features, 12, 3, labels)
    codes = model.encode(features[:50])
    assert model.bits == 12
    assert codes.shape == (50, 12) and codes.dtype == np.int8
    assert set(np.unique(codes)) <= {-1, 1}
    # fit_baseline: any case; the labels go to the supervised ones and are ignored by the rest
    again = fit_baseline(name.upper(), features, 12, seed=3, labels=labels).encode(features[:50])
    np.testing.assert_array_equal(codes, again)  # deterministic for a seed
    with pytest.raises(ValueError, match="dimensions"):
        model.encode(features[:5, :10])


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_beats_chance_on_clustered_data(name):
    """Four well-separated classes: a random ranking has mAP ≈ 1/4; every method does far better."""
    features, labels = clustered()
    model = fit(name, features[:400], 16, 0, labels[:400])
    value = map_at_k(
        model.encode(features[400:]), model.encode(features[:400]), labels[400:], labels[:400], 100
    )
    assert value > 0.5


def test_lsh_bits_differ_with_probability_angle_over_pi():
    """Charikar: P[bit(u) ≠ bit(v)] = θ/π. Here θ = π/3, so over 4096 bits the normalised
    Hamming distance is 1/3 ± 0.03 (4 standard deviations). The training data (±e_1, ±e_2)
    has mean 0, so codes are signs of the raw projections.
    """
    train = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    model = LSH.fit(train, 4096, seed=0)
    u, v = np.array([[1.0, 0.0]]), np.array([[np.cos(np.pi / 3), np.sin(np.pi / 3)]])
    assert np.mean(model.encode(u) != model.encode(v)) == pytest.approx(1 / 3, abs=0.03)
    np.testing.assert_array_equal(model.encode(-u), -model.encode(u))  # opposite → complement


def test_lsh_codes_are_balanced_on_centered_data():
    """Hyperplanes through the mean of an isotropic Gaussian halve it: each bit is +1 for
    50% ± 10% of 2,000 points (the standard deviation is about 1.1%)."""
    features = np.random.default_rng(1).normal(size=(2000, 16))
    share = (LSH.fit(features, 32, seed=0).encode(features) > 0).mean(axis=0)
    assert np.all(np.abs(share - 0.5) < 0.1)
    assert abs(share.mean() - 0.5) < 0.02


def test_pcah_first_bit_is_the_sign_along_the_dominant_direction():
    """Data stretched 10× along u = (1, 2, 2)/3: the first principal direction is ±u, fixed to
    +u (largest entry positive), so bit 0 = sign((x − μ)·u) exactly for points off the plane."""
    rng = np.random.default_rng(0)
    u = np.array([1.0, 2.0, 2.0]) / 3.0
    features = 10.0 * rng.normal(size=(500, 1)) * u + rng.normal(size=(500, 3))
    model = PCAH.fit(features, 2)
    np.testing.assert_allclose(model.components[:, 0], u, atol=0.02)
    np.testing.assert_allclose(model.components.T @ model.components, np.eye(2), atol=1e-12)
    projection = (features - model.mean) @ model.components[:, 0]
    np.testing.assert_array_equal(model.encode(features)[:, 0], np.where(projection > 0, 1, -1))
    with pytest.raises(ValueError, match="at most 3"):
        PCAH.fit(features, 4)


def test_itq_rotation_is_orthogonal_and_lowers_quantization_error():
    """ITQ's alternating updates never increase ‖B − V R‖²; from PCAH's R = I the error is
    higher (clustered data; variance is unevenly spread over PCA directions)."""
    features, _ = clustered()
    itq = ITQ.fit(features, 16, seed=0)
    pcah = PCAH.fit(features, 16)
    rotation = itq.rotation
    np.testing.assert_allclose(rotation.T @ rotation, np.eye(16), atol=1e-10)
    assert np.all(np.diff(itq.losses) <= 1e-9 * itq.losses[0])
    np.testing.assert_allclose(itq.components, pcah.components)
    projected = (features - pcah.mean) @ pcah.components
    pcah_loss = np.sum((pcah.encode(features) - projected) ** 2)
    assert itq.losses[-1] < 0.9 * pcah_loss
    rotated = projected @ rotation
    np.testing.assert_array_equal(itq.encode(features), np.where(rotated > 0, 1, -1))


def test_itq_beats_pcah_on_clustered_data():
    features, labels = clustered()
    scores = {}
    for model in (ITQ.fit(features[:400], 16, seed=0), PCAH.fit(features[:400], 16)):
        query, database = model.encode(features[400:]), model.encode(features[:400])
        scores[type(model).__name__] = map_at_k(query, database, labels[400:], labels[:400], 100)
    assert scores["ITQ"] > scores["PCAH"]


def test_sh_modes_hand_computed():
    """A uniform grid on the box [0, 2.5] × [0, 1], K = 4 bits.

    Ranges R = (2.5, 1) (PCA directions are the axes), so max modes ⌈5·R/2.5⌉ = (5, 2): modes
    1..4 along x with eigenvalues (mπ/2.5)² = π²·(0.16, 0.64, 1.44, 2.56) and mode 1 along y
    with π²·1. Sorted: x1, x2, y1, x3, x4; the four smallest give the modes
    [[1,0],[2,0],[0,1],[3,0]] — the long side gets more bits, and the low frequencies first.
    """
    x, y = np.meshgrid(np.linspace(0, 2.5, 26), np.linspace(0, 1, 11))
    model = SH.fit(np.stack([x.ravel(), y.ravel()], axis=1), 4)
    np.testing.assert_array_equal(model.modes, [[1, 0], [2, 0], [0, 1], [3, 0]])


def test_sh_bits_are_cosines_of_the_mode_frequency():
    """One dimension on [0, 1] (u = x), K = 3 modes m = 1, 2, 3: bit m = sign(cos(mπu)).

    u = 0.1: cos(0.1π), cos(0.2π), cos(0.3π) > 0        → [+1, +1, +1]
    u = 0.3: cos(0.3π) > 0, cos(0.6π) < 0, cos(0.9π) < 0 → [+1, −1, −1]
    u = 0.6: cos(0.6π) < 0, cos(1.2π) < 0, cos(1.8π) > 0 → [−1, −1, +1]
    u = 0.9: cos(0.9π) < 0, cos(1.8π) > 0, cos(2.7π) < 0 → [−1, +1, −1]
    """
    model = SH.fit(np.linspace(0, 1, 101)[:, None], 3)
    codes = model.encode(np.array([[0.1], [0.3], [0.6], [0.9]]))
    np.testing.assert_array_equal(codes, [[1, 1, 1], [1, -1, -1], [-1, -1, 1], [-1, 1, -1]])


def test_sklsh_hamming_distance_follows_the_kernel():
    """Raginsky & Lazebnik: E[d_H/K] = (8/π²) Σ_m (1 − κ(m·δ)) / (4m² − 1), κ(δ) = exp(−γδ²/2).

    γ = 1: δ = 0 → 0 exactly; δ = 1 → 0.146 (the series, summed below); δ = 20 → κ ≈ 0, so
    (8/π²)·Σ 1/(4m² − 1) = (8/π²)·(1/2) = 4/π² ≈ 0.405. 8,192 bits: ± 0.025 is > 4 std devs.
    """
    train = np.random.default_rng(0).normal(size=(50, 2))
    model = SKLSH.fit(train, 8192, seed=0, gamma=1.0)
    origin = model.encode(np.zeros((1, 2)))
    m = np.arange(1, 200)
    for delta in (0.0, 1.0, 20.0):
        expected = 8 / np.pi**2 * np.sum((1 - np.exp(-(m**2) * delta**2 / 2)) / (4 * m**2 - 1))
        observed = np.mean(model.encode(np.array([[delta, 0.0]])) != origin)
        assert observed == pytest.approx(expected, abs=0.025)
    assert SKLSH.fit(train, 4, seed=0).gamma > 0  # the median heuristic


def test_unknown_baseline_and_bad_bits():
    with pytest.raises(ValueError, match="unknown baseline"):
        fit_baseline("ksh", np.zeros((4, 2)), 2)
    with pytest.raises(ValueError, match="supervised"):
        fit_baseline("fssh", np.zeros((4, 2)), 2)
    with pytest.raises(ValueError, match="positive integer"):
        LSH.fit(np.zeros((4, 2)), 0)


def test_pixel_features():
    """One 4×4 image, pixel (r, c) = 10·(4r + c), scaled by 1/255. Shrinking to 2×2 averages
    2×2 blocks: (0+10+40+50)/4 = 25, 45, 105, 125; to 3×3 samples rows and columns
    ⌊(i + ½)·4/3⌋ = 0, 2, 3."""
    images = (np.arange(16, dtype=np.uint8) * 10).reshape(1, 4, 4, 1)
    full = pixel_features(images)
    assert full.shape == (1, 16) and full.dtype == np.float32
    np.testing.assert_allclose(full[0, :3], np.array([0, 10, 20]) / 255, rtol=1e-6)
    blocks = pixel_features(images, side=2)
    np.testing.assert_allclose(blocks[0] * 255, [25, 45, 105, 125], rtol=1e-6)
    sampled = pixel_features(images, side=3)
    expected = images[0, [0, 2, 3]][:, [0, 2, 3], 0].ravel() / 255
    np.testing.assert_allclose(sampled[0], expected, rtol=1e-6)
