"""LSH: random hyperplanes (Charikar, 2002), the sign of Gaussian projections of centered data."""

from dataclasses import dataclass

import numpy as np

from dmrh_tf.evaluation.baselines._linear import as_features, check_bits, sign_codes


@dataclass(frozen=True)
class LSH:
    """`b(x) = sign(Wᵀ(x − μ))`, `W ∈ R^{d×K}` with i.i.d. N(0, 1) entries, μ the training mean.

    For two centered points at angle θ, each bit differs with probability θ/π, so the expected
    normalised Hamming distance is θ/π. The training data only provide μ.
    """

    mean: np.ndarray  # [d] training mean
    projection: np.ndarray  # [d, K] Gaussian hyperplane normals

    @property
    def bits(self) -> int:
        return self.projection.shape[1]

    @classmethod
    def fit(cls, features, bits: int, seed: int = 0) -> "LSH":
        features = as_features(features)
        bits = check_bits(bits)
        rng = np.random.default_rng(seed)
        projection = rng.standard_normal((features.shape[1], bits))
        return cls(mean=features.mean(axis=0), projection=projection)

    def encode(self, features) -> np.ndarray:
        """±1 int8 codes `[n, K]`."""
        features = as_features(features, len(self.mean))
        return sign_codes((features - self.mean) @ self.projection)
