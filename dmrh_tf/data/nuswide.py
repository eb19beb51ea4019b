"""NUS-WIDE-21 through the package's own TFDS builder (`nus_wide21`), images streamed.

Protocol (the slides'): the images with at least one of the 21 most frequent concepts; 10,000
queries held out from a seed (`query_size`, default 10,000), the rest (~185K) is train =
database (`train_size` takes a simple random subset). No split lists are public in the release:
ours are written to every run directory and can be given back with `splits_dir`.

`--data-dir D`: when D holds the raw NUS-WIDE files (`ImageList/Imagelist.txt`, ...) they are the
manual download and the TFDS records go to `D/nus_wide21/`; otherwise D is the TFDS data_dir and
the raw files are expected in `D/downloads/manual` until the records are built (once).
Ids are `nuswide:<path>` with the image's path in the download (e.g. `Flickr/actor/0001_….jpg`).
"""

import logging
import os

import numpy as np

from dmrh_tf.data.protocol import split_one_pool
from dmrh_tf.data.splits import Split
from dmrh_tf.data.tfds_images import TFDSImages

__all__ = ["BUILDER_MODULE", "DEFAULT_QUERIES", "load_nuswide"]

log = logging.getLogger(__name__)

BUILDER_MODULE = "dmrh_tf.data.nus_wide21_builder"
DEFAULT_QUERIES = 10_000  # the slides' query set


def _locations(data_dir):
    """(TFDS data_dir, manual folder) for `--data-dir`."""
    from dmrh_tf.data.nus_wide_files import find_nus_wide_files

    data_dir = data_dir or os.path.expanduser("~/tensorflow_datasets")
    try:
        find_nus_wide_files(data_dir)
        return data_dir, data_dir
    except FileNotFoundError:
        return data_dir, os.path.join(data_dir, "downloads", "manual")


def _labels_and_ids(example):
    return {"labels": example["labels"], "id": example["id"]}


def load_nuswide(config):
    """NUS-WIDE-21 `Splits`: held-out queries, train = database (see the module docstring)."""
    import tensorflow_datasets as tfds

    from dmrh_tf.data.nus_wide21_builder import NusWide21
    from dmrh_tf.data.nus_wide_files import MANUAL_DOWNLOAD_INSTRUCTIONS, find_nus_wide_files
    from dmrh_tf.data.tfds_source import read_columns

    data_dir, manual_dir = _locations(config.data_dir)
    builder = NusWide21(data_dir=data_dir, skip_corrupt=config.skip_corrupt)
    if not builder.is_prepared():
        find_nus_wide_files(manual_dir)  # fails early, saying what is missing and how to get it
        log.info("building the nus_wide21 TFDS records from %s into %s (once)", manual_dir, data_dir)
        try:
            builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
        except (FileNotFoundError, ValueError):  # ours: they already say what to do
            raise
        except Exception as error:  # TFDS's own (e.g. its manual_dir checks)
            raise RuntimeError(
                f"could not build nus_wide21 from {manual_dir}: {error}\n{MANUAL_DOWNLOAD_INSTRUCTIONS}"
            ) from error
    columns = read_columns(builder, "train", {"labels": True, "id": True}, _labels_and_ids, "ids")
    paths = np.asarray(columns.get("id", np.zeros(0, str)), dtype=str)
    labels = np.asarray(columns.get("labels", np.zeros((0, 21))), np.float32)
    images = TFDSImages(
        NusWide21.name,
        data_dir,
        "image",
        ("train",),
        np.zeros(len(paths)),
        np.arange(len(paths)),
        module=BUILDER_MODULE,
    )
    pool = Split(np.array([f"nuswide:{p}" for p in paths]), labels, images)
    metadata = dict(builder.info.metadata or {})
    provenance = {
        "source": "tfds (dmrh_tf builder)",
        "tfds": f"{NusWide21.name} {builder.version}",
        "data_dir": str(builder.data_dir),
        "build": {k: v for k, v in metadata.items() if k not in ("concepts", "concept_frequency")},
    }
    classes = tuple(metadata.get("concepts", ()))
    return split_one_pool("nuswide", pool, config, classes, provenance, default_queries=DEFAULT_QUERIES)
