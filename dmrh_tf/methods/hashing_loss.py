"""The contract between the trainer and a hashing method's loss."""

import keras

from dmrh_tf.methods.columns import Columns


class HashingLoss(keras.losses.Loss):
    """Base of every method's loss. A subclass sets two class attributes and one method:

    - `columns`: `"batch"` (pairs within the global batch) or `"memory"` (the batch against the latest
      outputs of all n training images, which the trainer keeps and writes the batch into).
    - `terms`: the names of the parts `compute_terms` returns, logged as metrics beside `loss`.
    - `compute_terms(h, labels, columns)` → `(loss, (term, …))` for the replica's rows `h` [b, K]
      (float32) and `labels` [b, C] against `columns` (a `Columns`).

    As a plain Keras loss, `loss(labels, h)` is the in-batch form on one device.
    """

    columns = "batch"
    terms = ()

    def compute_terms(self, h, labels, columns):
        raise NotImplementedError

    def call(self, y_true, y_pred):
        return self.compute_terms(y_pred, y_true, Columns.in_batch(y_pred, y_true))[0]
