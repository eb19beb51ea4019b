"""How each method trains beyond the shared `train_step`: its data plan, state and discrete steps.

- `procedure`: `Procedure`, the shared plan (seeded shuffles of the training split, no extra state).
- `adsh_procedure`: ADSH's outer iterations (a sampled Ω per epoch, a V-step after it).
- `ddsh_procedure`: DDSH's Ω-step (a discrete solve of the Ω codes) before each pass over the data.
"""

from dmrh_tf.training.procedures.adsh_procedure import ADSHProcedure
from dmrh_tf.training.procedures.ddsh_procedure import DDSHProcedure
from dmrh_tf.training.procedures.procedure import Procedure

__all__ = ["ADSHProcedure", "DDSHProcedure", "Procedure"]
