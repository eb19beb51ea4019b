"""The hashing methods' objectives: one file per method, each loss a pure function (its formula in
the docstring) plus a thin Keras loss, and the discrete steps of the methods that have them.

`keras.ops` (or NumPy, for host-side discrete steps) only: the losses run on any Keras backend.

- `hashing_loss`, `columns`: the contract between the trainer and a method's loss.
- `dmrh_loss`: DMRH's DPSH-style pairwise likelihood with the quantization term η (`DMRHLoss`, `dpsh_loss`).
"""

from dmrh_tf.methods.columns import Columns
from dmrh_tf.methods.dmrh_loss import DMRHLoss, dpsh_loss, pairwise_similarity
from dmrh_tf.methods.hashing_loss import HashingLoss

__all__ = ["Columns", "DMRHLoss", "HashingLoss", "dpsh_loss", "pairwise_similarity"]
