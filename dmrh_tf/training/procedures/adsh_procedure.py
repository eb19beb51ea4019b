"""ADSH's outer iterations (Jiang & Li, AAAI 2018), one per epoch of the run.

Epoch t trains the network on a sampled subset Ω_t of the training images (|Ω| = `adsh_omega`,
`adsh_inner_epochs` shuffled passes), then the V-step (one DCC sweep over the bits) updates the
database codes V of all n training images from the network's outputs u = tanh(h) on Ω_t. The
database is V, not the network's codes; queries go through the network.
"""

import logging

import keras
import numpy as np

from dmrh_tf.methods.adsh_steps import adsh_sample_omega, adsh_soft_ratio, adsh_v_step
from dmrh_tf.training.procedures.procedure import MethodSteps, Procedure

log = logging.getLogger(__name__)


class ADSHProcedure(Procedure):
    def _omega_size(self, config, n):
        return min(config.adsh_omega, n)

    def steps_per_epoch(self, config, n):
        if config.steps_per_epoch:
            return config.steps_per_epoch
        return config.adsh_inner_epochs * max(1, self._omega_size(config, n) // config.batch_size)

    def omega(self, config, n, epoch):
        """Ω of epoch `epoch`: a pure function of (seed, epoch), shared by the data and the V-step."""
        return adsh_sample_omega(config.seed, epoch, n, self._omega_size(config, n))

    def epoch_rows(self, config, n):
        count = self.steps_per_epoch(config, n) * config.batch_size
        table = np.empty((config.epochs, count), np.int32)
        for epoch in range(config.epochs):
            omega = self.omega(config, n, epoch)
            rng = np.random.default_rng([config.seed, epoch, 1])
            passes = -(-count // len(omega))
            table[epoch] = np.concatenate([rng.permutation(omega) for _ in range(passes)])[:count]
        return table

    def trainer_state(self, config, n, classes):
        return (n, config.bits), {"ratio": ()}

    def callbacks(self, trainer, train_split, config):
        return [ADSHSteps(self, trainer, train_split.labels, config)]

    def database_codes(self, trainer):
        codes = np.asarray(keras.ops.convert_to_numpy(trainer.codes.value))
        return np.where(codes > 0, 1, -1).astype(np.int8)


class ADSHSteps(MethodSteps):
    """Sets S̃'s ratio r for Ω_t before epoch t and runs the V-step after it."""

    def _omega(self, epoch):
        return self.procedure.omega(self.config, len(self.labels), epoch)

    def on_epoch_begin(self, epoch, logs=None):
        omega = self._omega(epoch)
        self.trainer.method_state["ratio"].assign(adsh_soft_ratio(self.labels[omega], self.labels))

    def on_epoch_end(self, epoch, logs=None):
        omega = self._omega(epoch)
        h = keras.ops.convert_to_numpy(self.trainer.memory_h.value)[omega]
        codes = keras.ops.convert_to_numpy(self.trainer.codes.value)
        ratio = float(keras.ops.convert_to_numpy(self.trainer.method_state["ratio"].value))
        new = adsh_v_step(
            codes,
            np.tanh(h),
            omega,
            self.labels[omega],
            self.labels,
            self.config.bits,
            self.config.adsh_gamma,
            ratio,
        )
        changed = float(np.mean(np.sign(codes) != np.sign(new)))
        self.trainer.codes.assign(np.asarray(new, np.float32))
        log.info("ADSH V-step after epoch %d: %.1f%% of the database bits changed", epoch + 1, 100 * changed)
