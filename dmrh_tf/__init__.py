"""dmrh_tf: Deep Multi-Region Hashing (Zhou et al., ICASSP 2020) for Keras 3 / TensorFlow."""

from dmrh_tf.binary_code import BinaryCode
from dmrh_tf.cnnf_weights import CNNFWeightsError, load_cnnf_weights
from dmrh_tf.config import Config
from dmrh_tf.dmrh_loss import DMRHLoss, dpsh_loss
from dmrh_tf.learning_rate_schedule import WarmupStepDecay
from dmrh_tf.local_response_normalization import LocalResponseNormalization
from dmrh_tf.model import build_model, input_side
from dmrh_tf.region_fusion import RegionFusion
from dmrh_tf.run_dir import load_run
from dmrh_tf.sync_batch_normalization import SyncBatchNormalization

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
