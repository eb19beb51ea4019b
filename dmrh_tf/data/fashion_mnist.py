"""Fashion-MNIST: from local IDX files (Debian's `dataset-fashion-mnist`) or through TFDS.

Protocol: train = database = the 60,000 training images; queries = the 10,000 test images
(`train_size` / `query_size` take class-stratified seeded subsets). Where the data come from:

- `--data-dir D` holding the four IDX files (gz or raw): read with `dmrh_tf.data.idx`;
- no `--data-dir` and `/usr/share/datasets/fashion-mnist` exists: the same, from there;
- otherwise TFDS `fashion_mnist` with `data_dir=D` (downloads need internet).

Debian's files are recompressed, so TFDS's checksums reject them as a manual download; the idx
reader reads the (identical) decompressed content instead — no checksum is weakened.
Ids are `fashion_mnist:{train,test}:<row>` (row in the IDX file) or
`fashion_mnist/tfds:{train,test}:<row>` (row in TFDS's read order; TFDS shuffles the files' order,
so the two id spaces differ and lists written from one do not fit the other).
"""

import logging
import os

import numpy as np

from dmrh_tf.data.idx import IDX_NAMES, find_idx_file, read_idx
from dmrh_tf.data.protocol import make_splits
from dmrh_tf.data.splits import Split

__all__ = ["CLASSES", "DEBIAN_DIR", "load_fashion_mnist", "read_fashion_mnist_idx"]

log = logging.getLogger(__name__)

DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"  # `apt-get install dataset-fashion-mnist`
CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
HOW_TO_GET = (
    "Fashion-MNIST is expected as the four IDX files train-images-idx3-ubyte, "
    "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (each may end .gz). "
    "Get them with `sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu; files go to "
    f"{DEBIAN_DIR}) or from https://github.com/zalandoresearch/fashion-mnist (data/fashion), "
    "then pass --data-dir to their folder; or, with internet, give a --data-dir without them and "
    "TFDS downloads fashion_mnist there."
)


def _one_hot(labels, num_classes):
    if labels.min(initial=0) < 0 or labels.max(initial=0) >= num_classes:
        raise ValueError(f"labels must lie in 0..{num_classes - 1}")
    return np.eye(num_classes, dtype=np.float32)[labels.astype(np.int64)]


def _pool(prefix, part, images, labels, what):
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            f"{what}: {len(images)} images of shape {images.shape[1:]} and labels of shape "
            f"{labels.shape}: expected [n, 28, 28] images and [n] labels of the same n"
        )
    ids = np.array([f"{prefix}:{part}:{i}" for i in range(len(images))])
    return Split(ids, _one_hot(labels, len(CLASSES)), images[..., None].astype(np.uint8))


def read_fashion_mnist_idx(directory):
    """(train pool, test pool) `Split`s from the four IDX files in `directory`."""
    paths = {key: find_idx_file(directory, base) for key, base in IDX_NAMES.items()}
    missing = [IDX_NAMES[k] for k, p in paths.items() if p is None]
    if missing:
        raise FileNotFoundError(f"{directory}: no {', '.join(missing)} (.gz or raw). {HOW_TO_GET}")
    arrays = {key: read_idx(path) for key, path in paths.items()}
    train = _pool(
        "fashion_mnist",
        "train",
        arrays["train_images"],
        arrays["train_labels"],
        f"{paths['train_images']} / {paths['train_labels']}",
    )
    test = _pool(
        "fashion_mnist",
        "test",
        arrays["test_images"],
        arrays["test_labels"],
        f"{paths['test_images']} / {paths['test_labels']}",
    )
    return train, test, {"source": "idx", "files": sorted(paths.values())}


def _read_tfds(data_dir):
    from dmrh_tf.data.tfds_source import prepare_builder, read_arrays

    builder = prepare_builder("fashion_mnist", data_dir, how_to_get=HOW_TO_GET)
    pools = []
    for part in ("train", "test"):
        arrays = read_arrays(builder, part, ("image", "label"))
        pools.append(_pool("fashion_mnist/tfds", part, arrays["image"][..., 0], arrays["label"], part))
    provenance = {
        "source": "tfds",
        "tfds": f"fashion_mnist {builder.version}",
        "data_dir": str(builder.data_dir),
    }
    return pools[0], pools[1], provenance


def _has_idx(directory):
    return directory is not None and find_idx_file(directory, IDX_NAMES["train_images"]) is not None


def load_fashion_mnist(config):
    """Fashion-MNIST `Splits` (train = database, test images as queries); see the module doc."""
    data_dir = config.data_dir
    if data_dir is not None and not os.path.isdir(data_dir):
        raise FileNotFoundError(f"--data-dir {data_dir!r} is not a folder. {HOW_TO_GET}")
    if data_dir is None and os.path.isdir(DEBIAN_DIR):
        data_dir = DEBIAN_DIR
        log.info("fashion_mnist: reading the IDX files of Debian's dataset-fashion-mnist in %s", data_dir)
    if _has_idx(data_dir):
        train, test, provenance = read_fashion_mnist_idx(data_dir)
    else:
        log.info("fashion_mnist: no IDX files in %s; using TFDS", data_dir)
        train, test, provenance = _read_tfds(data_dir)
    return make_splits("fashion_mnist", train, test, config, CLASSES, provenance)
