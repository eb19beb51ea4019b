"""The DMRH network: CNN-F backbone, region outputs, fusion and codes."""

import keras
import numpy as np

from dmrh_tf.model.binary_code import BinaryCode
from dmrh_tf.model.cnnf import cnnf_backbone
from dmrh_tf.model.pixel_normalization import PixelNormalization
from dmrh_tf.model.region_fusion import RegionFusion

# ImageNet statistics in the 0..255 pixel scale the model takes.
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)
MAX_REGIONS = 10


def input_side(regions):
    """Input side giving an `regions`×`regions` grid of region outputs: 192 + 32·N.

    Each region has CNN-F's 224-px receptive field and regions are 32 px apart.
    """
    if not isinstance(regions, (int, np.integer)) or not 1 <= regions <= MAX_REGIONS:
        raise ValueError(f"regions must be an integer in 1..{MAX_REGIONS}, got {regions!r}")
    return 192 + 32 * int(regions)


def build_model(
    bits=48,
    regions=2,
    width=1.0,
    *,
    normalization="batch",
    dropout=0.5,
    weighting="magnitude",
    pixel_mean=IMAGENET_MEAN,
    pixel_std=IMAGENET_STD,
    name="dmrh",
):
    """Build the DMRH network as a functional `keras.Model`.

    Input: float images [B, S, S, 3] with S = `input_side(regions)`, pixel values in 0..255 (the
    model normalises them with `pixel_mean`/`pixel_std`, stored as weights so that
    `load_cnnf_weights` can replace them with CNN-F's mean). Output: a dict with
    `region_outputs` [B, N, N, bits], fused `h` [B, bits] and ±1 `codes` [B, bits].

    `width` < 1 scales every channel count down: a smaller network than the paper's, for CPUs.
    `normalization="lrn"` is the paper's CNN-F (for pretrained weights); `"batch"` learns from scratch.
    """
    if bits < 1:
        raise ValueError(f"bits must be >= 1, got {bits}")
    side = input_side(regions)
    images = keras.Input((side, side, 3), name="images")
    normalize = PixelNormalization(axis=-1, name="pixel_normalization")
    x = normalize(images)
    region_outputs = cnnf_backbone(x, bits, width=width, normalization=normalization, dropout=dropout)
    h = RegionFusion(weighting=weighting, name="fusion")(region_outputs)
    codes = BinaryCode(name="codes")(h)
    model = keras.Model(images, {"region_outputs": region_outputs, "h": h, "codes": codes}, name=name)
    set_pixel_normalization(model, pixel_mean, pixel_std)
    return model


def set_pixel_normalization(model, mean, std):
    """Set the per-channel mean and standard deviation (0..255 scale) the model subtracts/divides."""
    layer = model.get_layer("pixel_normalization")
    mean = np.broadcast_to(np.asarray(mean, "float32"), (3,))
    std = np.broadcast_to(np.asarray(std, "float32"), (3,))
    if np.any(std <= 0):
        raise ValueError(f"pixel std must be > 0, got {std}")
    layer.adapt_mean.assign(mean)
    layer.adapt_variance.assign(np.square(std))
    layer.finalize_state()


def model_regions(model):
    """The region grid N of a model built by `build_model`."""
    return int(model.output["region_outputs"].shape[1])


def model_bits(model):
    """The code length K of a model built by `build_model`."""
    return int(model.output["h"].shape[-1])
