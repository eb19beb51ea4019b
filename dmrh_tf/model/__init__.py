"""The network: the CNN-F backbone, DMRH's custom layers, `build_model` and CNN-F weight loading.

`keras.ops` only (no TensorFlow): the model runs and trains on any Keras backend.

- `dmrh_model`: `build_model`, `input_side` (192 + 32·N) and what a built model tells about itself.
- `cnnf`: the CNN-F layer table as a fully convolutional backbone giving an N×N grid of region outputs.
- `cnnf_weights`: MatConvNet's `imagenet-vgg-f.mat` into that backbone.
- One layer per file: `RegionFusion`, `BinaryCode`, `LocalResponseNormalization`, `MatmulConv2D`,
  `SpaceToDepthConv2D`, `PixelNormalization`, `SyncBatchNormalization` (all registered as
  `dmrh_tf>Name`).
"""

from dmrh_tf.model.binary_code import BinaryCode
from dmrh_tf.model.cnnf_weights import CNNFWeightsError, load_cnnf_weights
from dmrh_tf.model.dmrh_model import build_model, input_side, model_bits, model_regions
from dmrh_tf.model.local_response_normalization import LocalResponseNormalization
from dmrh_tf.model.matmul_conv2d import MatmulConv2D
from dmrh_tf.model.pixel_normalization import PixelNormalization
from dmrh_tf.model.region_fusion import RegionFusion
from dmrh_tf.model.space_to_depth_conv2d import SpaceToDepthConv2D
from dmrh_tf.model.sync_batch_normalization import SyncBatchNormalization

__all__ = [
    "BinaryCode",
    "CNNFWeightsError",
    "LocalResponseNormalization",
    "MatmulConv2D",
    "PixelNormalization",
    "RegionFusion",
    "SpaceToDepthConv2D",
    "SyncBatchNormalization",
    "build_model",
    "input_side",
    "load_cnnf_weights",
    "model_bits",
    "model_regions",
]
