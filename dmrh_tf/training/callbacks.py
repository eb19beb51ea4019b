"""Training callbacks of a DMRH run."""

import math
import time

import keras

from dmrh_tf.training.glibc_malloc import restore_malloc_thresholds


class NaNLossError(FloatingPointError):
    """The training loss became NaN or infinite."""


class StopOnNaN(keras.callbacks.Callback):
    """Stop the run at the first non-finite loss, saying what to do (the last epoch's backup stays)."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise NaNLossError(
                f"the loss became {float(loss)} at batch {batch}: training stopped. Lower "
                "--learning-rate, add --warmup-epochs, keep --clipnorm on, or check the images and "
                "labels; rerunning resumes from the last finished epoch."
            )


class EpochClock(keras.callbacks.Callback):
    """Adds `epoch_seconds` to each epoch's logs (so to history.csv and TensorBoard): wall seconds
    since the previous epoch ended, or, for a process's first epoch, since `started` (the run's
    start: data loading, model building and tracing count). Their running sum over history.csv is
    the run's training wall time, also across resumes (only a killed, unfinished epoch is lost)."""

    def __init__(self, started):
        super().__init__()
        self.last = started

    def on_epoch_end(self, epoch, logs=None):
        now = time.time()
        if logs is not None:
            logs["epoch_seconds"] = round(now - self.last, 3)
        self.last = now


class MallocThresholds(keras.callbacks.Callback):
    """Undo TF's malloc trim setting (`glibc_malloc`) once each epoch's data iterator exists: at
    the start of an epoch and after its first batch (when Keras has built its iterator)."""

    def on_epoch_begin(self, epoch, logs=None):
        restore_malloc_thresholds()

    def on_train_batch_end(self, batch, logs=None):
        if batch == 0:
            restore_malloc_thresholds()
