"""ADSH's loss (Jiang, Li; AAAI 2018): the network's side of the asymmetric objective.

For the rows i (the replica's share of the global batch, drawn from the sampled set Ω), u = tanh(h),
against the binary codes V ∈ {±1}^{m×K} of all m database (= training) images:

    L = 1/(m·B) [ Σ_i Σ_{j≤m} (u_iᵀv_j − K S̃_ij)² + γ Σ_i ‖v_{idx(i)} − u_i‖² ]

S̃_ij = 1 if y_i·y_j > 0, else −r (r = #similar/#dissimilar over the Ω × m block, `adsh_soft_ratio`);
v_{idx(i)} is the row of V of image i itself; B is the global batch size. V is a constant here (the
V-step updates it between outer iterations, `adsh_v_step`). The gradient w.r.t. a = u is the
authors' [2(aVᵀ − K S̃)V + 2γ(a − V_b)]/(m·B), times (1 − a²) w.r.t. h: their update_net divides
by (batch · m) too, so the weights are theirs as they are.
"""

import keras
from keras import ops

from dmrh_tf.methods.dmrh_loss import pairwise_similarity
from dmrh_tf.methods.hashing_loss import HashingLoss


def adsh_loss(h, labels, codes, code_labels, same_image, num_rows=None, gamma=200.0, soft_ratio=1.0):
    """Return (loss, pairwise, quantization), loss = pairwise + γ·quantization, for rows `h` [b, K].

    `codes` V [m, K] and `code_labels` [m, C] are the database; `same_image` [b, m] is 1.0 where row
    i is database image j (so `same_image @ V` picks v_{idx(i)} without indices); `num_rows` is B
    (default: the rows given); `soft_ratio` is r (a float or a scalar tensor). V gets no gradient.
    """
    u = ops.tanh(ops.cast(h, "float32"))
    codes = ops.stop_gradient(ops.cast(codes, "float32"))
    bits = ops.cast(ops.shape(u)[1], "float32")
    database = ops.cast(ops.shape(codes)[0], "float32")
    rows = ops.cast(ops.shape(u)[0] if num_rows is None else num_rows, "float32")
    r = ops.cast(soft_ratio, "float32")
    soft = pairwise_similarity(labels, code_labels) * (1.0 + r) - r
    residual = ops.matmul(u, ops.transpose(codes)) - bits * soft
    own = ops.matmul(ops.cast(same_image, "float32"), codes)
    pairwise = ops.sum(ops.square(residual)) / (database * rows)
    quantization = ops.sum(ops.square(own - u)) / (database * rows)
    return pairwise + gamma * quantization, pairwise, quantization


@keras.saving.register_keras_serializable(package="dmrh_tf")
class ADSHLoss(HashingLoss):
    """ADSH's loss (`adsh_loss`), serializable. Memory mode with `columns.codes` = V [m, K] and
    `columns.labels` = the m database labels (`columns.h` is not used).

    `gamma` is the authors' γ (200). r, the soft ratio, changes with every outer iteration's Ω, so it
    comes from the trainer's state: `columns.state["ratio"]` (a non-trainable weight the trainer
    assigns between outer iterations, so a compiled train step sees the new value on TensorFlow and
    JAX alike). An explicit `compute_terms(..., soft_ratio=…)` overrides it; without either, the
    constructor's `soft_ratio` (default 1.0: S̃ = ±1) is used. As a plain Keras loss it needs codes,
    so `loss(labels, h)` raises.
    """

    columns = "memory"
    terms = ("pairwise", "quantization")

    def __init__(self, gamma=200.0, soft_ratio=1.0, name="adsh_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")
        if soft_ratio < 0:
            raise ValueError(f"soft_ratio must be >= 0, got {soft_ratio}")
        self.gamma = float(gamma)
        self.soft_ratio = float(soft_ratio)

    def compute_terms(self, h, labels, columns, soft_ratio=None):
        if columns.codes is None:
            raise ValueError("ADSHLoss needs columns.codes: the database codes V [m, K] the trainer keeps")
        if soft_ratio is None and columns.state and "ratio" in columns.state:
            soft_ratio = columns.state["ratio"]  # the trainer's r of this outer iteration
        loss, pairwise, quantization = adsh_loss(
            h,
            labels,
            columns.codes,
            columns.labels,
            columns.same_image,
            num_rows=columns.num_rows,
            gamma=self.gamma,
            soft_ratio=self.soft_ratio if soft_ratio is None else soft_ratio,
        )
        return loss, (pairwise, quantization)

    def get_config(self):
        config = super().get_config()
        config.update(gamma=self.gamma, soft_ratio=self.soft_ratio)
        return config
