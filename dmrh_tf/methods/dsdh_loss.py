"""DSDH's loss (Li, Sun, He, Tan; NeurIPS 2017), the authors' per-batch variant, in DMRH's mean form.

For the rows i (the replica's share of the global batch) against the memory of all n training
outputs H (rows written in, without gradient), Θ_ij = ½⟨h_i, H_j⟩ and s_ij = [y_i·y_j > 0]:

    L = 1/(B·n) Σ_ij [log(1 + e^{Θ_ij}) − s_ij Θ_ij]          (`dpsh_loss`'s likelihood, one-sided)
      + α · 1/(B·K) Σ_i ‖b_i − h_i‖²,      α = η·K/(2n)

where the b_i are the discrete codes of the batch, computed without gradient at every step:
W = (B₀ᵀB₀ + ν I)⁻¹ B₀ᵀ Y over the global batch (B₀ = sgn of its outputs), then DCC on
‖Y − BW‖² + η‖B − U‖² for the replica's rows (`dsdh_steps`). B is the global batch size.

α: the authors ascend (S − σ(½U₀Uᵀ))U − 2η(U₀ − B) with the step lr/(128·n). Our likelihood's
gradient is ½(σ − S)U/(B·n) (one-sided) and the quantization's is 2α(h − b)/(B·K); twice ours equals
theirs when 4α/(B·K) = 2η/(B·n), i.e. α = ηK/(2n) (and our lr = 2× theirs). n is the number of
columns (the memory's rows, = the training images in memory mode), read from the columns' shape.
"""

import keras
from keras import ops

from dmrh_tf.methods.dmrh_loss import dpsh_loss
from dmrh_tf.methods.dsdh_steps import dsdh_b_step, dsdh_w_step
from dmrh_tf.methods.hashing_loss import HashingLoss


def dsdh_quantization_weight(eta, bits, n):
    """α = η·K/(2n): the mean-form weight that gives the authors' gradient (η = 55, K = 48, n = 50,000
    → 0.0264; n = 5,000 → 0.264)."""
    return eta * bits / (2.0 * n)


def dsdh_loss(
    h,
    labels,
    bank_h,
    bank_labels,
    batch_h,
    batch_labels,
    num_rows=None,
    eta=55.0,
    nu=0.1,
    sweeps=10,
    alpha=None,
):
    """Return (loss, likelihood, quantization) for rows `h` [b, K] against the columns `bank_h` [n, K].

    `batch_h`/`batch_labels` [B, C] are the global batch (for W); `num_rows` is B (default: the rows
    given). `alpha` = None → ηK/(2n), n = `bank_h`'s rows. The discrete codes carry no gradient.
    """
    h = ops.cast(h, "float32")
    bits = ops.shape(h)[1]
    columns = ops.cast(ops.shape(bank_h)[0], "float32")
    rows = ops.cast(ops.shape(h)[0] if num_rows is None else num_rows, "float32")
    _, likelihood, _ = dpsh_loss(h, labels, bank_h, bank_labels, eta=0.0, num_rows=num_rows)
    w = dsdh_w_step(batch_h, batch_labels, nu=nu)
    codes = dsdh_b_step(h, labels, w, eta=eta, sweeps=sweeps)
    quantization = ops.sum(ops.square(codes - h)) / (rows * ops.cast(bits, "float32"))
    weight = dsdh_quantization_weight(eta, ops.cast(bits, "float32"), columns) if alpha is None else alpha
    return likelihood + weight * quantization, likelihood, quantization


@keras.saving.register_keras_serializable(package="dmrh_tf")
class DSDHLoss(HashingLoss):
    """DSDH's loss (`dsdh_loss`), the authors' per-batch variant, serializable. Memory mode: the
    trainer keeps the memory of all n outputs, writes the global batch in and passes `batch_h` /
    `batch_labels`; nothing else runs between steps or epochs (the W- and B-steps are in the loss).

    `eta` is the authors' η (55; it weighs ‖B − U‖ inside the B-step's Q); `nu` the ridge ν/μ (0.1);
    `sweeps` the DCC sweeps (10); `alpha` the loss weight of the quantization term (None = ηK/(2n),
    the authors' gradient). As a plain Keras loss, `loss(labels, h)` is the in-batch form (n = B).
    """

    columns = "memory"
    terms = ("likelihood", "quantization")

    def __init__(self, eta=55.0, nu=0.1, sweeps=10, alpha=None, name="dsdh_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        if eta < 0:
            raise ValueError(f"eta must be >= 0, got {eta}")
        if nu <= 0:
            raise ValueError(f"nu must be > 0 (the ridge keeps BᵀB + νI invertible), got {nu}")
        if int(sweeps) != sweeps or sweeps < 1:
            raise ValueError(f"sweeps must be a positive integer, got {sweeps}")
        if alpha is not None and alpha < 0:
            raise ValueError(f"alpha must be >= 0 or None, got {alpha}")
        self.eta = float(eta)
        self.nu = float(nu)
        self.sweeps = int(sweeps)
        self.alpha = None if alpha is None else float(alpha)

    def compute_terms(self, h, labels, columns):
        loss, likelihood, quantization = dsdh_loss(
            h,
            labels,
            columns.h,
            columns.labels,
            columns.batch_h,
            columns.batch_labels,
            num_rows=columns.num_rows,
            eta=self.eta,
            nu=self.nu,
            sweeps=self.sweeps,
            alpha=self.alpha,
        )
        return loss, (likelihood, quantization)

    def get_config(self):
        config = super().get_config()
        config.update(eta=self.eta, nu=self.nu, sweeps=self.sweeps, alpha=self.alpha)
        return config
