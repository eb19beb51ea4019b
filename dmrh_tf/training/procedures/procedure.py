"""The shared training plan: every epoch a seeded shuffle of the training split, no extra state."""

import json
import os

import keras
import numpy as np

from dmrh_tf.data import train_dataset
from dmrh_tf.model import input_side
from dmrh_tf.training import run_dir as rd


class Procedure:
    """What `train` asks of a method besides its loss. Methods with discrete steps override:

    - `steps_per_epoch`: global batches per epoch (also the learning-rate schedule's unit);
    - `epoch_rows`: each epoch's training rows, [epochs, steps·B], or None for seeded shuffles;
    - `trainer_state`: the non-trainable state the trainer keeps (`codes_shape`, `state_shapes`);
    - `callbacks`: Keras callbacks doing the discrete steps between epochs (run before the
      checkpoint and the backup, so both hold their results);
    - `database_codes`: ±1 codes of the training images to serve as the database, or None (the
      network's codes, the usual out-of-sample extension).
    """

    def steps_per_epoch(self, config, n):
        return config.steps_per_epoch or n // config.batch_size

    def epoch_rows(self, config, n):
        return None

    def trainer_state(self, config, n, classes):
        return None, None

    def callbacks(self, trainer, train_split, config):
        return []

    def database_codes(self, trainer):
        return None

    def dataset(self, train_split, config, initial_epoch=0):
        """The training batches of this method from `initial_epoch` on (a resumed run's epoch)."""
        n = len(train_split)
        return train_dataset(
            train_split,
            input_side(config.regions),
            config.batch_size,
            seed=config.seed,
            steps_per_epoch=self.steps_per_epoch(config, n),
            initial_epoch=initial_epoch,
            epoch_rows=self.epoch_rows(config, n),
        )


def finished_epochs(run_dir):
    """Epochs a run directory's backup says are done (0 without one): where a resumed run starts."""
    for name, key in (("training_metadata.json", "epoch"), ("state.json", "epochs_done")):
        path = os.path.join(run_dir, rd.BACKUP_DIR, name)
        if os.path.exists(path):
            with open(path) as f:
                return int(json.load(f)[key])
    return 0


class MethodSteps(keras.callbacks.Callback):
    """Base of a method's discrete steps between epochs, with what they work on: the procedure (its
    Ω plan), the trainer (its memory and state) and the training labels."""

    def __init__(self, procedure, trainer, labels, config):
        super().__init__()
        self.procedure = procedure
        self.trainer = trainer
        self.labels = np.asarray(labels, np.float32)
        self.config = config
