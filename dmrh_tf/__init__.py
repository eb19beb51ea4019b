"""dmrh_tf: Deep Multi-Region Hashing (Zhou et al., ICASSP 2020) for Keras 3 / TensorFlow.

The packages, in the direction imports go (see docs/architecture.md):

- entry points: `train`, `evaluate`, `encode` here, `dmrh_tf.index` (`python -m dmrh_tf.index`);
- `training`: config, trainer, distribution, run directory;
- `model` (the network and its layers) and `methods` (the hashing objectives of DMRH and the deep
  baselines): `keras.ops` only;
- `data` (data sets, splits, the input pipeline) and `evaluation` (metrics, ranking, the non-deep baselines).
"""

# ruff: noqa: E402 (the imports below come after the oneDNN setting, which must precede TensorFlow's)
import logging
import os
import platform
import sys

# TensorFlow's oneDNN CPU kernels unless the environment says otherwise, set before anything imports
# TensorFlow (which reads it once, on import): see dmrh_tf/model/cpu_kernels.py for why.
_ONEDNN = "TF_ENABLE_ONEDNN_OPTS"
_TOO_LATE = "tensorflow" in sys.modules and _ONEDNN not in os.environ
os.environ.setdefault(_ONEDNN, "1")

from dmrh_tf.methods import DMRHLoss, dpsh_loss
from dmrh_tf.model import (
    BinaryCode,
    CNNFWeightsError,
    LocalResponseNormalization,
    RegionFusion,
    SyncBatchNormalization,
    build_model,
    input_side,
    load_cnnf_weights,
)
from dmrh_tf.training import Config, WarmupStepDecay, load_run

# The model, its layers and the loss are keras.ops only and run on any Keras backend (JAX on a GPU
# machine without TensorFlow, say); encoding, data, training and export need TensorFlow.
try:
    from dmrh_tf.encode import encode, encode_split
except ModuleNotFoundError as error:
    if error.name != "tensorflow":
        raise

log = logging.getLogger(__name__)

# Where importing dmrh_tf first would have helped: TF's x86 Linux builds, on Keras's TF backend.
if _TOO_LATE and sys.platform == "linux" and platform.machine() == "x86_64":
    import keras

    from dmrh_tf.model.cpu_kernels import onednn_enabled

    if keras.backend.backend() == "tensorflow" and not onednn_enabled():
        log.warning(
            "TensorFlow was imported before dmrh_tf and runs its own CPU kernels, which trained 1.4-1.5x "
            "slower than oneDNN's on AVX2 CPUs: import dmrh_tf first, or set %s=1 before Python starts "
            "(=0 keeps TensorFlow's own and silences this)",
            _ONEDNN,
        )

__all__ = [
    "BinaryCode",
    "CNNFWeightsError",
    "Config",
    "DMRHLoss",
    "LocalResponseNormalization",
    "RegionFusion",
    "SyncBatchNormalization",
    "WarmupStepDecay",
    "build_model",
    "dpsh_loss",
    "encode",
    "encode_split",
    "input_side",
    "load_cnnf_weights",
    "load_run",
]
