"""PCAH: the sign of the leading principal components (as compared in Gong & Lazebnik, 2011)."""

from dataclasses import dataclass

import numpy as np

from dmrh_tf.evaluation.baselines._linear import (
    as_features,
    check_bits,
    principal_directions,
    sign_codes,
)


@dataclass(frozen=True)
class PCAH:
    """`b(x) = sign(Wᵀ(x − μ))`, `W` the K leading eigenvectors of the training covariance.

    Bit k thresholds the k-th principal component at the training mean. Needs K ≤ d.
    """

    mean: np.ndarray  # [d] training mean
    components: np.ndarray  # [d, K] principal directions, largest variance first

    @property
    def bits(self) -> int:
        return self.components.shape[1]

    @classmethod
    def fit(cls, features, bits: int, seed: int = 0) -> "PCAH":
        """`seed` is unused (PCA is deterministic); it is there for the common interface."""
        features = as_features(features)
        bits = check_bits(bits, features.shape[1], "feature dimensions for PCAH")
        mean = features.mean(axis=0)
        components, _ = principal_directions(features - mean, bits)
        return cls(mean=mean, components=components)

    def encode(self, features) -> np.ndarray:
        """±1 int8 codes `[n, K]`."""
        features = as_features(features, len(self.mean))
        return sign_codes((features - self.mean) @ self.components)
