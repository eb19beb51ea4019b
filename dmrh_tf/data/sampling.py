"""Deterministic subsets of a split: class-stratified if single-label, simple random otherwise.

Every draw uses its own `numpy.random.Generator` seeded with `(seed, purpose)`, so the training
subset, the query subset and the mosaics do not depend on each other or on the order of calls.
"""

import numpy as np

__all__ = ["PURPOSES", "hold_out", "is_single_label", "rng_for", "subset_indices"]

# Stream numbers of the generators used for each purpose (part of the seed: do not renumber).
PURPOSES = {"train": 1, "query": 2, "holdout": 3, "mosaic_train": 4, "mosaic_query": 5}


def rng_for(seed, purpose):
    """The generator of `purpose` (a key of `PURPOSES`) under `seed`."""
    return np.random.default_rng([int(seed), PURPOSES[purpose]])


def is_single_label(labels):
    """True when every row of the multi-hot `labels` [n, C] has exactly one positive."""
    return bool(len(labels)) and bool(np.all(np.count_nonzero(labels, axis=1) == 1))


def _stratified(classes, size, rng):
    """`size` indices with each class represented in proportion to its count (largest remainder)."""
    values, counts = np.unique(classes, return_counts=True)
    quota = size * counts / counts.sum()
    take = np.floor(quota).astype(np.int64)
    # hand out the remaining slots to the largest fractional parts (ties: lower class first)
    order = np.lexsort((values, -(quota - take)))
    take[order[: size - take.sum()]] += 1
    chosen = [
        rng.choice(np.flatnonzero(classes == value), count, replace=False)
        for value, count in zip(values, take)
        if count
    ]
    return np.concatenate(chosen) if chosen else np.zeros(0, np.int64)


def subset_indices(labels, size, seed, purpose):
    """Sorted row indices of a deterministic subset of `size` rows of `labels` [n, C].

    Single-label data (one positive per row): class-stratified, each class keeps its share of the
    split (largest-remainder rounding), uniformly at random within a class. Multi-label data:
    a simple random sample without replacement. `size=None` or `size >= n` keeps every row.
    The indices are sorted, so a subset keeps the order of its split.
    """
    n = len(labels)
    if size is None or size >= n:
        return np.arange(n)
    if size < 0:
        raise ValueError(f"subset size must be >= 0, got {size}")
    rng = rng_for(seed, purpose)
    if is_single_label(labels):
        chosen = _stratified(np.argmax(labels, axis=1), size, rng)
    else:
        chosen = rng.choice(n, size, replace=False)
    return np.sort(chosen)


def hold_out(labels, size, seed):
    """(query rows, remaining rows) of one pool: `size` queries drawn as `subset_indices` does."""
    n = len(labels)
    if not 0 < size < n:
        raise ValueError(f"cannot hold out {size} queries from {n} images: need 0 < query_size < {n}")
    query = subset_indices(labels, size, seed, "holdout")
    rest = np.setdiff1d(np.arange(n), query, assume_unique=True)
    return query, rest
