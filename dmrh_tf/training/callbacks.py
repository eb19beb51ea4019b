"""Training callbacks of a DMRH run."""

import math

import keras


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
