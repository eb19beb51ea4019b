"""What the trainer hands a method's loss besides the replica's own rows: the columns of its pairs."""

from typing import Any, NamedTuple

from keras import ops


class Columns(NamedTuple):
    """The columns j of a loss over rows i (the replica's share of the global batch).

    Under `tf.distribute` each replica computes the loss of its own rows `h` [b, K] against these
    columns, normalised by *global* quantities (`num_rows`, counts over `batch_labels`…), so that the
    replicas' losses add up to the loss of the whole global batch on one device (tested). Anything a
    method derives from the batch as a whole (DCH's pair counts, DSDH's W) must come from `batch_h` /
    `batch_labels`, never from the replica's rows.
    """

    h: Any  # [M, K]: the global batch (gradient flows both ways) in "batch" mode; in "memory" mode
    # the latest output of all n training images, the global batch written in, without gradient
    labels: Any  # [M, C] one- or multi-hot labels of the columns
    same_image: Any  # [b, M] float: 1.0 where row i and column j are the same image
    num_rows: Any  # B, the global batch size (the normaliser of a mean over rows)
    batch_h: Any  # [B, K] the global batch's outputs, without gradient
    batch_labels: Any  # [B, C] the global batch's labels
    codes: Any = None  # ±1 codes a method keeps between steps (ADSH's database codes V [n, K],
    # DDSH's B_Ω [|Ω|, K]), or None
    state: Any = None  # dict of the method's other state tensors (DDSH: the Ω labels, the ratio r)

    @classmethod
    def in_batch(cls, h, labels):
        """One device, the batch against itself (a plain Keras loss call, the tests' references)."""
        rows = ops.shape(h)[0]
        return cls(
            h=h,
            labels=labels,
            same_image=ops.eye(rows, dtype="float32"),
            num_rows=rows,
            batch_h=ops.stop_gradient(h),
            batch_labels=labels,
        )
