"""DMRH's DPSH-style pairwise likelihood loss with a quantization term.

For rows i (a batch) against columns j (the memory of all n training outputs, or the batch itself):

    Θ_ij = ½ ⟨h_i, H_j⟩,   s_ij = 1 if images i and j share at least one label, else 0
    L = 1/(B·n) Σ_ij [ log(1 + e^{−|Θ_ij|}) + max(Θ_ij, 0) − s_ij Θ_ij ]    (= log(1 + e^Θ) − sΘ)
      + η · 1/(B·K) Σ_i ‖b_i − h_i‖²,   b_i = sign(h_i) (0 → −1), a constant

B is the number of rows over the *global* batch: under `tf.distribute` each replica passes its
local rows and `num_rows` = the global batch, so the replicas' losses add up to the global mean.
"""

import keras
from keras import ops

from dmrh_tf.methods.hashing_loss import HashingLoss

MODES = ("memory", "batch")


def pairwise_similarity(labels_a, labels_b):
    """s [a, b]: 1.0 where rows share at least one label (one-hot or multi-hot labels), else 0.0."""
    shared = ops.matmul(ops.cast(labels_a, "float32"), ops.transpose(ops.cast(labels_b, "float32")))
    return ops.cast(shared > 0, "float32")


def binary_codes(h):
    """sign(h) with 0 → −1, without gradient."""
    return ops.stop_gradient(ops.where(h > 0, 1.0, -1.0))


def dpsh_loss(h, labels, bank_h, bank_labels, eta=0.02, num_rows=None):
    """Return (loss, likelihood, quantization) for rows `h` [B, K] against columns `bank_h` [n, K].

    `num_rows` is the B of the normalisers (default: the rows given). Gradients flow into `bank_h`
    only if the caller lets them (the memory mode passes a stop-gradient memory).
    """
    h = ops.cast(h, "float32")
    bank_h = ops.cast(bank_h, "float32")
    rows = ops.cast(ops.shape(h)[0] if num_rows is None else num_rows, "float32")
    columns = ops.cast(ops.shape(bank_h)[0], "float32")
    bits = ops.cast(ops.shape(h)[1], "float32")
    theta = 0.5 * ops.matmul(h, ops.transpose(bank_h))
    similarity = pairwise_similarity(labels, bank_labels)
    terms = ops.log1p(ops.exp(-ops.abs(theta))) + ops.relu(theta) - similarity * theta
    likelihood = ops.sum(terms) / (rows * columns)
    quantization = ops.sum(ops.square(binary_codes(h) - h)) / (rows * bits)
    return likelihood + eta * quantization, likelihood, quantization


@keras.saving.register_keras_serializable(package="dmrh_tf")
class DMRHLoss(HashingLoss):
    """DMRH's loss (`dpsh_loss`) with its hyper-parameters, serializable.

    `mode="memory"` (the release's, default): the batch against a memory of all n training outputs,
    the batch's rows written into it (without gradient) before the loss; the trainer holds the
    memory and calls `compute`. `mode="batch"`: pairs within the (global) batch only, for very
    large n. As a plain Keras loss, `loss(labels, h)` is the in-batch form.
    """

    terms = ("likelihood", "quantization")

    def __init__(self, eta=0.02, mode="memory", name="dmrh_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        if eta < 0:
            raise ValueError(f"eta must be >= 0, got {eta}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.eta = float(eta)
        self.mode = mode

    @property
    def columns(self):
        return self.mode

    def compute(self, h, labels, bank_h, bank_labels, num_rows=None):
        """(loss, likelihood, quantization) of rows `h` against the columns `bank_h`."""
        return dpsh_loss(h, labels, bank_h, bank_labels, eta=self.eta, num_rows=num_rows)

    def compute_terms(self, h, labels, columns):
        loss, likelihood, quantization = self.compute(
            h, labels, columns.h, columns.labels, num_rows=columns.num_rows
        )
        return loss, (likelihood, quantization)

    def get_config(self):
        config = super().get_config()
        config.update(eta=self.eta, mode=self.mode)
        return config
