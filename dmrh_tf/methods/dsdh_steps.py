"""DSDH's discrete steps (Li et al., NeurIPS 2017), the authors' per-batch variant: keras.ops only.

Both run inside the trainer's `train_step` (TensorFlow or JAX), without gradient, on the objective
of one batch with the network outputs U fixed (μ = 1 in the authors' code):

    min over W, B ∈ {±1}^{b×K} of  ‖Y − B W‖²_F + ν‖W‖²_F + r‖B − U‖²_F,   r = η/μ = η

(the reference doc's ‖Y − WᵀB‖² + r‖B − U‖² with codes as rows; W is K×c, Y is b×c).

- W-step (`dsdh_w_step`): ridge regression of Y on B = sgn(U), W = (BᵀB + ν I)⁻¹ BᵀY, ν = 0.1
  (the authors' `RRC(batchB, batchY, 0.1)`). Multi-hot Y works unchanged: W regresses the multi-hot
  vector (each class is its own least-squares column).
- B-step (`dsdh_b_step`): discrete cyclic coordinate descent. For B ∈ {±1}, ‖B‖² is constant, so
  the objective is ‖BW‖² − 2 tr(Bᵀ Q) + const with Q = r U + Y Wᵀ, and in column k (the others
  fixed) it is 2 b_kᵀ(B_{−k} W_{−k} w_kᵀ − Q_k) + const: linear and separable per entry, minimised
  exactly by b_k = sgn(Q_k − B_{−k} W_{−k} w_kᵀ). Each column update never increases the objective.
  Rows are independent (no term couples two rows), so a replica can run the step on its own rows.
"""

from keras import ops


def sign_codes(x):
    """sgn(x) with 0 → −1, float32."""
    return ops.where(x > 0, 1.0, -1.0)


def dsdh_w_step(batch_h, batch_labels, nu=0.1):
    """W [K, c] = (BᵀB + ν I)⁻¹ Bᵀ Y with B = sgn(batch_h) (0 → −1): ridge regression of the global
    batch's labels Y [B, c] on its codes. No gradient flows through it."""
    codes = sign_codes(ops.stop_gradient(ops.cast(batch_h, "float32")))
    labels = ops.cast(batch_labels, "float32")
    bits = ops.shape(codes)[1]
    gram = ops.matmul(ops.transpose(codes), codes) + nu * ops.eye(bits, dtype="float32")
    return ops.stop_gradient(ops.solve(gram, ops.matmul(ops.transpose(codes), labels)))


def dsdh_b_column(codes, target, coupling, k):
    """One DCC column update: `codes` [b, K] with column k replaced by sgn(target_k − codes · coupling_k).

    `target` is Q [b, K]; `coupling` is W Wᵀ with a zero diagonal [K, K], so that
    codes · coupling[:, k] = B_{−k} W_{−k} w_kᵀ. `k` may be a traced integer (a one-hot mask picks the
    column, as inside `ops.fori_loop`).
    """
    bits = ops.shape(codes)[1]
    mask = ops.cast(ops.equal(ops.arange(bits), k), "float32")  # [K], one-hot at k
    column = sign_codes(ops.matmul(target, mask) - ops.matmul(codes, ops.matmul(coupling, mask)))
    return codes * (1.0 - mask) + column[:, None] * mask[None, :]


def dsdh_b_step(h, labels, w, eta=55.0, sweeps=10):
    """B [b, K] ∈ {±1}: DCC on ‖Y − B W‖² + η‖B − U‖² for the rows U = `h` [b, K], Y = `labels` [b, c].

    As the authors: Q = η U + Y Wᵀ (μ = 1), B ← 0, then `sweeps` sweeps of `dsdh_b_column` over
    k = 1…K (the first sweep sees the not yet visited columns as 0). The authors stop early when
    ‖ΔB‖_F < 1e-6 ‖B‖_F; B's entries are in {−1, 0, 1}, so ‖ΔB‖_F is 0 or ≥ 1 while
    1e-6 ‖B‖_F ≤ 1e-6 √(bK) < 1: the test fires only when a sweep changed nothing. A sweep is a
    deterministic function of B, so every later sweep would change nothing either: a fixed count of 10
    sweeps gives exactly the authors' result, and keeps the loop's trip count static (one
    `ops.fori_loop` of sweeps·K column updates, a small graph on TensorFlow and JAX).
    No gradient flows through the result.
    """
    h = ops.stop_gradient(ops.cast(h, "float32"))
    w = ops.stop_gradient(ops.cast(w, "float32"))
    target = eta * h + ops.matmul(ops.cast(labels, "float32"), ops.transpose(w))
    bits = ops.shape(h)[1]
    coupling = ops.matmul(w, ops.transpose(w)) * (1.0 - ops.eye(bits, dtype="float32"))

    def body(t, codes):
        return dsdh_b_column(codes, target, coupling, t % bits)

    codes = ops.fori_loop(0, sweeps * bits, body, ops.zeros_like(h))
    return ops.stop_gradient(codes)
