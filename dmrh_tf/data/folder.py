"""A user's own images: a folder plus a label file (or one sub-folder per class).

`--data-dir D` is the folder. The labels come from `label_file` (config; default `D/labels.csv`
or `D/labels.txt`, formats in `dmrh_tf.data.label_file`), or, when there is none, from the
class sub-folders `D/<class>/<image>` (single-label). Paths in the label file are relative to D.

Before anything trains, every listed image is checked: a listed file that does not exist fails
(the label file does not match the images); a file that does not decode is skipped and counted
(`skip_corrupt`, default True) or fails. Images without any label are dropped (counted).
Queries: `query_size` held out from `seed` (default: a tenth of the images), or `splits_dir`.
Ids are the paths as written in the label file.
"""

import logging
import os

import numpy as np

from dmrh_tf.data.image_check import check_image_files
from dmrh_tf.data.label_file import read_label_file
from dmrh_tf.data.protocol import split_one_pool
from dmrh_tf.data.splits import Split

__all__ = ["IMAGE_EXTENSIONS", "LABEL_FILES", "load_folder"]

log = logging.getLogger(__name__)

LABEL_FILES = ("labels.csv", "labels.txt")  # looked for in --data-dir when no label_file is given
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
HOW_TO = (
    "--dataset folder expects --data-dir <folder> with your images and a label file "
    "(--label-file, or <folder>/labels.csv with lines `path,label1|label2`, or <folder>/labels.txt "
    "with lines `path idx idx ...`), or one sub-folder of images per class. See docs/datasets.md."
)


def _from_subfolders(data_dir):
    classes = sorted(d for d in os.listdir(data_dir) if os.path.isdir(os.path.join(data_dir, d)))
    paths, labels = [], []
    for column, name in enumerate(classes):
        for root, _, files in sorted(os.walk(os.path.join(data_dir, name))):
            for file in sorted(files):
                if file.lower().endswith(IMAGE_EXTENSIONS):
                    paths.append(os.path.relpath(os.path.join(root, file), data_dir))
                    labels.append(column)
    if not paths:
        raise FileNotFoundError(f"{data_dir}: no label file and no class sub-folders with images. {HOW_TO}")
    onehot = np.eye(len(classes), dtype=np.float32)[labels]
    return np.array(paths, dtype=str), onehot, tuple(classes), "sub-folders"


def _read_labels(data_dir, label_file):
    if label_file:
        found = read_label_file(label_file)
        return found.paths, found.labels, found.classes, f"{label_file} ({found.form})"
    for name in LABEL_FILES:
        path = os.path.join(data_dir, name)
        if os.path.isfile(path):
            found = read_label_file(path)
            return found.paths, found.labels, found.classes, f"{path} ({found.form})"
    return _from_subfolders(data_dir)


def load_folder(config):
    """`Splits` of the images under `config.data_dir` (see the module docstring)."""
    data_dir = config.data_dir
    if not data_dir or not os.path.isdir(data_dir):
        raise FileNotFoundError(f"image folder {data_dir!r} not found. {HOW_TO}")
    paths, labels, classes, source = _read_labels(data_dir, config.label_file)
    if len(set(paths)) != len(paths):
        raise ValueError(f"{source}: some images are listed twice; list each image once")
    files = np.array([os.path.join(data_dir, p) for p in paths], dtype=str)
    check = check_image_files(files)
    if check.missing:
        raise FileNotFoundError(
            f"{source}: {len(check.missing)} listed image(s) not found under {data_dir}, e.g. "
            f"{check.missing[:3]}: the label file does not match the images"
        )
    if check.corrupt:
        if not config.skip_corrupt:
            raise ValueError(
                f"{len(check.corrupt)} images do not decode, e.g. {check.corrupt[:3]} "
                "(set skip_corrupt to skip them)"
            )
        log.warning("folder: skipping %d undecodable images, e.g. %s", len(check.corrupt), check.corrupt[:3])
    labelled = labels.any(axis=1)
    if not labelled.all():
        log.warning("folder: dropping %d images without labels", int((~labelled).sum()))
    keep = check.ok & labelled
    if not keep.any():
        raise ValueError(f"{source}: no decodable image with a label. {HOW_TO}")
    pool = Split(paths[keep], labels[keep], files[keep])
    provenance = {
        "source": "folder",
        "data_dir": os.path.abspath(data_dir),
        "labels": source,
        "skipped": {"corrupt": len(check.corrupt), "without_labels": int((~labelled).sum())},
    }
    default_queries = max(1, len(pool) // 10)
    return split_one_pool("folder", pool, config, classes, provenance, default_queries=default_queries)
