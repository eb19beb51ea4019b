"""The CNN-F backbone (MatConvNet `imagenet-vgg-f`) made fully convolutional.

Layer table (kernels HWIO, as stored in the .mat file; `width` scales every channel count):

| layer | spec |
|---|---|
| conv1 | 11×11, 64, stride 4, pad 0 → ReLU → LRN → maxpool 3×3/2, pad bottom/right 1 |
| conv2 | 5×5, 256, stride 1, pad 2 → ReLU → LRN → maxpool 3×3/2, pad bottom/right 1 |
| conv3..5 | 3×3, 256, pad 1, ReLU each; maxpool 3×3/2 (pad bottom/right 1) after conv5 |
| conv6 (FC6) | 6×6, 4096, valid → ReLU → dropout |
| conv7 (FC7) | 1×1, 4096 → ReLU → dropout |
| conv8 (FC8) | 1×1, K, linear, kernel and bias init N(0, 0.01²) (the authors' release) |

With `normalization="batch"` every convolution but conv8 is followed by batch normalisation (no
conv bias) and LRN is dropped: the network then learns from scratch, which the paper's network
does not (see the README). `normalization="lrn"` is the paper's network.
"""

import keras

from dmrh_tf.model.local_response_normalization import LocalResponseNormalization
from dmrh_tf.model.matmul_conv2d import MatmulConv2D
from dmrh_tf.model.space_to_depth_conv2d import SpaceToDepthConv2D
from dmrh_tf.model.sync_batch_normalization import SyncBatchNormalization

NORMALIZATIONS = ("lrn", "batch")
LAYER_NAMES = ("conv1", "conv2", "conv3", "conv4", "conv5", "conv6", "conv7", "conv8")
# (name, kernel, filters at width 1, stride, padding)
_CONVS = (
    ("conv1", 11, 64, 4, "valid"),
    ("conv2", 5, 256, 1, "same"),
    ("conv3", 3, 256, 1, "same"),
    ("conv4", 3, 256, 1, "same"),
    ("conv5", 3, 256, 1, "same"),
    ("conv6", 6, 4096, 1, "valid"),
    ("conv7", 1, 4096, 1, "valid"),
)


def scaled_channels(channels, width):
    """Channel count of a layer at `width` (1.0 = CNN-F's)."""
    return max(1, round(channels * width))


def _pool(x, name):
    # MatConvNet pads pool1/pool2/pool5 by one on the bottom and right; inputs are ReLU outputs (≥ 0),
    # so zero padding equals the -inf padding of a max pool.
    x = keras.layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"{name}_pad")(x)
    return keras.layers.MaxPooling2D(3, strides=2, name=name)(x)


def cnnf_backbone(x, bits, width=1.0, normalization="batch", dropout=0.5, synchronized=True):
    """Apply the fully convolutional CNN-F to `x` and return the region outputs [B, N, N, bits].

    `synchronized`: batch statistics over the global batch under `tf.distribute` (TensorFlow
    backend only; `SyncBatchNormalization`), so a distributed step equals a single-device one.
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    if width <= 0:
        raise ValueError(f"width must be > 0, got {width}")
    batch_norm = normalization == "batch"
    for name, kernel, filters, stride, padding in _CONVS:
        # Same weights, faster CPU kernels: conv1 on 4×4 blocks, conv6/conv7 (the former FC
        # layers) as matmuls (each layer's docstring has the measurements)
        conv = {"conv1": SpaceToDepthConv2D, "conv6": MatmulConv2D, "conv7": MatmulConv2D}
        conv = conv.get(name, keras.layers.Conv2D)
        x = conv(
            scaled_channels(filters, width),
            kernel,
            strides=stride,
            padding=padding,
            use_bias=not batch_norm,
            kernel_initializer="he_normal" if batch_norm else "glorot_uniform",
            name=name,
        )(x)
        if batch_norm:
            x = SyncBatchNormalization(
                momentum=0.9, epsilon=1e-5, synchronized=synchronized, name=f"{name}_bn"
            )(x)
        x = keras.layers.ReLU(name=f"{name}_relu")(x)
        if name in ("conv1", "conv2") and not batch_norm:
            x = LocalResponseNormalization(name=f"{name}_lrn")(x)
        if name in ("conv1", "conv2", "conv5"):
            x = _pool(x, f"pool{name[-1]}")
        if name in ("conv6", "conv7") and dropout > 0:
            x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return keras.layers.Conv2D(
        bits,
        1,
        kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
        bias_initializer=keras.initializers.RandomNormal(stddev=0.01),
        name="conv8",
    )(x)
