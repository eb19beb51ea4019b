"""Linear warm-up followed by step decay, the learning-rate shape of every DMRH recipe."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="dmrh_tf")
class WarmupStepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """lr(step) = peak · min(1, (step+1)/warmup_steps) · factor^floor(step / decay_steps).

    `warmup_steps=0` skips the warm-up; `decay_steps=None` never decays (the paper: ×0.1 on a
    fixed step).
    """

    def __init__(self, peak, warmup_steps=0, decay_steps=None, factor=0.1):
        self.peak = float(peak)
        self.warmup_steps = int(warmup_steps)
        self.decay_steps = None if decay_steps is None else int(decay_steps)
        self.factor = float(factor)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        lr = ops.convert_to_tensor(self.peak, "float32")
        if self.warmup_steps > 0:
            lr = lr * ops.minimum(1.0, (step + 1.0) / self.warmup_steps)
        if self.decay_steps:
            lr = lr * ops.power(self.factor, ops.floor(step / self.decay_steps))
        return lr

    def get_config(self):
        return dict(
            peak=self.peak,
            warmup_steps=self.warmup_steps,
            decay_steps=self.decay_steps,
            factor=self.factor,
        )
