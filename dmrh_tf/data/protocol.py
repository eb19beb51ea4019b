"""The retrieval protocol every loader applies: train = database, queries held apart.

Loaders hand over their full pools (e.g. Fashion-MNIST's 60,000 train and 10,000 test images);
this module takes the seeded subsets of `config.train_size` / `config.query_size`, or the rows
named by the split lists in `config.splits_dir`, and records which in the `Splits`' provenance.
"""

import dataclasses
import logging

from dmrh_tf.data.sampling import hold_out, is_single_label, subset_indices
from dmrh_tf.data.split_lists import splits_from_lists
from dmrh_tf.data.splits import Splits

__all__ = ["make_splits", "split_one_pool"]

log = logging.getLogger(__name__)


def _subset_rule(labels):
    return "class-stratified" if is_single_label(labels) else "simple random"


def make_splits(name, train_pool, query_pool, config, classes=(), provenance=None):
    """`Splits`: train = database drawn from `train_pool`, queries from `query_pool`.

    With `config.splits_dir` set, the lists there choose the rows (from either pool) instead.
    Otherwise `config.train_size` / `config.query_size` (None = all) take deterministic subsets
    from `config.seed`: class-stratified for single-label pools, simple random for multi-label
    ones (`sampling.subset_indices`), each kept in its pool's order.
    """
    provenance = dict(provenance or {})
    splits_dir = config.splits_dir
    if splits_dir:
        return splits_from_lists(
            name, [train_pool, query_pool], splits_dir, classes=classes, provenance=provenance
        )
    seed = config.seed
    train_size = config.train_size
    query_size = config.query_size
    train = train_pool.take(subset_indices(train_pool.labels, train_size, seed, "train"))
    query = query_pool.take(subset_indices(query_pool.labels, query_size, seed, "query"))
    if (train_size and train_size > len(train_pool)) or (query_size and query_size > len(query_pool)):
        log.warning(
            "%s has %d train and %d query images: fewer than the requested %s and %s",
            name,
            len(train_pool),
            len(query_pool),
            train_size,
            query_size,
        )
    provenance.update(
        split="seed",
        seed=seed,
        pools={"train": len(train_pool), "query": len(query_pool)},
        subsets={
            "train": f"{len(train)} of {len(train_pool)} ({_subset_rule(train_pool.labels)})",
            "query": f"{len(query)} of {len(query_pool)} ({_subset_rule(query_pool.labels)})",
        },
    )
    return Splits(name, train, query, train, tuple(classes), provenance)


def split_one_pool(name, pool, config, classes=(), provenance=None, default_queries=None):
    """`Splits` of a data set that comes as one pool (folder, NUS-WIDE): hold out queries first.

    `config.query_size` queries (default `default_queries`) are held out from `config.seed`;
    the rest is the training pool, from which `config.train_size` images are taken as usual.
    With `config.splits_dir` set, the lists decide instead.
    """
    provenance = dict(provenance or {})
    if config.splits_dir:
        return splits_from_lists(name, [pool], config.splits_dir, classes=classes, provenance=provenance)
    seed = config.seed
    query_size = config.query_size or default_queries
    if query_size is None:
        raise ValueError(f"{name}: set --query-size, the number of held-out queries")
    query_rows, rest = hold_out(pool.labels, query_size, seed)
    provenance["held_out"] = f"{len(query_rows)} queries of {len(pool)} ({_subset_rule(pool.labels)})"

    # the held-out rows are the whole query pool; train_size still applies to the rest
    options = dataclasses.replace(config, seed=seed, query_size=None)
    return make_splits(name, pool.take(rest), pool.take(query_rows), options, classes, provenance)
