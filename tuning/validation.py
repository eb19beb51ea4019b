"""The tuning objective's data: validation queries held out of the *training* split.

The test queries are never looked at while tuning. A fraction of the training split becomes the
validation queries; the rest is both what a trial trains on and the validation database, as the
training split is the database in the paper's protocol. The objective is the mAP@K of the
validation queries' codes against the codes of that rest (K = `Config.map_k`, capped at its size).
"""

import numpy as np

from dmrh_tf.data import Splits

__all__ = ["VALIDATION_SEED_STREAM", "validation_splits"]

VALIDATION_SEED_STREAM = 61  # numpy seed stream of the hold-out draw: independent of the data splits


def validation_splits(splits, fraction, seed):
    """`Splits` for tuning: train = database = the training split minus the validation queries.

    `fraction` of the training rows (at least one, leaving at least one) are drawn uniformly at
    random with `seed`; rows keep the training split's order (sorted indices, which lazily read
    TFDS images require).
    """
    n = len(splits.train)
    size = round(n * fraction)
    if not 0 < fraction < 1 or not 0 < size < n:
        raise ValueError(
            f"cannot hold out a fraction {fraction} of {n} training images as validation queries: "
            "use 0 < --val-fraction < 1 and enough --train-size"
        )
    rng = np.random.default_rng([int(seed), VALIDATION_SEED_STREAM])
    query = np.sort(rng.choice(n, size, replace=False))
    rest = np.setdiff1d(np.arange(n), query, assume_unique=True)
    train = splits.train.take(rest)
    return Splits(f"{splits.name}-validation", train=train, query=splits.train.take(query), database=train)
