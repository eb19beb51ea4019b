"""The raw NUS-WIDE files as distributed by NUS (lms.comp.nus.edu.sg): image list, labels, images.

Expected layout of the folder (the manual download):

    Flickr/<concept>/<name>.jpg                 the images (NUS-WIDE's "Flickr" folder)
    ImageList/Imagelist.txt                     269,648 lines, e.g.
                                                C:\\ImageData\\Flickr\\actor\\0001_2124494179.jpg
    Groundtruth/AllLabels/Labels_<concept>.txt  81 files, one 0/1 per line, in image-list order
    Concepts81.txt                              (optional) the concept order

`Imagelist.txt` and `AllLabels/` may also sit directly in the folder. A listed path is resolved
from its `Flickr` component on (`Flickr/actor/0001_2124494179.jpg` under the folder).
"""

import dataclasses
import os

import numpy as np

__all__ = [
    "MANUAL_DOWNLOAD_INSTRUCTIONS",
    "NUM_CONCEPTS",
    "NusWideFiles",
    "find_nus_wide_files",
    "most_frequent",
    "read_nus_wide_labels",
]

NUM_CONCEPTS = 21  # the slides' NUS-WIDE-21: the 21 most frequent of the 81 concepts

MANUAL_DOWNLOAD_INSTRUCTIONS = """\
NUS-WIDE cannot be downloaded automatically. Get, from
https://lms.comp.nus.edu.sg/wp-content/uploads/2019/research/nuswide/NUS-WIDE.html :
  - the images ("Flickr" folder, e.g. from the authors' image archive), and
  - "Groundtruth" (AllLabels/Labels_<concept>.txt) and "ImageList" (Imagelist.txt),
and put them in one folder:
    <folder>/Flickr/<concept>/<name>.jpg
    <folder>/ImageList/Imagelist.txt
    <folder>/Groundtruth/AllLabels/Labels_<concept>.txt
    <folder>/Concepts81.txt            (optional: the concept order)
Then pass --data-dir <folder> (the prepared TFDS records go to <folder>/nus_wide21), or put the
files in <data_dir>/downloads/manual, TFDS's manual download folder.
"""


@dataclasses.dataclass(frozen=True)
class NusWideFiles:
    """Paths of one NUS-WIDE copy: the image list, the label folder, the concept list (or None)."""

    root: str
    image_list: str
    label_dir: str
    concepts: str | None


def _first(root, candidates, test):
    for candidate in candidates:
        path = os.path.join(root, candidate)
        if test(path):
            return path
    return None


def _has_label_files(path):
    return os.path.isdir(path) and any(
        name.startswith("Labels_") and name.endswith(".txt") for name in os.listdir(path)
    )


def find_nus_wide_files(root):
    """The `NusWideFiles` under `root`; FileNotFoundError saying what is missing, how to get it."""
    if not root or not os.path.isdir(root):
        raise FileNotFoundError(f"NUS-WIDE folder {root!r} not found.\n{MANUAL_DOWNLOAD_INSTRUCTIONS}")
    image_list = _first(root, ("ImageList/Imagelist.txt", "Imagelist.txt"), os.path.isfile)
    label_dir = _first(root, ("Groundtruth/AllLabels", "AllLabels"), _has_label_files)
    concepts = _first(root, ("Concepts81.txt", "ConceptsList/Concepts81.txt"), os.path.isfile)
    missing = [
        what
        for what, path in (
            ("ImageList/Imagelist.txt", image_list),
            ("Groundtruth/AllLabels/Labels_*.txt", label_dir),
        )
        if path is None
    ]
    if missing:
        raise FileNotFoundError(f"{root} has no {' and no '.join(missing)}.\n{MANUAL_DOWNLOAD_INSTRUCTIONS}")
    return NusWideFiles(root, image_list, label_dir, concepts)


def _relative_path(line):
    parts = [p for p in line.strip().replace("\\", "/").split("/") if p]
    if "Flickr" in parts:
        parts = parts[parts.index("Flickr") :]
    return "/".join(parts)


def read_image_list(files):
    """[n] str: the listed images' paths relative to `files.root` (`Flickr/actor/0001_….jpg`)."""
    with open(files.image_list, encoding="utf-8", errors="replace") as f:
        return np.array([_relative_path(line) for line in f if line.strip()], dtype=str)


def _concept_names(files):
    available = sorted(
        name[len("Labels_") : -len(".txt")]
        for name in os.listdir(files.label_dir)
        if name.startswith("Labels_") and name.endswith(".txt")
    )
    if files.concepts is None:
        return available
    with open(files.concepts, encoding="utf-8") as f:
        listed = [line.strip() for line in f if line.strip()]
    absent = [c for c in listed if c not in available]
    if absent:
        raise FileNotFoundError(
            f"{files.concepts} lists concepts with no label file in {files.label_dir}: {absent[:5]}"
        )
    return listed


def read_nus_wide_labels(files, num_images):
    """(concept names [81], uint8 labels [num_images, 81]) from the `Labels_<concept>.txt` files.

    Raises ValueError when a label file's length differs from the image list's: the label lists
    do not belong to these images.
    """
    names = _concept_names(files)
    labels = np.zeros((num_images, len(names)), np.uint8)
    for column, name in enumerate(names):
        path = os.path.join(files.label_dir, f"Labels_{name}.txt")
        values = np.loadtxt(path, dtype=np.int64, ndmin=1)
        if len(values) != num_images:
            raise ValueError(
                f"{path} has {len(values)} lines but {files.image_list} lists {num_images} images: "
                "the label files do not match the image list (another NUS-WIDE release?)"
            )
        if np.any((values != 0) & (values != 1)):
            raise ValueError(f"{path}: labels must be 0 or 1")
        labels[:, column] = values
    return names, labels


def most_frequent(names, labels, count=NUM_CONCEPTS):
    """Column indices of the `count` most frequent concepts, most frequent first (ties: order)."""
    frequency = labels.sum(axis=0, dtype=np.int64)
    return np.lexsort((np.arange(len(names)), -frequency))[:count]
