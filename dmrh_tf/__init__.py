"""dmrh_tf: Deep Multi-Region Hashing (Zhou et al., ICASSP 2020) for Keras 3 / TensorFlow.

The packages, in the direction imports go (see docs/architecture.md):

- entry points: `train`, `evaluate`, `encode` here, `dmrh_tf.index` (`python -m dmrh_tf.index`);
- `training`: config, trainer, distribution, run directory;
- `model` (the network and its layers) and `methods` (the hashing objectives of DMRH and the deep
  baselines): `keras.ops` only;
- `data` (data sets, splits, the input pipeline) and `evaluation` (metrics, ranking, the non-deep baselines).
"""

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
