"""Data sets under the retrieval protocol, and the `tf.data` pipelines that feed the model.

Every loader takes the run's `Config` and returns `Splits` (train, query, database); which images
each split holds is fixed by the seed or by split lists (`splits_dir`), and `write_split_lists`
writes them into the run directory. See docs/datasets.md for the data sets and where their files go.
"""

import logging

from dmrh_tf.data.cifar10 import load_cifar10
from dmrh_tf.data.coco2014 import load_coco2014
from dmrh_tf.data.fashion_mnist import load_fashion_mnist
from dmrh_tf.data.folder import load_folder
from dmrh_tf.data.mosaic import load_mosaic
from dmrh_tf.data.nuswide import load_nuswide
from dmrh_tf.data.pipeline import inference_dataset, train_dataset
from dmrh_tf.data.protocol import make_splits
from dmrh_tf.data.split_lists import read_split_lists, splits_from_lists, write_split_lists
from dmrh_tf.data.splits import Split, Splits
from dmrh_tf.data.synthetic import load_synthetic

log = logging.getLogger(__name__)


def _synthetic(config):
    """The generated set; with `splits_dir`, regenerated as the lists' manifest records it."""
    generated = {
        "train": config.train_size or 2000,
        "query": config.query_size or 500,
        "seed": config.seed,
    }
    if not config.splits_dir:
        splits = load_synthetic(generated["train"], generated["query"], generated["seed"])
        provenance = {"source": "generated", "generated": generated, "split": "seed"}
        return Splits(splits.name, splits.train, splits.query, splits.database, (), provenance)
    # an image depends on the generated count and seed: take them from the lists' manifest
    manifest = read_split_lists(config.splits_dir).manifest
    generated = manifest.get("provenance", {}).get("generated", generated)
    pools = load_synthetic(generated["train"], generated["query"], generated["seed"])
    provenance = {"source": "generated", "generated": generated}
    return splits_from_lists("synthetic", [pools.train, pools.query], config.splits_dir, (), provenance)


# dataset name → loader(config) -> Splits
DATASETS = {
    "synthetic": _synthetic,
    "fashion_mnist": load_fashion_mnist,
    "cifar10": load_cifar10,
    "coco2014": load_coco2014,
    "nuswide": load_nuswide,
    "folder": load_folder,
    "mosaic": load_mosaic,
}


def load_splits(config):
    """The train/query/database splits of `config.dataset`, honouring `data_dir`, sizes and seed.

    With `splits_dir` set (a folder of split lists, e.g. `<old run>/splits`), the lists choose
    the images instead of the seed. Fails before training when the data or the lists are wrong.
    """
    if config.dataset not in DATASETS:
        raise ValueError(f"unknown dataset {config.dataset!r}; available: {sorted(DATASETS)}")
    splits = DATASETS[config.dataset](config)
    log.info("data set %s: %s (%s)", splits.name, splits.sizes(), splits.provenance.get("split"))
    return splits


__all__ = [
    "DATASETS",
    "Split",
    "Splits",
    "inference_dataset",
    "load_cifar10",
    "load_coco2014",
    "load_fashion_mnist",
    "load_folder",
    "load_mosaic",
    "load_nuswide",
    "load_splits",
    "load_synthetic",
    "make_splits",
    "read_split_lists",
    "splits_from_lists",
    "train_dataset",
    "write_split_lists",
]
