"""The hashing methods' objectives: one file per method, each loss a pure function (its formula in
the docstring) plus a thin serializable Keras loss, and the discrete steps of the methods that have them.

`keras.ops` (or NumPy, for the host-side discrete steps) only: the losses run on any Keras backend.

- `hashing_loss`, `columns`: the contract between the trainer and a method's loss.
- `dmrh_loss`: DMRH's (and DPSH's) pairwise likelihood with the quantization term η.
- `dsh_loss`, `dch_loss`: in-batch losses (DSH's contrastive hinge, DCH's Cauchy cross-entropy).
- `dsdh_loss`, `dsdh_steps`: DSDH's likelihood + discrete codes, with its ridge W-step and DCC B-step.
- `ddsh_loss`, `ddsh_steps`: DDSH's fit of tanh(h)·B_Ωᵀ to K·S̃, and its per-bit BQP Ω-step.
- `adsh_loss`, `adsh_steps`: ADSH's asymmetric loss against the database codes V, and its V-step.

docs/methods.md describes each method, its settings and where this implementation differs.
"""

from dmrh_tf.methods.adsh_loss import ADSHLoss, adsh_loss
from dmrh_tf.methods.columns import Columns
from dmrh_tf.methods.dch_loss import DCHLoss, dch_loss
from dmrh_tf.methods.ddsh_loss import DDSHColumns, DDSHLoss, ddsh_loss
from dmrh_tf.methods.dmrh_loss import DMRHLoss, dpsh_loss, pairwise_similarity
from dmrh_tf.methods.dsdh_loss import DSDHLoss, dsdh_loss
from dmrh_tf.methods.dsh_loss import DSHLoss, dsh_loss
from dmrh_tf.methods.hashing_loss import HashingLoss

__all__ = [
    "ADSHLoss",
    "Columns",
    "DCHLoss",
    "DDSHColumns",
    "DDSHLoss",
    "DMRHLoss",
    "DSDHLoss",
    "DSHLoss",
    "HashingLoss",
    "adsh_loss",
    "dch_loss",
    "ddsh_loss",
    "dpsh_loss",
    "dsdh_loss",
    "dsh_loss",
    "pairwise_similarity",
]
