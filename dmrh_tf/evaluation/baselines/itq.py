"""ITQ: iterative quantization (Gong & Lazebnik, CVPR 2011), PCA followed by a learned rotation."""

from dataclasses import dataclass

import numpy as np

from dmrh_tf.evaluation.baselines._linear import (
    as_features,
    check_bits,
    principal_directions,
    sign_codes,
)

DEFAULT_ITERATIONS = 50  # the paper's setting


@dataclass(frozen=True)
class ITQ:
    """`b(x) = sign(Rᵀ v(x))`, `v(x) = Wᵀ(x − μ)` the K-dim PCA projection, `R` orthogonal.

    Fit, with `V` `[n, K]` the projected training data: start from a random orthogonal R
    (seeded) and alternate, for `iterations` steps,

        B ← sign(V R)                                (fix R, best codes)
        R ← Ŝ Sᵀ  where  Bᵀ V = S Ω Ŝᵀ  (SVD)         (fix B, orthogonal Procrustes)

    which never increases the quantization loss `Q(B, R) = ‖B − V R‖²_F`. `losses[t]` is Q after
    the t-th rotation update. With R = I this is PCAH.
    """

    mean: np.ndarray  # [d] training mean
    components: np.ndarray  # [d, K] principal directions
    rotation: np.ndarray  # [K, K] orthogonal
    losses: tuple[float, ...]  # quantization loss after each iteration (training data)

    @property
    def bits(self) -> int:
        return self.rotation.shape[1]

    @classmethod
    def fit(cls, features, bits: int, seed: int = 0, iterations: int = DEFAULT_ITERATIONS) -> "ITQ":
        features = as_features(features)
        bits = check_bits(bits, features.shape[1], "feature dimensions for ITQ")
        mean = features.mean(axis=0)
        components, _ = principal_directions(features - mean, bits)
        projected = (features - mean) @ components
        rng = np.random.default_rng(seed)
        rotation, _, _ = np.linalg.svd(rng.standard_normal((bits, bits)))
        losses = []
        for _ in range(iterations):
            codes = np.where(projected @ rotation > 0, 1.0, -1.0)
            left, _, right_t = np.linalg.svd(codes.T @ projected)
            rotation = right_t.T @ left.T
            losses.append(float(np.sum((codes - projected @ rotation) ** 2)))
        return cls(mean=mean, components=components, rotation=rotation, losses=tuple(losses))

    def encode(self, features) -> np.ndarray:
        """±1 int8 codes `[n, K]`."""
        features = as_features(features, len(self.mean))
        return sign_codes((features - self.mean) @ self.components @ self.rotation)
