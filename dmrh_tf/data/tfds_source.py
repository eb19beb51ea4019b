"""TFDS access shared by the loaders: prepare a builder where `--data-dir` says, read whole splits.

Nothing is downloaded anywhere but the TFDS `data_dir` the user chose (`--data-dir`; TFDS's own
default `~/tensorflow_datasets` when none is given), and every download or build is logged first.
"""

import hashlib
import logging
import os

import numpy as np
import tensorflow as tf

__all__ = ["prepare_builder", "read_arrays", "read_columns"]

log = logging.getLogger(__name__)

_BATCH = 1024
INDEX_CACHE = "dmrh_tf-columns-{split}-{digest}.npz"  # next to the records it summarises


def prepare_builder(name, data_dir, *, how_to_get, download_config=None, builder_kwargs=None):
    """The TFDS builder `name` under `data_dir`, downloaded and prepared first if it is not yet.

    how_to_get: what the user can do when preparing fails (no network, no manual files); it ends
    the error message, after TFDS's own reason.
    """
    import tensorflow_datasets as tfds

    builder = tfds.builder(name, data_dir=data_dir, **(builder_kwargs or {}))
    if not builder.is_prepared():
        log.info(
            "TFDS %s is not prepared in %s: downloading and preparing it there "
            "(pass --data-dir to choose another place; without internet TFDS fails only after "
            "its retries)",
            name,
            builder.data_dir,
        )
        try:
            builder.download_and_prepare(download_config=download_config)
        except Exception as error:  # TFDS raises many types (network, checksums, manual files)
            raise RuntimeError(
                f"could not prepare the TFDS data set {name!r} in {builder.data_dir}: "
                f"{type(error).__name__}: {error}\n{how_to_get}"
            ) from error
    return builder


def read_arrays(builder, split, keys):
    """{key: numpy array} of the features `keys` over all of TFDS `split`, in TFDS read order."""
    ds = builder.as_dataset(split=split, shuffle_files=False)
    ds = ds.map(lambda ex: {k: ex[k] for k in keys}).batch(_BATCH)
    parts = {k: [] for k in keys}
    for batch in ds.as_numpy_iterator():
        for k in keys:
            parts[k].append(batch[k])
    return {k: np.concatenate(v) if v else np.zeros(0) for k, v in parts.items()}


def _cache_path(builder, split, tag):
    try:  # a rebuilt data set (other records, same version) gets another cache file
        info = builder.info.splits[split]
        records = f"{info.num_examples}/{info.num_bytes}"
    except (KeyError, TypeError, ValueError):
        records = "?"
    key = f"{builder.name}/{builder.version}/{split}/{records}/{tag}"
    digest = hashlib.sha256(key.encode()).hexdigest()
    return os.path.join(builder.data_dir, INDEX_CACHE.format(split=split, digest=digest[:12]))


def _plain(array):
    """Text columns (object arrays of bytes) as str arrays, which .npz stores without pickle."""
    if array.dtype == object:
        return np.array([v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in array])
    return array


def read_columns(builder, split, features, fn, tag):
    """Small per-record columns of TFDS `split` (e.g. labels), without decoding the images.

    features: the PartialDecoding spec of the features `fn` needs; fn: example → {name: tensor}.
    The result {name: array} is cached as an .npz beside the prepared records (when that folder
    exists and is writable), keyed by builder version, split and `tag`: reading a large set's
    records once takes minutes, the cache a fraction of a second.
    """
    import tensorflow_datasets as tfds

    path = _cache_path(builder, split, tag)
    if os.path.isfile(path):
        with np.load(path, allow_pickle=False) as cached:
            log.info("read %s %s columns from the cache %s", builder.name, split, path)
            return {k: cached[k] for k in cached.files}
    log.info("reading the %s %s records once for their labels (cached afterwards)", builder.name, split)
    ds = builder.as_dataset(split=split, shuffle_files=False, decoders=tfds.decode.PartialDecoding(features))
    ds = ds.map(fn, num_parallel_calls=tf.data.AUTOTUNE).batch(_BATCH)
    parts = {}
    for batch in ds.as_numpy_iterator():
        for k, v in batch.items():
            parts.setdefault(k, []).append(v)
    columns = {k: _plain(np.concatenate(v)) for k, v in parts.items()}
    if os.path.isdir(builder.data_dir):
        try:
            np.savez(path + ".tmp.npz", **columns)
            os.replace(path + ".tmp.npz", path)
        except OSError as error:
            log.warning("could not cache the %s columns in %s: %s", split, path, error)
    return columns
