"""Test set-up: two logical CPU devices (for tf.distribute tests), quiet TF logs, fixed seeds."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

# dmrh_tf first, as in a user's process: it picks TensorFlow's CPU kernels before TF is imported
import dmrh_tf  # noqa: F401

# isort: split
import tensorflow as tf

# Must happen before TensorFlow initialises its devices (i.e. before any op runs).
_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
)

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed_and_policy():
    """Fixed seeds and float32 for every test. No `clear_session`: it costs ~0.5 s a test and no
    test depends on auto-generated layer names."""
    keras.utils.set_random_seed(0)
    keras.mixed_precision.set_dtype_policy("float32")


@pytest.fixture
def one_faiss_thread():
    """One OpenMP thread for faiss: on a busy shared CPU its threads wait on each other at every
    barrier (IVF training gets several times slower). Thread-count effects on results are tested
    explicitly in test_index_backends.py."""
    import faiss

    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(previous)
