"""DDSH's host-side discrete steps (Jiang, Cui & Li, IEEE TIP 2018; `jiangqy/DDSH-TIP2018` @ 983bbf8).

NumPy, run between epochs. Each Ω sample (`ddsh_sample_omega`) fixes the soft similarity of all n
training points to Ω (`ddsh_soft_similarity`); then, three times, the Ω-step (`ddsh_omega_step`, here)
updates the free codes B_Ω and a Γ-pass (`DDSHLoss`, one SGD epoch over Γ = the rest) updates the
network, after which B_Γ = sgn(network outputs of Γ). The objective, as `trainDDSH.m` computes it:

    J(B_Ω) = ‖K S̃_ΓΩ − B_Γ B_Ωᵀ‖²_F + ‖K S̃_ΩΩ − B_Ω B_Ωᵀ‖²_F,   B ∈ {±1}

The Ω-step fits it one bit at a time (a binary quadratic programme per bit, solved by the authors'
heuristic `ddsh_solve_bqp`); it ignores the bits after k, so it is a greedy residual fit, not
coordinate descent, and J need not decrease.
"""

import numpy as np

LAMBDA = 1e4  # the authors' "sufficiently large" λ of `chol(λI − Q̃)`, applied after scaling Q̃ to max |Q̃| = 1


def ddsh_sample_omega(seed: int, index: int, n: int, size: int = 100) -> np.ndarray:
    """Ω for sample number `index` (the authors' epoch): `size` distinct indices of 0..n−1, sorted.

    Deterministic in (seed, index), independent of every other sample (the authors' `randsample`).
    """
    if not 0 < size < n:
        raise ValueError(f"|Ω| must lie in 1..n−1 = 1..{n - 1}; got {size}")
    rng = np.random.default_rng([int(seed), int(index)])
    return np.sort(rng.choice(n, size, replace=False))


def ddsh_soft_similarity(labels_a, labels_b) -> tuple[np.ndarray, float]:
    """(S̃ [a, b], r): S̃_ij = 1 if rows share a label (s_ij = [y_i·y_j > 0]), else −r, with

        r = #similar / #dissimilar over this block   (the authors: S ← S(1 + r) − r)

    Call it with all n training labels against Ω's: the block n × |Ω| gives both S̃_ΓΩ and S̃_ΩΩ, and the r
    that `DDSHLoss` needs. One-hot, multi-hot or integer class labels. r = 0 when no pair is dissimilar.
    """
    similar = _shares_label(labels_a, labels_b)
    count = int(similar.sum())
    dissimilar = similar.size - count
    ratio = count / dissimilar if dissimilar else 0.0
    return np.where(similar, 1.0, -ratio), float(ratio)


def ddsh_bqp_residual_objective(b, residual_gamma, column, residual_omega) -> float:
    """‖R_ΓΩ − β bᵀ‖²_F + ‖R_ΩΩ − b bᵀ‖²_F: the J of bit k with residuals R from bits < k and β = B_Γ[:, k].

    Equals `bᵀQb + pᵀb` of `ddsh_omega_step`'s problem plus a constant (‖R_ΓΩ‖² + ‖R_ΩΩ‖² + |Γ||Ω| +
    |Ω|² − 2 tr R_ΩΩ, using ‖β‖² = |Γ| and b_i² = 1). Written out for tests and diagnostics.
    """
    b = np.asarray(b, np.float64)
    gamma_part = residual_gamma - np.outer(column, b)
    omega_part = residual_omega - np.outer(b, b)
    return float(np.sum(gamma_part**2) + np.sum(omega_part**2))


def ddsh_omega_step(S_gamma_omega, S_omega_omega, B_gamma, bits: int, solver=None) -> np.ndarray:
    """The Ω-step: new B_Ω [|Ω|, K] (int8 ±1, each bit balanced) from the soft similarities and B_Γ.

    For k = 1…K, with residuals over the new Ω bits and B_Γ's bits before k,

        R_ΩΩ = K S̃_ΩΩ − Σ_{k'<k} b^{k'} b^{k'ᵀ},   R_ΓΩ = K S̃_ΓΩ − Σ_{k'<k} B_Γ[:, k'] b^{k'ᵀ}

    b^k = argmin over b ∈ {±1}^{|Ω|} of bᵀQb + pᵀb, with Q = −2 R_ΩΩ (diagonal set to 0) and
    p = −2 R_ΓΩᵀ B_Γ[:, k]: by `solver(Q, p)` (default `ddsh_solve_bqp`, the authors' heuristic).

    R_ΓΩ ([|Γ|, |Ω|], 60,000 × 100 on CIFAR-10) is never formed: with F = K S̃_ΓΩᵀ B_Γ [|Ω|, K] and
    G = B_Γᵀ B_Γ [K, K] (two products, once), p = −2 (F[:, k] − B_Ω[:, :k] G[:k, k]).

    Args:
        S_gamma_omega: S̃_ΓΩ [|Γ|, |Ω|], entries 1 / −r (`ddsh_soft_similarity`).
        S_omega_omega: S̃_ΩΩ [|Ω|, |Ω|], with the same r.
        B_gamma: B_Γ [|Γ|, K] ±1, the codes of Γ from the last Γ-pass (random ±1 at the start).
        bits: K, the code length (also the scale of K·S̃).
        solver: `(Q, p) -> b` ±1; tests pass a brute-force solver.
    """
    solver = ddsh_solve_bqp if solver is None else solver
    S_gamma_omega = np.asarray(S_gamma_omega, np.float64)
    S_omega_omega = np.asarray(S_omega_omega, np.float64)
    B_gamma = np.asarray(B_gamma, np.float64)
    size = S_omega_omega.shape[0]
    if S_omega_omega.shape != (size, size) or S_gamma_omega.shape != (len(B_gamma), size):
        raise ValueError(
            f"S̃_ΓΩ {S_gamma_omega.shape}, S̃_ΩΩ {S_omega_omega.shape} and B_Γ {B_gamma.shape} do not agree"
        )
    if B_gamma.shape[1] != bits:
        raise ValueError(f"B_Γ has {B_gamma.shape[1]} bits; expected {bits}")
    fit = bits * (S_gamma_omega.T @ B_gamma)  # F = K S̃_ΓΩᵀ B_Γ
    gram = B_gamma.T @ B_gamma  # G = B_Γᵀ B_Γ
    omega = np.zeros((size, bits))
    residual_omega = bits * S_omega_omega
    for k in range(bits):
        if k:
            residual_omega = residual_omega - np.outer(omega[:, k - 1], omega[:, k - 1])
        Q = -2.0 * residual_omega
        np.fill_diagonal(Q, 0.0)
        p = -2.0 * (fit[:, k] - omega[:, :k] @ gram[:k, k])
        omega[:, k] = solver(Q, p)
    return omega.astype(np.int8)


def ddsh_solve_bqp(Q, p, lam: float = LAMBDA) -> np.ndarray:
    """The authors' heuristic for min bᵀQb + pᵀb over b ∈ {±1}^m (`trainDDSH.m` + `Solve.m`); Q zero-diagonal.

    1. b = 2z − 1, z ∈ {0, 1}^m: bᵀQb + pᵀb = zᵀQ′z + p′ᵀz + const, Q′ = 4Q, p′ = 2p − 2(Q + Qᵀ)1.
    2. Homogenise: z̃ = [z; 1], Q̃ = [[Q′, p′/2], [p′ᵀ/2, 0]], so z̃ᵀQ̃z̃ = zᵀQ′z + p′ᵀz; scale Q̃ by 1/max|Q̃|.
    3. P: the upper Cholesky factor, PᵀP = λI − Q̃ (λ = 10⁴ makes it positive definite).
    4. H = round((m + 1)/2) (halves up). For each column i of P, a candidate set: the H − 1 columns
       among the first m nearest to P_i (stable order), plus the homogenising column m + 1.
    5. Keep the candidate with the smallest spread Σ_{j∈set} ‖P_j − centroid‖² (the first on ties), which
       equals (H − 1)λ + z̃ᵀQ̃z̃/H: the heuristic ranks candidates by the true objective. z = the set's
       first m entries, so exactly H − 1 bits are +1 (50 of |Ω| = 100): a balanced bit.

    Returns b (float ±1, [m]).
    """
    Q = np.array(Q, np.float64)
    np.fill_diagonal(Q, 0.0)  # b_i² = 1: a diagonal only adds a constant, and step 5 needs it zero
    p = np.asarray(p, np.float64)
    m = len(p)
    ones = np.ones(m)
    p_z = 2.0 * p - 2.0 * (Q + Q.T) @ ones
    homogeneous = np.zeros((m + 1, m + 1))
    homogeneous[:m, :m] = 4.0 * Q
    homogeneous[:m, m] = homogeneous[m, :m] = p_z / 2.0
    scale = np.max(np.abs(homogeneous))
    if scale > 0:
        homogeneous /= scale
    factor = np.linalg.cholesky(lam * np.eye(m + 1) - homogeneous).T  # upper: factorᵀ factor = λI − Q̃
    half = int(np.floor((m + 1) / 2 + 0.5))  # MATLAB's round(M/2), M = m + 1
    squares = np.sum(factor**2, axis=0)
    # dist[j, i] = ‖P_j − P_i‖² for j among the first m columns, as Solve.m computes it
    dist = squares[:m, None] + squares[None, :] - 2.0 * factor[:, :m].T @ factor
    # chosen[i]: the candidate set of column i; all m + 1 sets at once
    nearest = np.argsort(dist, axis=0, kind="stable")[: half - 1]  # [H − 1, m + 1]
    chosen = np.zeros((m + 1, m + 1), bool)
    chosen[np.arange(m + 1)[None, :], nearest] = True
    chosen[:, m] = True
    # Σ_j ‖P_j − c‖² = Σ_j ‖P_j‖² − H‖c‖², c = Σ_j P_j / H
    sums = factor @ chosen.T.astype(np.float64)  # [m + 1, sets]
    spreads = chosen @ squares - np.sum(sums**2, axis=0) / half
    best = chosen[int(np.argmin(spreads))]  # the first on ties, as MATLAB's min
    return np.where(best[:m], 1.0, -1.0)


def _shares_label(labels_a, labels_b) -> np.ndarray:
    a, b = np.asarray(labels_a), np.asarray(labels_b)
    if a.ndim == 1 and b.ndim == 1:
        return a[:, None] == b[None, :]
    return (a > 0).astype(np.float32) @ (b > 0).astype(np.float32).T > 0
