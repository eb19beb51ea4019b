"""Batch normalisation synchronised across replicas where the backend can, loadable on any backend."""

import keras


@keras.saving.register_keras_serializable(package="dmrh_tf")
class SyncBatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` with `synchronized=True` on the TensorFlow backend only.

    Under `tf.distribute` the batch statistics are then those of the global batch, so a distributed
    step equals a single-device one. Keras refuses `synchronized=True` on other backends, also when
    loading a saved model; this layer falls back to per-device statistics there, so a model trained
    with TensorFlow loads and runs on JAX or PyTorch (inference uses the moving statistics anyway).
    """

    def __init__(self, synchronized=True, **kwargs):
        synchronized = synchronized and keras.backend.backend() == "tensorflow"
        super().__init__(synchronized=synchronized, **kwargs)
