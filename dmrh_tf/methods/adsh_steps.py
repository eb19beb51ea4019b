"""ADSH's host-side steps (Jiang, Li; AAAI 2018), NumPy, run between the outer iterations.

ADSH learns binary codes V ∈ {±1}^{m×K} of the m database (= training) images and a network whose
outputs u = tanh(h) on a sampled set Ω of |Ω| training images fit them asymmetrically:

    J(U, V) = Σ_{i∈Ω} Σ_{j≤m} (u_iᵀv_j − K S̃_ij)² + γ Σ_{i∈Ω} ‖v_{idx(i)} − u_i‖²

with the soft similarity S̃_ij = 1 if y_i·y_j > 0, else −r, r = #similar / #dissimilar over the
Ω × m block. Each outer iteration: `adsh_sample_omega` → `adsh_soft_ratio` → 3 epochs of SGD on the
loss (`adsh_loss`) over Ω → `adsh_v_step` with the network's U of Ω.
"""

import numpy as np

CHUNK = 2048  # database label patterns per block of the shared-label indicator (≤ 2,000 × 2,048 bools)


def adsh_sample_omega(seed, outer_iteration, n, size):
    """Ω for one outer iteration: `size` distinct indices of 0…n−1, sorted (int64), a function of
    (seed, outer_iteration) only, so the data pipeline, the V-step and a resumed run agree on it.
    `size` ≥ n gives all n images (a small data set)."""
    if n < 1 or size < 1:
        raise ValueError(f"n and size must be positive, got n={n}, size={size}")
    rng = np.random.default_rng([int(seed), int(outer_iteration)])
    return np.sort(rng.choice(n, size=min(int(size), int(n)), replace=False)).astype(np.int64)


def _binary(labels):
    """0/1 label indicators as float32: BLAS matmuls (integer ones are not), exact for < 2^24 classes."""
    return (np.asarray(labels) > 0).astype(np.float32)


def adsh_soft_ratio(omega_labels, database_labels, chunk=CHUNK):
    """r = #similar / #dissimilar pairs (i, j) ∈ Ω × database, similar meaning y_i·y_j > 0.

    Exact integer counts without the |Ω| × m matrix: identical label rows are grouped on both sides
    (one-hot labels give ≤ c groups), and the groups' shared-label indicator is built in blocks of
    `chunk` database groups. No dissimilar pair (every pair shares a label) gives 0.0: S̃ is then 1
    everywhere, whatever r.
    """
    omega_patterns, omega_counts = np.unique(_binary(omega_labels), axis=0, return_counts=True)
    database_patterns, database_counts = np.unique(_binary(database_labels), axis=0, return_counts=True)
    similar = 0
    for start in range(0, len(database_patterns), chunk):
        shared = omega_patterns @ database_patterns[start : start + chunk].T > 0
        similar += int(omega_counts @ (shared.astype(np.int64) @ database_counts[start : start + chunk]))
    dissimilar = len(omega_labels) * len(database_labels) - similar
    return similar / dissimilar if dissimilar else 0.0


def adsh_v_column_update(V, k, Q, gram):
    """V with column k replaced by its exact minimiser: V[:,k] = −sgn(2 V_{−k} U_{−k}ᵀ u_k + Q[:,k]).

    `gram` = UᵀU [K, K] of the Ω outputs with a zero diagonal, so V @ gram[:, k] = V_{−k} U_{−k}ᵀ u_k.
    J in column k (others fixed, V ∈ {±1}) is v_kᵀ(2 V_{−k}U_{−k}ᵀu_k + Q_k) + const, linear and
    separable per entry. sgn(0) = −1, so a tie (both signs give the same J) gives +1.
    """
    x = 2.0 * (V @ gram[:, k]) + Q[:, k]
    V = V.copy()
    V[:, k] = np.where(x > 0, -1.0, 1.0)  # −sgn(x)
    return V


def _patterns(labels):
    """The distinct label rows (0/1, float32) and each row's pattern number."""
    patterns, inverse = np.unique(_binary(labels), axis=0, return_inverse=True)
    return patterns, inverse.reshape(-1)


def adsh_similar_sums(U_omega, omega_labels, database_labels, chunk=CHUNK):
    """SᵀU [m, K] with S_ij = [y_i·y_j > 0] (i ∈ Ω, j ≤ m), float64, without the |Ω| × m matrix.

    Rows of U with the same label pattern are summed first, so only the patterns' shared-label
    indicator is built, in blocks of `chunk` database patterns: O(P_Ω·P_m) with P the distinct label
    rows (≤ c each for one-hot labels), then one gather to the m database rows.
    """
    U = np.asarray(U_omega, np.float64)
    omega_patterns, omega_inverse = _patterns(omega_labels)
    sums = np.zeros((len(omega_patterns), U.shape[1]))
    np.add.at(sums, omega_inverse, U)
    database_patterns, database_inverse = _patterns(database_labels)
    per_pattern = np.empty((len(database_patterns), U.shape[1]))
    for start in range(0, len(database_patterns), chunk):
        shared = omega_patterns @ database_patterns[start : start + chunk].T > 0
        per_pattern[start : start + chunk] = shared.T.astype(np.float64) @ sums
    return per_pattern[database_inverse]


def adsh_v_target(U_omega, omega_index, omega_labels, database_labels, bits, gamma, r, chunk=CHUNK):
    """Q [m, K] = −2K S̃ᵀU − 2γŪ (Ū: zero except Ū[Ω] = U), with S̃ = (1 + r)S − r, so
    S̃ᵀU = (1 + r) SᵀU − r·1(1ᵀU) (`adsh_similar_sums`)."""
    U = np.asarray(U_omega, np.float64)
    soft_sums = (1.0 + r) * adsh_similar_sums(U, omega_labels, database_labels, chunk) - r * U.sum(axis=0)
    Q = -2.0 * bits * soft_sums
    Q[np.asarray(omega_index, np.int64)] -= 2.0 * gamma * U
    return Q


def adsh_v_step(V, U_omega, omega_index, omega_labels, database_labels, bits, gamma, r, chunk=CHUNK):
    """The new V [m, K] ∈ {±1} after one DCC sweep over its columns k = 1…K (the authors' V-step).

    `V` [m, K] the current codes (zeros in the first outer iteration, as the authors); `U_omega`
    [|Ω|, K] = tanh(h) of Ω, in the order of `omega_index` [|Ω|] (distinct database rows);
    `omega_labels` [|Ω|, C] and `database_labels` [m, C]; `bits` = K; `gamma` = γ; `r` the soft
    ratio of this Ω (`adsh_soft_ratio`); `chunk` the database label patterns per block.

    With Q = −2K S̃ᵀU − 2γŪ (`adsh_v_target`), for V ∈ {±1} J(V) = ‖VUᵀ‖² + tr(VᵀQ) + const, and
    each column update (`adsh_v_column_update`) minimises it exactly over its column, so J never
    increases. Memory O(m·K + |Ω|·chunk), never the |Ω| × m matrix.
    """
    V = np.asarray(V, np.float64)
    U = np.asarray(U_omega, np.float64)
    omega_index = np.asarray(omega_index, np.int64)
    if V.shape[1] != bits or U.shape != (len(omega_index), bits):
        raise ValueError(
            f"V {V.shape} and U_omega {U.shape} must have K = {bits} columns and one U row per Ω"
        )
    if len(np.unique(omega_index)) != len(omega_index):
        raise ValueError("omega_index must hold distinct database rows")
    Q = adsh_v_target(U, omega_index, omega_labels, np.asarray(database_labels), bits, gamma, r, chunk)
    gram = U.T @ U
    np.fill_diagonal(gram, 0.0)
    for k in range(bits):
        V = adsh_v_column_update(V, k, Q, gram)
    return V.astype(np.float32)
