"""Hyper-parameter search for DMRH with KerasTuner: η, N (and optionally K and the learning rate).

Trials are ordinary `dmrh_tf` training runs (the same `Config`, model, loss and optimizer) scored by
the validation mAP@K of queries held out of the training split. `python -m tuning.search` runs or
resumes a search and writes the best trial's config for `python -m dmrh_tf.train --config`.
See docs/tuning.md.
"""

# dmrh_tf before TensorFlow and Keras: it picks TF's CPU kernels (dmrh_tf/__init__.py)
import dmrh_tf  # noqa: F401

# isort: split
from tuning.hypermodel import OBJECTIVE, DMRHHyperModel, failure_reason
from tuning.space import SearchSpace, config_for
from tuning.summary import TrialRow, best_trial, format_table, read_trials, write_best_config
from tuning.tuners import TUNERS, make_tuner
from tuning.validation import validation_splits

__all__ = [
    "OBJECTIVE",
    "TUNERS",
    "DMRHHyperModel",
    "SearchSpace",
    "TrialRow",
    "best_trial",
    "config_for",
    "failure_reason",
    "format_table",
    "make_tuner",
    "read_trials",
    "validation_splits",
    "write_best_config",
]
