"""Shared helpers of the serving tests (a module, not tests: the other test_serving_* import it).

A fake run directory holds a tiny random-weight model (width 1/16, N = 1, K = 12 bits, so the
packed codes have 4 padding bits) that exports in a few seconds. Random weights with batch
normalisation give image-dependent codes on smooth images, which is all the tests need.
"""

import os

import keras
import numpy as np
import tensorflow as tf

import dmrh_tf
from dmrh_tf.training.run_dir import MODEL_FILE, write_config

BITS = 12
REGIONS = 1
WIDTH = 0.0625
MODEL_NAME = "dmrh"


def make_run_dir(path, seed=0, bits=BITS):
    """Write a finished-looking run (config.json + model.keras) to `path`; return the model."""
    keras.utils.set_random_seed(seed)
    write_config(path, dmrh_tf.Config(bits=bits, regions=REGIONS, width=WIDTH, seed=seed))
    model = dmrh_tf.build_model(bits, REGIONS, WIDTH)
    model.save(os.path.join(path, MODEL_FILE))
    return model


def smooth_images(n, height, width, seed=0):
    """uint8 [n, height, width, 3]: coarse random colour blocks, upsampled (varied codes)."""
    rng = np.random.RandomState(seed)
    coarse = rng.randint(0, 256, (n, 4, 4, 3)).astype(np.float32)
    return tf.cast(tf.image.resize(coarse, (height, width), method="bilinear"), tf.uint8).numpy()


def png(image):
    return tf.io.encode_png(image).numpy()


def jpeg(image, quality=90):
    return tf.io.encode_jpeg(image, quality=quality).numpy()


def decode(data):
    return tf.io.decode_image(data, channels=3, expand_animations=False).numpy()


def assert_codes_vary(codes):
    """Guard against a vacuous comparison: the images must not all hash to one code."""
    assert len({row.tobytes() for row in np.asarray(codes)}) > 1
