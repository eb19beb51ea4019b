"""A valid, strided convolution computed as a stride-1 convolution of space-to-depth blocks."""

import contextlib

import keras
from keras import ops

from dmrh_tf.model.cpu_kernels import onednn_enabled

_blocked_forced = False


def blocks_pay() -> bool:
    """Whether to compute the blocked convolution, decided when a graph is traced: on TensorFlow's
    own (Eigen) CPU kernels, in `blocked_convolutions()`, and on other backends (as measured before).
    Under oneDNN's kernels (`dmrh_tf.model.cpu_kernels`) the plain strided convolution trained 6 %
    faster (widths 0.25 and 0.5, N = 2, 2 AVX2 cores, benchmarks/results/onednn_ab/). Not measured:
    a TF GPU, and XLA (`--jit-compile`), whose CPU convolutions are not oneDNN's."""
    return _blocked_forced or keras.backend.backend() != "tensorflow" or not onednn_enabled()


@contextlib.contextmanager
def blocked_convolutions():
    """Trace the blocked path whatever this process's kernels: for a graph that runs elsewhere (a
    SavedModel for TF Serving, whose host may run TF's own kernels, where the plain shape is slow)."""
    global _blocked_forced
    previous, _blocked_forced = _blocked_forced, True
    try:
        yield
    finally:
        _blocked_forced = previous


@keras.saving.register_keras_serializable(package="dmrh_tf")
class SpaceToDepthConv2D(keras.layers.Conv2D):
    """`Conv2D` (same weights, HWIO kernel, config) computed on s×s blocks of the input.

    For CNN-F's conv1 (11×11, stride 4, 3 channels): the input is rearranged into 4×4 blocks
    (channels 16·C), the kernel zero-padded to 12×12 and rearranged the same way into 3×3, and one
    stride-1 convolution gives the same outputs. Measured on a 2-core CPU, TF's kernels run the
    strided 3-channel shape at ~40 GFLOP/s forward and ~16 for the filter gradient, the blocked one
    at the speed of conv2–conv5 (~100), for 19 % more arithmetic (the padded kernel row and column).
    Under TensorFlow's oneDNN kernels, which run the strided shape well, it computes the plain
    convolution instead (`blocks_pay`): the layer, its weights and its `.keras` file are the same
    either way; an exported SavedModel holds the blocked graph (`blocked_convolutions`).
    Only `padding="valid"`, square strides > 1, `dilation_rate=1`, `groups=1` are accepted.
    """

    def __init__(self, filters, kernel_size, **kwargs):
        super().__init__(filters, kernel_size, **kwargs)
        stride = self.strides[0]
        if (
            self.padding != "valid"
            or self.strides[0] != self.strides[1]
            or stride < 2
            or tuple(self.dilation_rate) != (1, 1)
            or self.groups != 1
            or self.data_format != "channels_last"
        ):
            raise ValueError(
                "SpaceToDepthConv2D supports valid, square-strided (stride >= 2), undilated, "
                "channels_last convolutions only"
            )

    def convolution_op(self, inputs, kernel):
        if blocks_pay():
            return self.blocked_convolution(inputs, kernel)
        return super().convolution_op(inputs, kernel)

    def blocked_convolution(self, inputs, kernel):
        """The convolution as a stride-1 convolution of s×s blocks (the same outputs)."""
        s = self.strides[0]
        kh, kw, channels, filters = kernel.shape
        bh, bw = -(-kh // s), -(-kw // s)  # the kernel in blocks
        out_h, out_w = (inputs.shape[1] - kh) // s + 1, (inputs.shape[2] - kw) // s + 1
        # The input rows and columns the blocked windows cover: the strided windows' pixels, then
        # pixels that meet only the kernel's zero padding (padded with zeros where the image ends).
        rows, cols = s * (out_h - 1 + bh), s * (out_w - 1 + bw)
        x = inputs[:, : min(rows, inputs.shape[1]), : min(cols, inputs.shape[2]), :]
        pad_h, pad_w = rows - x.shape[1], cols - x.shape[2]
        if pad_h or pad_w:
            x = ops.pad(x, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)))
        x = ops.reshape(x, (-1, rows // s, s, cols // s, s, channels))
        x = ops.reshape(ops.transpose(x, (0, 1, 3, 2, 4, 5)), (-1, rows // s, cols // s, s * s * channels))
        k = ops.pad(kernel, ((0, bh * s - kh), (0, bw * s - kw), (0, 0), (0, 0)))
        k = ops.reshape(k, (bh, s, bw, s, channels, filters))
        k = ops.reshape(ops.transpose(k, (0, 2, 1, 3, 4, 5)), (bh, bw, s * s * channels, filters))
        return ops.conv(x, k, strides=1, padding="valid", data_format="channels_last")
