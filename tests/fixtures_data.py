"""Tiny on-disk data sets the data tests generate: IDX files, image folders, a NUS-WIDE copy."""

import dataclasses
import gzip
import os
import struct

import numpy as np
import tensorflow as tf

from dmrh_tf.training.config import Config

__all__ = [
    "fake_config",
    "write_fashion_idx",
    "write_idx",
    "write_image",
    "write_nus_wide",
]


def fake_config(**values):
    """A `Config` with whole splits (no subsets) unless `values` say otherwise."""
    return dataclasses.replace(Config(train_size=None, query_size=None), **values)


def write_idx(path, array, compress=None):
    """Write `array` (uint8, int32 or float32) as an IDX file; gzip when the name ends in .gz."""
    codes = {np.dtype("u1"): 0x08, np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D}
    array = np.asarray(array)
    big = array.astype(array.dtype.newbyteorder(">")) if array.dtype.itemsize > 1 else array
    header = bytes([0, 0, codes[big.dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + big.tobytes()
    compress = path.endswith(".gz") if compress is None else compress
    with (gzip.open if compress else open)(path, "wb") as f:
        f.write(data)
    return path


def write_fashion_idx(directory, n_train=40, n_test=20, gz=True, seed=0):
    """The four Fashion-MNIST IDX files with random 28×28 images and labels i % 10; returns them."""
    rng = np.random.default_rng(seed)
    os.makedirs(directory, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) % 10).astype(np.uint8),
    }
    for name, array in arrays.items():
        write_idx(os.path.join(directory, name + (".gz" if gz else "")), array)
    return arrays


def write_image(path, image):
    """Write uint8 [H, W, C] as PNG (lossless, so decoded pixels equal `image`)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tf.io.write_file(path, tf.io.encode_png(np.asarray(image, np.uint8)))
    return path


def write_nus_wide(root, num_images=30, num_concepts=24, missing=(), corrupt=(), seed=0):
    """A NUS-WIDE copy in the official layout; returns (relative paths, labels [n, concepts]).

    Concept j is positive with probability decreasing in j, so the 21 most frequent concepts
    are (almost surely) 0..20; image 0 has no concept at all. `missing` rows get no file,
    `corrupt` rows get bytes that do not decode.
    """
    rng = np.random.default_rng(seed)
    names = [f"c{j:02d}" for j in range(num_concepts)]
    labels = (rng.random((num_images, num_concepts)) < np.linspace(0.6, 0.05, num_concepts)).astype(int)
    labels[0] = 0
    labels[1:, 0] = 1 - labels[1:, 1:].any(axis=1) | labels[1:, 0]  # every other image has one
    relative = [f"Flickr/{names[j % num_concepts]}/{j:04d}_{1000 + j}.jpg" for j in range(num_images)]
    os.makedirs(os.path.join(root, "ImageList"), exist_ok=True)
    with open(os.path.join(root, "ImageList", "Imagelist.txt"), "w") as f:
        f.writelines("C:\\ImageData\\" + p.replace("/", "\\") + "\n" for p in relative)
    label_dir = os.path.join(root, "Groundtruth", "AllLabels")
    os.makedirs(label_dir, exist_ok=True)
    for j, name in enumerate(names):
        with open(os.path.join(label_dir, f"Labels_{name}.txt"), "w") as f:
            f.writelines(f"{v}\n" for v in labels[:, j])
    with open(os.path.join(root, "Concepts81.txt"), "w") as f:
        f.writelines(f"{n}\n" for n in names)
    for row, path in enumerate(relative):
        target = os.path.join(root, path)
        if row in missing:
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if row in corrupt:
            with open(target, "wb") as f:
                f.write(b"\xff\xd8\xff this is not a JPEG")
            continue
        image = rng.integers(0, 256, (12 + row % 5, 16, 3), dtype=np.uint8)
        tf.io.write_file(target, tf.io.encode_jpeg(image))
    return relative, labels
