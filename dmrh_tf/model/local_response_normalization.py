"""Cross-channel local response normalisation, as in AlexNet and MatConvNet's CNN-F."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="dmrh_tf")
class LocalResponseNormalization(keras.layers.Layer):
    """`y_c = x_c / (bias + alpha * sum_{|d - c| <= depth_radius} x_d^2) ** beta`.

    The defaults are CNN-F's (window 5, k = 2, alpha = 1e-4 not divided by the window, beta = 0.75),
    i.e. `tf.nn.local_response_normalization(depth_radius=2, bias=2, alpha=1e-4, beta=0.75)`.
    Written with `keras.ops` so it runs on every Keras backend.

    Computed in at least float32, output in the compute dtype: under `mixed_float16` the window sum
    of squares overflows float16 (> 65504) once activations pass ~115, which would zero the channels.
    """

    def __init__(self, depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75, **kwargs):
        super().__init__(**kwargs)
        if depth_radius < 0:
            raise ValueError(f"depth_radius must be >= 0, got {depth_radius}")
        self.depth_radius = int(depth_radius)
        self.bias = float(bias)
        self.alpha = float(alpha)
        self.beta = float(beta)

    def call(self, inputs):
        r = self.depth_radius
        x = ops.cast(inputs, keras.backend.result_type(inputs.dtype, "float32"))
        squared = ops.square(x)
        padded = ops.pad(squared, [[0, 0], [0, 0], [0, 0], [r, r]])
        channels = ops.shape(x)[-1]
        window_sum = padded[..., 0:channels]
        for offset in range(1, 2 * r + 1):
            window_sum = window_sum + padded[..., offset : offset + channels]
        return ops.cast(x / ops.power(self.bias + self.alpha * window_sum, self.beta), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(depth_radius=self.depth_radius, bias=self.bias, alpha=self.alpha, beta=self.beta)
        return config
