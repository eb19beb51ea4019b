"""DDSH's Γ-step loss (Jiang, Cui & Li, IEEE TIP 2018; `jiangqy/DDSH-TIP2018` @ 983bbf8, `trainDDSH.m`).

For rows i (a batch of Γ, the training points outside the Ω sample) against the |Ω| = 100 free codes b_j:

    a_i = tanh(h_i),   S̃_ij = 1 if y_i·y_j > 0, else −r   (r = #similar / #dissimilar over the n × |Ω| block)
    L = 1/(B·|Γ|) Σ_{i ∈ rows} Σ_{j ∈ Ω} (K S̃_ij − a_iᵀ b_j)²  = Σ_i ‖K S̃_{iΩ} − a_i B_Ωᵀ‖² / (B·|Γ|)

    ∂L/∂h_i = 2 (a_i B_Ωᵀ − K S̃_{iΩ}) B_Ω ⊙ (1 − a_i²) / (B·|Γ|)

The normaliser B·|Γ| (global batch × Γ's size) is the authors': `update_net` steps with g/(128·|Γ|), g the
summed gradient above, so plain SGD on L with their learning rate (logspace(−2, −4, 150)) is their step.
B_Ω, the Ω labels and r are fixed during a Γ-pass: the trainer hands them in through `DDSHColumns`.
"""

from typing import Any, NamedTuple

import keras
from keras import ops

from dmrh_tf.methods.dmrh_loss import pairwise_similarity
from dmrh_tf.methods.hashing_loss import HashingLoss


class DDSHColumns(NamedTuple):
    """`Columns` plus the Ω state of a Γ-pass; the columns of DDSH's pairs are the Ω codes.

    The first seven fields are `Columns`' (build it with `DDSHColumns.extend(columns, …)`); `codes` is B_Ω.
    """

    h: Any  # [n, K] the memory of all n outputs ("memory" mode); only its length n is read
    labels: Any  # [n, C]
    same_image: Any  # [b, n] unused: Γ rows never meet Ω columns
    num_rows: Any  # B, the global batch size
    batch_h: Any
    batch_labels: Any
    codes: Any = None  # B_Ω [|Ω|, K] ±1 (the Ω-step's result), constant during the pass
    omega_labels: Any = None  # [|Ω|, C] the labels of Ω
    omega_ratio: Any = None  # r [] (float32), from `ddsh_soft_similarity(all labels, Ω labels)`
    num_gamma: Any = None  # |Γ|; None = n − |Ω| with n = len(h)

    @classmethod
    def extend(cls, columns, omega_codes, omega_labels, omega_ratio, num_gamma=None):
        return cls(*tuple(columns)[:6], omega_codes, omega_labels, omega_ratio, num_gamma)


def soft_similarity(labels, omega_labels, ratio):
    """S̃ [b, |Ω|]: 1.0 where rows share a label with the Ω point, else −r."""
    similar = pairwise_similarity(labels, omega_labels)
    return similar * (1.0 + ratio) - ratio


def similarity_ratio(labels_a, labels_b):
    """r = #similar / #dissimilar pairs of the block (0 if none is dissimilar), in `keras.ops`."""
    similar = pairwise_similarity(labels_a, labels_b)
    count = ops.sum(similar)
    dissimilar = ops.cast(ops.size(similar), "float32") - count
    return ops.where(dissimilar > 0, count / ops.maximum(dissimilar, 1.0), 0.0)


def ddsh_loss(h, labels, omega_codes, omega_labels, omega_ratio, num_rows=None, num_gamma=None):
    """L of the module docstring for rows `h` [b, K] (linear outputs) against B_Ω `omega_codes` [|Ω|, K].

    `num_rows` is B (default: the rows given), `num_gamma` |Γ| (default: the rows given). B_Ω, the Ω
    labels and r (`omega_ratio`) carry no gradient.
    """
    h = ops.cast(h, "float32")
    codes = ops.stop_gradient(ops.cast(omega_codes, "float32"))
    ratio = ops.stop_gradient(ops.cast(omega_ratio, "float32"))
    rows = ops.cast(ops.shape(h)[0] if num_rows is None else num_rows, "float32")
    gamma = ops.cast(ops.shape(h)[0] if num_gamma is None else num_gamma, "float32")
    bits = ops.cast(ops.shape(h)[1], "float32")
    target = bits * soft_similarity(labels, omega_labels, ratio)
    residual = target - ops.matmul(ops.tanh(h), ops.transpose(codes))
    return ops.sum(ops.square(residual)) / (rows * gamma)


@keras.saving.register_keras_serializable(package="dmrh_tf")
class DDSHLoss(HashingLoss):
    """DDSH's Γ-step loss (`ddsh_loss`), serializable; the Ω-step is `ddsh_steps.ddsh_omega_step`.

    `compute_terms(h, labels, columns)` takes a `DDSHColumns` (rows: a batch of Γ). A plain `Columns`
    without codes (a plain Keras call `loss(labels, h)`) is the in-batch form: Ω = the batch, B_Ω =
    sgn(batch h), r over the batch × batch block, |Γ| = B.
    """

    columns = "memory"
    terms = ("similarity",)

    def __init__(self, name="ddsh_loss", **kwargs):
        # No hyper-parameter: K comes from h, |Ω| from the codes; |Ω| and the Ω-step count are the trainer's.
        super().__init__(name=name, **kwargs)

    def compute_terms(self, h, labels, columns):
        if columns.codes is None:
            codes = ops.where(columns.batch_h > 0, 1.0, -1.0)
            omega_labels = columns.batch_labels
            ratio = similarity_ratio(omega_labels, omega_labels)
            num_gamma = columns.num_rows
        else:
            codes, omega_labels, ratio = columns.codes, columns.omega_labels, columns.omega_ratio
            if omega_labels is None or ratio is None:
                raise ValueError(
                    "DDSHLoss needs DDSHColumns with omega_labels and omega_ratio beside the codes"
                )
            num_gamma = columns.num_gamma
            if num_gamma is None:
                num_gamma = ops.shape(columns.h)[0] - ops.shape(codes)[0]
        loss = ddsh_loss(h, labels, codes, omega_labels, ratio, columns.num_rows, num_gamma)
        return loss, (loss,)
