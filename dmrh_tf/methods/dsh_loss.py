"""DSH's contrastive loss with the ℓ1 binarization regularizer (Liu et al., CVPR 2016), in-batch.

For rows i (the replica's share of the global batch) against columns j (the global batch itself),
ordered pairs i ≠ j, linear outputs h:

    d²_ij = ‖h_i − h_j‖²,   s_ij = 1 if images i and j share at least one label, else 0
    L = ¼ · 1/(B(B−1)) Σ_{i≠j} [ s_ij d²_ij + (1 − s_ij) max(m − d²_ij, 0) ]
      + α · 1/B Σ_i ‖ |h_i| − 1 ‖₁

m = 2K and α = 0.01 by default. This is the form whose gradient equals the authors' Caffe layer
(`hashing_loss_layer.cpp`): its forward value sums the i < j pairs without the paper's ½ and
divides by B(B−1), but its backward pass applies only half that value's pair gradient (the
regulariser's gradient in full), so ¼ over ordered pairs is what it trains. With the columns
carrying gradient, each pair (i, j) reaches h_i through both its row and its column; the two
paths together give the layer's gradient (tested).
"""

import keras
from keras import ops

from dmrh_tf.methods.dmrh_loss import pairwise_similarity
from dmrh_tf.methods.hashing_loss import HashingLoss


def squared_distances(a, b):
    """‖a_i − b_j‖² [a, b] through one matmul, clipped at 0 against rounding."""
    cross = ops.matmul(a, ops.transpose(b))
    squares_a = ops.sum(ops.square(a), axis=1, keepdims=True)
    squares_b = ops.sum(ops.square(b), axis=1, keepdims=True)
    return ops.relu(squares_a - 2.0 * cross + ops.transpose(squares_b))


def dsh_loss(h, labels, columns_h, columns_labels, same_image=None, margin=None, alpha=0.01, num_rows=None):
    """Return (loss, pairs, regularizer) for rows `h` [b, K] against the columns `columns_h` [M, K].

    `pairs` is the ¼-mean contrastive term, `regularizer` the unweighted (1/B) Σ_i ‖|h_i| − 1‖₁, and
    loss = pairs + α · regularizer. `same_image` [b, M] masks each row's own column (default: the
    identity, i.e. the rows are the columns); `margin` None means 2K; `num_rows` is the B of the
    normalisers (default: the rows given), the global batch under `tf.distribute`.
    """
    h = ops.cast(h, "float32")
    columns_h = ops.cast(columns_h, "float32")
    b = ops.shape(h)[0]
    rows = ops.cast(b if num_rows is None else num_rows, "float32")
    bits = ops.cast(ops.shape(h)[1], "float32")
    margin = 2.0 * bits if margin is None else ops.cast(margin, "float32")
    other = 1.0 - (ops.eye(b, dtype="float32") if same_image is None else ops.cast(same_image, "float32"))
    distances = squared_distances(h, columns_h)
    similarity = pairwise_similarity(labels, columns_labels)
    contrastive = similarity * distances + (1.0 - similarity) * ops.relu(margin - distances)
    pairs = 0.25 * ops.sum(other * contrastive) / ops.maximum(rows * (rows - 1.0), 1.0)
    regularizer = ops.sum(ops.abs(ops.abs(h) - 1.0)) / rows
    return pairs + alpha * regularizer, pairs, regularizer


@keras.saving.register_keras_serializable(package="dmrh_tf")
class DSHLoss(HashingLoss):
    """DSH's loss (`dsh_loss`) with its hyper-parameters, serializable; pairs within the global batch.

    `margin` is the hinge's m on the squared distance (None: 2K, the authors' `bi_margin`), `alpha`
    the regulariser's weight (the authors' `tradeoff`).
    """

    columns = "batch"
    terms = ("pairs", "regularizer")

    def __init__(self, margin=None, alpha=0.01, name="dsh_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        if margin is not None and margin <= 0:
            raise ValueError(f"margin must be > 0 or None (2·K), got {margin}")
        if alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {alpha}")
        self.margin = None if margin is None else float(margin)
        self.alpha = float(alpha)

    def compute_terms(self, h, labels, columns):
        loss, pairs, regularizer = dsh_loss(
            h,
            labels,
            columns.h,
            columns.labels,
            same_image=columns.same_image,
            margin=self.margin,
            alpha=self.alpha,
            num_rows=columns.num_rows,
        )
        return loss, (pairs, regularizer)

    def get_config(self):
        config = super().get_config()
        config.update(margin=self.margin, alpha=self.alpha)
        return config
