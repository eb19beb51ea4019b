"""`DMRHHyperModel`: a KerasTuner `HyperModel` whose trials are ordinary DMRH training runs.

`build(hp)` applies the trial's hyper-parameters to the base `Config` and calls
`dmrh_tf.train.build_trainer`, so a trial has exactly the model, loss and optimizer of
`python -m dmrh_tf.train`. `fit(hp, model)` builds the input pipeline at the trial's own input
side `192 + 32·N` (the tuner builds the model inside the strategy scope, but calls `fit` outside
it; the model keeps the strategy it was built under), trains, and returns the validation mAP@K
as `val_map` (see `tuning.validation`).

A trial that fails for a reason retrying cannot fix (a NaN or infinite loss, out of memory for a large N)
raises `keras_tuner.errors.FailedTrialError` with the reason, so KerasTuner records it as FAILED
without retrying and the search goes on with the next trial.
"""

import dataclasses
import logging
import math

import keras
import keras_tuner as kt
import tensorflow as tf

from dmrh_tf.data import load_splits
from dmrh_tf.model import input_side
from dmrh_tf.train import build_trainer, evaluate_codes
from dmrh_tf.training.callbacks import MallocThresholds, NaNLossError, StopOnNaN
from dmrh_tf.training.method_registry import method_spec
from tuning.space import SearchSpace, config_for
from tuning.validation import validation_splits

__all__ = ["OBJECTIVE", "DMRHHyperModel", "failure_reason"]

log = logging.getLogger(__name__)

OBJECTIVE = "val_map"  # validation mAP@K, maximised


def failure_reason(error):
    """A one-line reason when `error` fails a trial for good (non-finite loss, out of memory), else None."""
    if isinstance(error, NaNLossError):  # "the loss became nan at batch 3: training stopped. …"
        return f"non-finite loss: {str(error).split(':')[0]}"
    if isinstance(error, (tf.errors.ResourceExhaustedError, MemoryError)):
        detail = (getattr(error, "message", None) or str(error) or type(error).__name__).splitlines()[0]
        return f"out of memory ({type(error).__name__}): {detail[:200]}"
    return None


class DMRHHyperModel(kt.HyperModel):
    """Tunes `space` around the base `config`; validation queries are `val_fraction` of the train split.

    The data set is loaded on the first trial (a distributed-tuning chief, which trains nothing,
    never loads it) and shared by all trials of this process.
    """

    def __init__(self, config, space=None, val_fraction=0.2, name="dmrh"):
        super().__init__(name=name, tunable=True)
        self.config = config
        self.space = space or SearchSpace()
        self.val_fraction = val_fraction
        self._splits = None

    @property
    def splits(self):
        """The tuning splits: train = validation database, validation queries (loaded once)."""
        return self.load_data()

    def load_data(self):
        """Load the data set and hold out the validation queries, once; return the tuning splits."""
        if self._splits is None:
            full = load_splits(self.config)
            self._splits = validation_splits(full, self.val_fraction, self.config.seed)
            log.info("tuning on %s: %s (test queries unused)", self._splits.name, self._splits.sizes())
        return self._splits

    def declare_hyperparameters(self, hp):
        self.space.declare(hp)

    def trial_config(self, hp):
        """The `Config` of the trial whose hyper-parameters are `hp`."""
        self.space.declare(hp)
        return config_for(self.config, hp.values)

    def steps_per_epoch(self, config):
        return method_spec(config.method).procedure.steps_per_epoch(config, len(self.splits.train))

    def build(self, hp):
        config = self.trial_config(hp)
        keras.utils.set_random_seed(config.seed)  # every trial starts from the same draw of weights
        try:
            return build_trainer(config, self.splits.train.labels, self.steps_per_epoch(config))
        except (tf.errors.ResourceExhaustedError, MemoryError) as error:
            raise kt.errors.FailedTrialError(f"{failure_reason(error)} (N={config.regions})") from error

    def fit(self, hp, model, *args, callbacks=None, epochs=None, initial_epoch=0, verbose=None, **kwargs):
        """Train `model` and return `{"val_map": …, "loss": …}`.

        `callbacks` come from the tuner (checkpointing); `epochs` and `initial_epoch` from Hyperband.
        Other arguments of `tuner.search` are ignored: the data are the hypermodel's own.
        """
        config = self.trial_config(hp)
        verbose = config.verbose if verbose is None else verbose
        side = input_side(config.regions)
        log.info("trial: %s (input side %d)", {k: hp.values[k] for k in self.space.names()}, side)
        procedure = method_spec(config.method).procedure
        epochs = epochs or config.epochs
        try:
            plan = dataclasses.replace(config, epochs=max(epochs, config.epochs))
            dataset = procedure.dataset(self.splits.train, plan, initial_epoch=initial_epoch)
            history = model.fit(
                dataset,
                epochs=epochs,
                initial_epoch=initial_epoch,
                steps_per_epoch=self.steps_per_epoch(config),
                callbacks=[
                    *procedure.callbacks(model, self.splits.train, plan),
                    StopOnNaN(),
                    MallocThresholds(),
                    *(callbacks or []),
                ],
                verbose=verbose,
                shuffle=False,  # the dataset shuffles itself (Keras would warn that it cannot)
            )
            results = evaluate_codes(
                model.encoder,
                self.splits,
                dataclasses.replace(config, verbose=0),
                procedure.database_codes(model),
            )
        except (NaNLossError, tf.errors.ResourceExhaustedError, MemoryError) as error:
            raise kt.errors.FailedTrialError(f"{failure_reason(error)} (N={config.regions})") from error
        if not math.isfinite(results["map_at_k"]):
            raise kt.errors.FailedTrialError(f"validation mAP is {results['map_at_k']}")
        log.info("trial: val mAP@%d = %.4f", results["k"], results["map_at_k"])
        metrics = {OBJECTIVE: results["map_at_k"]}
        losses = history.history.get("loss") or []
        if losses and math.isfinite(losses[-1]):
            metrics["loss"] = float(losses[-1])
        return metrics
