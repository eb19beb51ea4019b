"""Training under `MultiWorkerMirroredStrategy` with a custom loop.

Keras 3's `fit` is broken under MultiWorkerMirroredStrategy (keras-team/keras#20585: `PerReplica`
conversion errors in `_maybe_symbolic_build`, then `reduce_per_replica`). This loop runs the same
`HashingTrainer.train_step` through `strategy.run`, and keeps `fit`'s promises: a progress bar per epoch,
a checkpoint per epoch, a CSV history, NaN detection, and resume from the last finished epoch.
Only the chief writes to the run directory; every worker reads the chief's backup to resume.
"""

import csv
import json
import logging
import math
import os

import keras
import tensorflow as tf

from dmrh_tf.training import run_dir as rd
from dmrh_tf.training.callbacks import NaNLossError

log = logging.getLogger(__name__)

_STATE = "state.json"
_WEIGHTS = "latest.weights.h5"


def _resume_epoch(trainer, backup_dir):
    """Load the backup if one exists; return the number of finished epochs."""
    state_path = os.path.join(backup_dir, _STATE)
    if not os.path.exists(state_path):
        return 0
    with open(state_path) as f:
        epoch = json.load(f)["epochs_done"]
    trainer.load_weights(os.path.join(backup_dir, _WEIGHTS))
    log.info("resuming after epoch %d from %s", epoch, backup_dir)
    return epoch


def _save_backup(trainer, backup_dir, epochs_done):
    os.makedirs(backup_dir, exist_ok=True)
    weights = os.path.join(backup_dir, _WEIGHTS)
    trainer.save_weights(weights + ".tmp.weights.h5")
    os.replace(weights + ".tmp.weights.h5", weights)
    with open(os.path.join(backup_dir, _STATE + ".tmp"), "w") as f:
        json.dump({"epochs_done": epochs_done}, f)
    os.replace(os.path.join(backup_dir, _STATE + ".tmp"), os.path.join(backup_dir, _STATE))


def fit_multi_worker(trainer, strategy, dataset, config, steps_per_epoch, chief=True, callbacks=()):
    """Train `trainer` for `config.epochs` epochs of `steps_per_epoch` global batches.

    `callbacks`: a method's discrete steps; their `on_train_begin`, `on_epoch_begin` and
    `on_epoch_end` run on every worker (same inputs, same results), before the backup.
    """
    backup_dir = os.path.join(config.run_dir, rd.BACKUP_DIR)
    with strategy.scope():
        trainer.optimizer.build(trainer.encoder.trainable_variables)
    start = _resume_epoch(trainer, backup_dir)
    iterator = iter(strategy.experimental_distribute_dataset(dataset))

    @tf.function
    def train_step(iterator):
        logs = strategy.run(trainer.train_step, args=(next(iterator),))
        # every replica returns the same global values; take them from the first
        return {k: strategy.experimental_local_results(v)[0] for k, v in logs.items()}

    for callback in callbacks:
        callback.on_train_begin()
    for epoch in range(start, config.epochs):
        for callback in callbacks:
            callback.on_epoch_begin(epoch)
        if chief and config.verbose:
            log.info("Epoch %d/%d", epoch + 1, config.epochs)
        bar = keras.utils.Progbar(steps_per_epoch, verbose=config.verbose if chief else 0)
        for step in range(steps_per_epoch):
            logs = {k: float(v) for k, v in train_step(iterator).items()}
            if not math.isfinite(logs["loss"]):
                raise NaNLossError(
                    f"the loss became {logs['loss']} at epoch {epoch + 1}, step {step}: training "
                    "stopped. Lower --learning-rate or add --warmup-epochs; rerunning resumes."
                )
            bar.update(step + 1, values=list(logs.items()), finalize=step + 1 == steps_per_epoch)
        for metric in trainer.metrics:
            metric.reset_state()
        for callback in callbacks:
            callback.on_epoch_end(epoch, logs)
        if chief:
            trainer.save_weights(rd.checkpoint_path(config.run_dir, epoch + 1))
            _save_backup(trainer, backup_dir, epoch + 1)
            _append_history(config.run_dir, epoch, logs)


def _append_history(run_dir, epoch, logs):
    path = os.path.join(run_dir, rd.HISTORY_FILE)
    new = not os.path.exists(path)
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["epoch", *sorted(logs)])
        if new:
            writer.writeheader()
        writer.writerow({"epoch": epoch, **logs})
