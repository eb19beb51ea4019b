"""Per-channel pixel normalisation computed as one multiply-add over whole image rows."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="dmrh_tf")
class PixelNormalization(keras.layers.Normalization):
    """`keras.layers.Normalization(axis=-1)` (same weights, config and outputs) for images [B, H, W, C].

    Keras computes (x − mean) / std by broadcasting [C] over the innermost axis, which TF's CPU
    kernels run poorly for C = 3: measured on a 2-core CPU, 36–46 ms for a batch of 32 images of
    256×256 — a tenth of a width-0.25 training step. Here x·(1/std) − mean/std with the scale and
    offset tiled over a row of H·W·C values: 5–7 ms, the same result up to float rounding.
    """

    def call(self, inputs):
        if self.invert or self._keep_axis != (len(inputs.shape) - 1,) or None in inputs.shape[1:]:
            return super().call(inputs)
        x = ops.convert_to_tensor(inputs, dtype=self.compute_dtype)
        std = ops.maximum(
            ops.sqrt(ops.reshape(self.convert_weight(self.variance), (-1,))), keras.config.epsilon()
        )
        scale = 1.0 / std
        offset = -ops.reshape(self.convert_weight(self.mean), (-1,)) * scale
        pixels = inputs.shape[1] * inputs.shape[2]
        row = ops.reshape(x, (-1, pixels * inputs.shape[3]))
        row = row * ops.tile(scale, (pixels,)) + ops.tile(offset, (pixels,))
        return ops.reshape(row, ops.shape(x))
