"""Check image files before training: missing ones and undecodable ones, counted and named."""

import dataclasses
import logging
import os

import numpy as np
import tensorflow as tf

from dmrh_tf.data.pipeline import without_autotuning

__all__ = ["ImageCheck", "check_image_files"]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ImageCheck:
    """Outcome of `check_image_files`: `ok` [n] bool, and the paths that were missing or corrupt."""

    ok: np.ndarray
    missing: list
    corrupt: list

    def counts(self):
        return {"checked": len(self.ok), "missing": len(self.missing), "corrupt": len(self.corrupt)}


def _decodes(paths):
    """[n] bool: whether each existing file decodes as the pipeline decodes it (parallel)."""
    if not len(paths):
        return np.zeros(0, bool)
    rows = tf.data.Dataset.from_tensor_slices((np.arange(len(paths)), paths))

    def decode(row, path):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        return row, tf.shape(image)

    rows = without_autotuning(rows.map(decode, num_parallel_calls=tf.data.AUTOTUNE).ignore_errors())
    good = np.zeros(len(paths), bool)
    for row, shape in rows.as_numpy_iterator():
        good[row] = shape.min() > 0
    return good


def check_image_files(paths, *, decode=True):
    """Which of `paths` exist and (with `decode`) decode to a non-empty image.

    Decoding runs in parallel through `tf.data` with the same `tf.io.decode_image` call as the
    pipeline, so what passes here decodes in training.
    """
    paths = np.asarray(paths, dtype=str)
    exists = np.array([os.path.isfile(p) for p in paths], bool)
    good = exists.copy()
    if decode:
        good[exists] = _decodes(paths[exists])
    missing = paths[~exists].tolist()
    corrupt = paths[exists & ~good].tolist()
    return ImageCheck(good, missing, corrupt)
