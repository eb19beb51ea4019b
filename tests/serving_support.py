"""Shared helpers of the serving tests (a module, not tests: the other test_serving_* import it).

A fake run directory holds a tiny random-weight model (width 1/16, N = 1, K = 12 bits, so the
packed codes have 4 padding bits) that exports in a few seconds. Random weights with batch
normalisation give image-dependent codes on smooth images, which is all the tests need.
"""

import os
import struct
import zlib

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


def png_of_zeros(width, height):
    """A valid RGB PNG of `width` × `height` black pixels, streamed through zlib (a few KB per MP):
    the shape of a decompression bomb."""
    compressor = zlib.compressobj(9)
    row = b"\0" * (1 + 3 * width)  # filter byte 0, then the row's pixels
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def _lzw_zeros(pixels):
    """GIF LZW data (minimum code size 2) for `pixels` pixels of colour 0: clear, 0, 0, clear, …
    keeps every code 3 bits wide; `pixels` = 0 gives just clear and end (a hollow frame)."""
    codes = []
    for start in range(0, pixels, 2):
        codes += [4] + [0] * min(2, pixels - start)
    codes += [4, 5] if not pixels else [5]
    value = sum(code << (3 * i) for i, code in enumerate(codes))
    data = value.to_bytes(-(-3 * len(codes) // 8), "little")
    blocks = b"".join(bytes([len(data[i : i + 255])]) + data[i : i + 255] for i in range(0, len(data), 255))
    return b"\x02" + blocks + b"\x00"


def gif(width, height, frames, hollow=False):
    """A GIF of `frames` frames of `width` × `height` black pixels (`decode_gif` decodes every frame
    at the first frame's size). `hollow`: frames declare their size but hold no pixels (refused by
    the size check before decoding; not decodable)."""
    screen = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
    comment = b"\x21\xfe\x04,,,,\x00"  # an extension block, holding commas (0x2C) to skip
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0)
    frame += _lzw_zeros(0 if hollow else width * height)
    return screen + comment + frame * frames + b"\x3b"


def bmp_header(width, height):
    """The first 54 bytes of a 24-bit BMP declaring `width` × `height` (negative height: top-down)."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 54, 0, 0, 54) + info
