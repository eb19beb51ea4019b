"""SKLSH: shift-invariant kernel LSH (Raginsky & Lazebnik, NIPS 2009), Gaussian kernel."""

from dataclasses import dataclass

import numpy as np

from dmrh_tf.evaluation.baselines._linear import as_features, check_bits, sign_codes

# Pairs sampled from the training data for the median heuristic of the kernel width.
_MEDIAN_PAIRS = 10_000


@dataclass(frozen=True)
class SKLSH:
    """Binarised random Fourier features of the Gaussian kernel `κ(x, y) = exp(−γ‖x − y‖²/2)`:

        b_k(x) = sign( cos(w_kᵀ x + β_k) + t_k ),   w_k ~ N(0, γ I),  β_k ~ U[0, 2π],  t_k ~ U[−1, 1]

    The expected normalised Hamming distance of two codes is a function of the kernel alone,
    `(8/π²) Σ_{m≥1} (1 − κ(m x, m y)) / (4m² − 1)`: 0 for equal points, `4/π² ≈ 0.405` for
    distant ones. `γ` defaults to `1 / median ‖x − y‖²` over random training pairs.
    """

    projection: np.ndarray  # [d, K] w_k
    phase: np.ndarray  # [K] β_k
    threshold: np.ndarray  # [K] t_k
    gamma: float  # kernel parameter γ

    @property
    def bits(self) -> int:
        return self.projection.shape[1]

    @classmethod
    def fit(cls, features, bits: int, seed: int = 0, gamma: float | None = None) -> "SKLSH":
        features = as_features(features)
        bits = check_bits(bits)
        rng = np.random.default_rng(seed)
        if gamma is None:
            gamma = median_heuristic_gamma(features, rng)
        projection = rng.standard_normal((features.shape[1], bits)) * np.sqrt(gamma)
        phase = rng.uniform(0.0, 2 * np.pi, bits)
        threshold = rng.uniform(-1.0, 1.0, bits)
        return cls(projection, phase, threshold, float(gamma))

    def encode(self, features) -> np.ndarray:
        """±1 int8 codes `[n, K]`."""
        features = as_features(features, len(self.projection))
        return sign_codes(np.cos(features @ self.projection + self.phase) + self.threshold)


def median_heuristic_gamma(features: np.ndarray, rng: np.random.Generator) -> float:
    """`1 / median ‖x_i − x_j‖²` over up to 10,000 random pairs of distinct training rows."""
    n = len(features)
    if n < 2:
        return 1.0
    first = rng.integers(0, n, _MEDIAN_PAIRS)
    second = (first + rng.integers(1, n, _MEDIAN_PAIRS)) % n
    squared = np.sum((features[first] - features[second]) ** 2, axis=1)
    median = float(np.median(squared))
    return 1.0 / median if median > 0 else 1.0
