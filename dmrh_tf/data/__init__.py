"""Data sets under the retrieval protocol, and the `tf.data` pipelines that feed the model."""

from dmrh_tf.data.pipeline import inference_dataset, train_dataset
from dmrh_tf.data.splits import Split, Splits
from dmrh_tf.data.synthetic import load_synthetic


def _synthetic(config):
    return load_synthetic(
        train_size=config.train_size or 2000, query_size=config.query_size or 500, seed=config.seed
    )


# dataset name → loader(config) -> Splits
DATASETS = {"synthetic": _synthetic}


def load_splits(config):
    """The train/query/database splits of `config.dataset`, honouring `data_dir`, sizes and seed."""
    if config.dataset not in DATASETS:
        raise ValueError(f"unknown dataset {config.dataset!r}; available: {sorted(DATASETS)}")
    return DATASETS[config.dataset](config)


__all__ = [
    "DATASETS",
    "Split",
    "Splits",
    "inference_dataset",
    "load_splits",
    "load_synthetic",
    "train_dataset",
]
