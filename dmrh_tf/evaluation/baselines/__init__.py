"""The paper's non-deep baselines: LSH, SH, SKLSH, PCAH, ITQ, and the supervised FSSH.

Each is a small frozen dataclass with the same two calls:

    model = BASELINES["itq"](train_features, bits, seed)   # = ITQ.fit(...)
    codes = model.encode(features)                          # ±1 int8 [n, bits]

The supervised ones (`SUPERVISED`: FSSH) also need the training labels, `fit(..., labels=train_labels)`;
`fit_baseline(name, features, bits, seed, labels)` passes them to those and ignores them for the rest.

fit on training features (or raw pixels via `pixel_features`), encode queries and database,
then score with `dmrh_tf.evaluation.map_at_k`. (DMRH with N = 1 is the DPSH-style deep baseline;
it needs no code here.)
"""

from collections.abc import Callable
from typing import Protocol

import numpy as np

from dmrh_tf.evaluation.baselines.features import pixel_features
from dmrh_tf.evaluation.baselines.fssh import FSSH
from dmrh_tf.evaluation.baselines.itq import ITQ
from dmrh_tf.evaluation.baselines.lsh import LSH
from dmrh_tf.evaluation.baselines.pcah import PCAH
from dmrh_tf.evaluation.baselines.sh import SH
from dmrh_tf.evaluation.baselines.sklsh import SKLSH


class HashModel(Protocol):
    """What every baseline model provides."""

    bits: int

    def encode(self, features) -> np.ndarray:
        """±1 int8 codes `[n, bits]` of features `[n, d]`."""


# name → fit(train_features, bits, seed[, labels]) -> HashModel; names as in the paper's tables (lower case).
BASELINES: dict[str, Callable[..., HashModel]] = {
    "lsh": LSH.fit,
    "sh": SH.fit,
    "sklsh": SKLSH.fit,
    "pcah": PCAH.fit,
    "itq": ITQ.fit,
    "fssh": FSSH.fit,
}

# The baselines whose fit needs `labels=` (class ids [n] or one/multi-hot [n, C] of the training rows).
SUPERVISED = frozenset({"fssh"})

# Display names for tables and plots.
BASELINE_NAMES = {"lsh": "LSH", "sh": "SH", "sklsh": "SKLSH", "pcah": "PCAH", "itq": "ITQ", "fssh": "FSSH"}


def fit_baseline(name: str, train_features, bits: int, seed: int = 0, labels=None) -> HashModel:
    """Fit baseline `name` (a key of `BASELINES`, any case) on `train_features` `[n, d]`; `labels` (of the
    same rows) go to the supervised ones, which require them, and are ignored by the others."""
    key = name.lower()
    if key not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; choose from {sorted(BASELINES)}")
    if key in SUPERVISED:
        if labels is None:
            raise ValueError(f"{BASELINE_NAMES[key]} is supervised: pass the training labels")
        return BASELINES[key](train_features, bits, seed=seed, labels=labels)
    return BASELINES[key](train_features, bits, seed=seed)


__all__ = [
    "BASELINES",
    "BASELINE_NAMES",
    "FSSH",
    "ITQ",
    "LSH",
    "PCAH",
    "SH",
    "SKLSH",
    "SUPERVISED",
    "HashModel",
    "fit_baseline",
    "pixel_features",
]
