"""SH: spectral hashing (Weiss, Torralba & Fergus, NIPS 2008), as in the authors' `trainSH.m`."""

from dataclasses import dataclass

import numpy as np

from dmrh_tf.evaluation.baselines._linear import (
    as_features,
    check_bits,
    principal_directions,
    sign_codes,
)


@dataclass(frozen=True)
class SH:
    """Thresholded analytical eigenfunctions of a uniform distribution on a PCA box.

    Fit (the authors' `trainSH.m`): project onto the `p = min(K, d)` leading principal directions
    (no centering needed), take the box `[mn_j, mx_j]` of the projections (range `R_j`), enumerate
    the one-dimensional modes `m = 1 … ⌈(K+1)·R_j / max R⌉` of every direction j, whose
    eigenvalue is `(m π / R_j)²`, and keep the K smallest (stable order). Encode bit k, a mode
    `(j_k, m_k)`:

        b_k(x) = sign( cos( m_k π (w_jᵀ x − mn_j) / R_j ) )      (`sin(·+π/2)` in trainSH.m)

    so mode 1 of a direction splits its range at the middle, mode 2 in quarters, and so on.
    """

    components: np.ndarray  # [d, p] principal directions
    minimum: np.ndarray  # [p] mn_j, lower edge of the box (training minimum − eps)
    maximum: np.ndarray  # [p] mx_j, upper edge (training maximum + eps)
    modes: np.ndarray  # [K, p] integer mode of each bit along each direction (one non-zero a row)

    @property
    def bits(self) -> int:
        return self.modes.shape[0]

    @classmethod
    def fit(cls, features, bits: int, seed: int = 0) -> "SH":
        """`seed` is unused (SH is deterministic); it is there for the common interface."""
        features = as_features(features)
        bits = check_bits(bits)
        n_pca = min(bits, features.shape[1])
        components, _ = principal_directions(features - features.mean(axis=0), n_pca)
        projected = features @ components
        eps = np.finfo(np.float64).eps
        minimum, maximum = projected.min(axis=0) - eps, projected.max(axis=0) + eps
        ranges = maximum - minimum
        max_mode = np.ceil((bits + 1) * ranges / ranges.max()).astype(int)
        # Row 0 is the constant mode (all zeros); then modes 1..max_mode_j - 1 of each direction j
        # (trainSH.m builds 1..max_mode_j, subtracts 1 and drops the constant after sorting).
        rows = [np.zeros(n_pca, dtype=int)]
        for direction in range(n_pca):
            for mode in range(1, max_mode[direction]):
                row = np.zeros(n_pca, dtype=int)
                row[direction] = mode
                rows.append(row)
        modes = np.array(rows)
        eigenvalues = ((modes * (np.pi / ranges)) ** 2).sum(axis=1)
        order = np.argsort(eigenvalues, kind="stable")
        return cls(components, minimum, maximum, modes[order[1 : bits + 1]])

    def encode(self, features) -> np.ndarray:
        """±1 int8 codes `[n, K]`."""
        features = as_features(features, len(self.components))
        projected = features @ self.components - self.minimum
        omegas = self.modes * (np.pi / (self.maximum - self.minimum))  # [K, p]
        # Each mode varies along one direction; the other factors of trainSH.m's product are 1.
        direction = np.abs(self.modes).argmax(axis=1)
        omega = omegas[np.arange(self.bits), direction]
        return sign_codes(np.cos(projected[:, direction] * omega))
