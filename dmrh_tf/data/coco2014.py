"""MS-COCO 2014 through TFDS `coco/2014`: multi-hot labels over the 80 categories, images streamed.

Protocol: train = database = the labelled train2014 images (TFDS split `train`, ~82K); queries =
the labelled val2014 images (TFDS split `validation`, ~40K). Images without any object annotation
are dropped (the count is logged and recorded in the provenance); `train_size` / `query_size`
take simple random seeded subsets (the labels are multi-label).

Labels: a row is the multi-hot vector over TFDS's 80 contiguous category indices, built with
`bincount(labels, minlength=80, maxlength=80) > 0` (an empty object list gives a zero row, which
`reduce_max(one_hot)` would turn into -inf). The authors' release indexes COCO's original
category ids 1..90 in a 91-slot vector, 11 slots of which are never used: the same label sets in
another numbering, so the similarities s_ij = [labels intersect] and mAP are unchanged.

The images (~19 GB encoded) are not held in memory: each split's `images` is a `TFDSImages`
that the pipeline streams from the prepared TFDS records. The labels are read once without
decoding the images and cached beside the records. Ids are `coco2014:{train,validation}:<row>`,
the record number in TFDS's fixed read order.
"""

import logging

import numpy as np
import tensorflow as tf

from dmrh_tf.data.protocol import make_splits
from dmrh_tf.data.splits import Split
from dmrh_tf.data.tfds_images import TFDSImages

__all__ = ["HOW_TO_GET", "NUM_CATEGORIES", "TFDS_NAME", "load_coco2014", "multi_hot"]

log = logging.getLogger(__name__)

TFDS_NAME = "coco/2014"
NUM_CATEGORIES = 80
HOW_TO_GET = (
    "MS-COCO 2014 comes through TFDS `coco/2014`: with internet it is downloaded into --data-dir "
    "(train2014 + val2014 + test2014 images and annotations, ~38 GB; the records ~40 GB more). "
    "Offline, prepare it on a machine with internet (`tfds build coco/2014 --data_dir D`), copy D "
    "here and pass --data-dir D; or put the COCO zips in D/downloads/manual."
)


def multi_hot(object_labels, num_classes=NUM_CATEGORIES):
    """float32 [C] multi-hot of one image's object category indices [m] (zeros when m = 0)."""
    counts = tf.math.bincount(tf.cast(object_labels, tf.int32), minlength=num_classes, maxlength=num_classes)
    return tf.cast(counts > 0, tf.float32)


def _labels(example):
    return {"labels": multi_hot(example["objects"]["label"])}


def _pool(builder, data_dir, tfds_split):
    from dmrh_tf.data.tfds_source import read_columns

    columns = read_columns(builder, tfds_split, {"objects": {"label": True}}, _labels, tag="multi_hot80")
    labels = columns.get("labels", np.zeros((0, NUM_CATEGORIES), np.float32))
    keep = np.flatnonzero(labels.any(axis=1))
    dropped = len(labels) - len(keep)
    log.info(
        "coco2014 %s: %d images, %d without labels dropped, %d kept",
        tfds_split,
        len(labels),
        dropped,
        len(keep),
    )
    images = TFDSImages(TFDS_NAME, data_dir, "image", (tfds_split,), np.zeros(len(keep)), keep)
    ids = np.array([f"coco2014:{tfds_split}:{row}" for row in keep])
    return Split(ids, labels[keep].astype(np.float32), images), dropped


def load_coco2014(config):
    """MS-COCO 2014 `Splits`: train = database from train2014, queries from val2014 (see above)."""
    from dmrh_tf.data.tfds_source import prepare_builder

    data_dir = config.data_dir
    builder = prepare_builder(TFDS_NAME, data_dir, how_to_get=HOW_TO_GET)
    train, dropped_train = _pool(builder, data_dir, "train")
    query, dropped_query = _pool(builder, data_dir, "validation")
    provenance = {
        "source": "tfds",
        "tfds": f"{TFDS_NAME} {builder.version}",
        "data_dir": str(builder.data_dir),
        "dropped_without_labels": {"train": dropped_train, "validation": dropped_query},
        "labels": "80 TFDS categories (the release: 91-slot COCO id space, same label sets)",
    }
    classes = tuple(builder.info.features["objects"]["label"].names)
    return make_splits("coco2014", train, query, config, classes, provenance)
