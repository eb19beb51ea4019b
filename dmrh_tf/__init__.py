"""dmrh_tf: Deep Multi-Region Hashing (Zhou et al., ICASSP 2020) for Keras 3 / TensorFlow."""

from dmrh_tf.binary_code import BinaryCode
from dmrh_tf.cnnf_weights import CNNFWeightsError, load_cnnf_weights
from dmrh_tf.config import Config
from dmrh_tf.dmrh_loss import DMRHLoss, dpsh_loss
from dmrh_tf.encode import encode, encode_split
from dmrh_tf.learning_rate_schedule import WarmupStepDecay
from dmrh_tf.local_response_normalization import LocalResponseNormalization
from dmrh_tf.model import build_model, input_side
from dmrh_tf.region_fusion import RegionFusion
from dmrh_tf.run_dir import load_run

__all__ = [
    "BinaryCode",
    "CNNFWeightsError",
    "Config",
    "DMRHLoss",
    "LocalResponseNormalization",
    "RegionFusion",
    "WarmupStepDecay",
    "build_model",
    "dpsh_loss",
    "encode",
    "encode_split",
    "input_side",
    "load_cnnf_weights",
    "load_run",
]
