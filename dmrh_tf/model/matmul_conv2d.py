"""A valid, stride-1 convolution computed as one matrix product over explicit patches."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="dmrh_tf")
class MatmulConv2D(keras.layers.Conv2D):
    """`Conv2D` (same weights, HWIO kernel, config) computed as patches @ kernel.

    For CNN-F's conv6 (6×6 kernel on a 7×7…15×15 map) and conv7 (1×1), whose outputs are tiny N×N
    grids, the convolution is a fully connected layer applied at N² positions. Measured on a 2-core
    CPU, TF's convolution kernels run these shapes at ~20 GFLOP/s while the same arithmetic as one
    matmul runs at ~80: the patch copy (B·N²·k²·C floats) is small next to the weights. Only
    `padding="valid"`, `strides=1`, `dilation_rate=1`, `groups=1` are accepted.
    """

    def __init__(self, filters, kernel_size, **kwargs):
        super().__init__(filters, kernel_size, **kwargs)
        if (
            self.padding != "valid"
            or tuple(self.strides) != (1, 1)
            or tuple(self.dilation_rate) != (1, 1)
            or self.groups != 1
            or self.data_format != "channels_last"
        ):
            raise ValueError(
                "MatmulConv2D supports valid, stride-1, undilated, channels_last convolutions only"
            )

    def convolution_op(self, inputs, kernel):
        kh, kw, channels, filters = kernel.shape
        height, width = inputs.shape[1] - kh + 1, inputs.shape[2] - kw + 1
        if kh == kw == 1:
            patches = inputs
        else:
            windows = [
                ops.reshape(inputs[:, i : i + kh, j : j + kw, :], (-1, 1, kh * kw * channels))
                for i in range(height)
                for j in range(width)
            ]
            patches = ops.concatenate(windows, axis=1) if len(windows) > 1 else windows[0]
        flat = ops.reshape(patches, (-1, kh * kw * channels))
        outputs = ops.matmul(flat, ops.reshape(kernel, (kh * kw * channels, filters)))
        return ops.reshape(outputs, (-1, height, width, filters))
