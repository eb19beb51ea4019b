"""The sign function that turns real-valued outputs into ±1 codes."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="dmrh_tf")
class BinaryCode(keras.layers.Layer):
    """`b = sign(h)` with 0 mapped to −1, as a constant (no gradient flows through it)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)

    def call(self, h):
        return ops.stop_gradient(ops.where(h > 0, 1.0, -1.0))

    def compute_output_shape(self, input_shape):
        return input_shape
