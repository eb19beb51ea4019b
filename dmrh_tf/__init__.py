"""dmrh_tf: Deep Multi-Region Hashing (Zhou et al., ICASSP 2020) for Keras 3 / TensorFlow."""

from dmrh_tf.binary_code import BinaryCode
from dmrh_tf.local_response_normalization import LocalResponseNormalization
from dmrh_tf.model import build_model, input_side
from dmrh_tf.region_fusion import RegionFusion

__all__ = [
    "BinaryCode",
    "LocalResponseNormalization",
    "RegionFusion",
    "build_model",
    "input_side",
]
