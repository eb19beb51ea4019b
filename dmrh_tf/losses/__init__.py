"""The hashing objectives, each a pure function (its formula in the docstring) plus a thin Keras loss.

`keras.ops` only, as the model: the losses run on any Keras backend.

- `dmrh_loss`: DMRH's DPSH-style pairwise likelihood with the quantization term η (`DMRHLoss`, `dpsh_loss`).
"""

from dmrh_tf.losses.dmrh_loss import DMRHLoss, dpsh_loss, pairwise_similarity

__all__ = ["DMRHLoss", "dpsh_loss", "pairwise_similarity"]
