"""CIFAR-10 through TFDS, under the DMRH protocol.

Protocol (the paper's): train = database = all 50,000 training images; queries = all 10,000 test
images (`train_size` / `query_size` take class-stratified seeded subsets). TFDS `cifar10` is read
from (or downloaded to) `--data-dir` (TFDS's default `~/tensorflow_datasets` without one) and held
in memory (150 MB). Ids are `cifar10:{train,test}:<row>`, the row in TFDS's fixed read order.
"""

import numpy as np

from dmrh_tf.data.protocol import make_splits
from dmrh_tf.data.splits import Split

__all__ = ["HOW_TO_GET", "load_cifar10"]

HOW_TO_GET = (
    "CIFAR-10 comes through TFDS: with internet it is downloaded into --data-dir (163 MB). "
    "Offline, prepare it on a machine with internet (`tfds build cifar10 --data_dir D`, or "
    "`python -c \"import tensorflow_datasets as tfds; tfds.builder('cifar10', data_dir='D')"
    '.download_and_prepare()"`), copy D here and pass --data-dir D.'
)


def load_cifar10(config):
    """CIFAR-10 `Splits`: train = database (50,000), queries = the 10,000 test images."""
    from dmrh_tf.data.tfds_source import prepare_builder, read_arrays

    builder = prepare_builder("cifar10", config.data_dir, how_to_get=HOW_TO_GET)
    num_classes = builder.info.features["label"].num_classes
    pools = []
    for part in ("train", "test"):
        arrays = read_arrays(builder, part, ("image", "label"))
        ids = np.array([f"cifar10:{part}:{i}" for i in range(len(arrays["label"]))])
        labels = np.eye(num_classes, dtype=np.float32)[arrays["label"].astype(np.int64)]
        pools.append(Split(ids, labels, arrays["image"].astype(np.uint8)))
    provenance = {
        "source": "tfds",
        "tfds": f"cifar10 {builder.version}",
        "data_dir": str(builder.data_dir),
    }
    classes = tuple(builder.info.features["label"].names)
    return make_splits("cifar10", pools[0], pools[1], config, classes, provenance)
