"""The three KerasTuner tuners, with the bookkeeping a DMRH search needs.

On top of KerasTuner's `RandomSearch`, `BayesianOptimization` and `Hyperband`:

- the search space is declared without building a model (KerasTuner builds one at start-up to
  discover conditional hyper-parameters; ours has none, and a distributed-tuning chief then never
  loads the data set or touches an accelerator);
- each trial's wall time, tuner id and outcome are written to `trial_<id>/dmrh_trial.json` in the
  project directory, next to KerasTuner's `trial.json`, for the summary table.

Trials that raise anything but `FailedTrialError` are retried up to `max_retries_per_trial` times.
A trial interrupted with its process (kill, Ctrl-C) is still RUNNING in the oracle's saved state;
rerunning the same search (same `directory`/`project_name`, `overwrite=False`) retries it first.
"""

import json
import os
import time

import keras_tuner as kt

from tuning.hypermodel import OBJECTIVE

__all__ = ["TIMING_FILE", "TUNERS", "make_tuner"]

TIMING_FILE = "dmrh_trial.json"  # per trial: seconds, tuner id, status as the tuner saw it


class _DMRHTunerMixin:
    def _populate_initial_space(self):
        hp = self.oracle.get_space()
        self.hypermodel.declare_hyperparameters(hp)
        self.oracle.update_space(hp)

    def on_trial_begin(self, trial):
        self._trial_started = time.monotonic()
        super().on_trial_begin(trial)

    def on_trial_end(self, trial):
        record = {
            "seconds": round(time.monotonic() - getattr(self, "_trial_started", time.monotonic()), 2),
            "tuner_id": self.tuner_id,
            "status": trial.status,
        }
        trial_dir = os.path.join(self.project_dir, f"trial_{trial.trial_id}")
        os.makedirs(trial_dir, exist_ok=True)
        path = os.path.join(trial_dir, TIMING_FILE)
        with open(path + ".tmp", "w") as f:
            json.dump(record, f)
        os.replace(path + ".tmp", path)
        super().on_trial_end(trial)


class RandomSearch(_DMRHTunerMixin, kt.RandomSearch):
    """`keras_tuner.RandomSearch` for DMRH (see the module docstring)."""


class BayesianOptimization(_DMRHTunerMixin, kt.BayesianOptimization):
    """`keras_tuner.BayesianOptimization` for DMRH (see the module docstring)."""


class Hyperband(_DMRHTunerMixin, kt.Hyperband):
    """`keras_tuner.Hyperband` for DMRH: trial budgets of 1..`max_epochs` epochs."""


TUNERS = {"random": RandomSearch, "bayesian": BayesianOptimization, "hyperband": Hyperband}


def make_tuner(
    kind,
    hypermodel,
    directory,
    project_name="dmrh",
    max_trials=10,
    strategy=None,
    seed=0,
    max_retries_per_trial=0,
    max_consecutive_failed_trials=3,
    hyperband_factor=3,
):
    """A tuner of `kind` ("random", "bayesian" or "hyperband") maximising the validation mAP.

    Hyperband spends budgets of up to `hypermodel.config.epochs` epochs per trial and stops after
    one Hyperband iteration or `max_trials` trials, whichever comes first. `strategy` is the
    `tf.distribute` strategy trials build under; `overwrite=False` always, so an existing project
    is resumed.
    """
    if kind not in TUNERS:
        raise ValueError(f"unknown tuner {kind!r}; choose from {sorted(TUNERS)}")
    common = dict(
        hypermodel=hypermodel,
        objective=kt.Objective(OBJECTIVE, direction="max"),
        seed=seed + 1,  # KerasTuner takes a seed of 0 for "no seed" (a random one)
        max_retries_per_trial=max_retries_per_trial,
        max_consecutive_failed_trials=max_consecutive_failed_trials,
        directory=directory,
        project_name=project_name,
        overwrite=False,
        distribution_strategy=strategy,
    )
    if kind == "hyperband":
        tuner = Hyperband(max_epochs=hypermodel.config.epochs, factor=hyperband_factor, **common)
        tuner.oracle.max_trials = max_trials  # Hyperband has no trial count of its own: cap it
        return tuner
    return TUNERS[kind](max_trials=max_trials, **common)
