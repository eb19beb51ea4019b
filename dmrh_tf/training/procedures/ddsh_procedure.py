"""DDSH's discrete Ω-step (Jiang, Cui & Li, IEEE TIP 2018) before each epoch of the run.

Every `ddsh_iterations` epochs a new Ω (|Ω| = `ddsh_omega` training images) is sampled. Before
each epoch the Ω-step solves the Ω codes B_Ω bit by bit (a binary quadratic programme per bit)
against the codes B_Γ = sgn(h) of all training images that the trainer's memory holds; the epoch
then trains the network so that tanh(h) B_Ωᵀ fits K·S̃. Both queries and database use sgn(h).
"""

import logging

import keras
import numpy as np

from dmrh_tf.methods.ddsh_steps import ddsh_omega_step, ddsh_sample_omega, ddsh_soft_similarity
from dmrh_tf.training.procedures.procedure import MethodSteps, Procedure

log = logging.getLogger(__name__)


class DDSHProcedure(Procedure):
    def _omega_size(self, config, n):
        """|Ω|: `ddsh_omega`, at most half the training set (so that Γ, the rest, is not empty)."""
        return min(config.ddsh_omega, max(1, n // 2))

    def omega(self, config, n, epoch):
        """Ω of epoch `epoch` (the same for `ddsh_iterations` epochs in a row): a function of the seed."""
        size = self._omega_size(config, n)
        return ddsh_sample_omega(config.seed, epoch // config.ddsh_iterations, n, size)

    def trainer_state(self, config, n, classes):
        size = self._omega_size(config, n)
        return (size, config.bits), {"omega_labels": (size, classes), "ratio": ()}

    def callbacks(self, trainer, train_split, config):
        return [DDSHSteps(self, trainer, train_split.labels, config)]


class DDSHSteps(MethodSteps):
    """Before each epoch: B_Ω by the Ω-step, with Ω's labels and S̃'s ratio r for the loss."""

    def on_train_begin(self, logs=None):
        memory = self.trainer.memory_h
        if not np.any(keras.ops.convert_to_numpy(memory.value)):  # a new run: B starts random ±1
            rng = np.random.default_rng([self.config.seed, 2])
            memory.assign(rng.choice([-1.0, 1.0], size=memory.shape).astype(np.float32))

    def on_epoch_begin(self, epoch, logs=None):
        omega = self.procedure.omega(self.config, len(self.labels), epoch)
        codes_gamma = np.where(keras.ops.convert_to_numpy(self.trainer.memory_h.value) > 0, 1.0, -1.0)
        gamma = np.ones(len(self.labels), bool)
        gamma[omega] = False  # Γ: the training images outside Ω
        similarity, ratio = ddsh_soft_similarity(self.labels, self.labels[omega])
        codes_omega = ddsh_omega_step(
            similarity[gamma], similarity[omega], codes_gamma[gamma], self.config.bits
        )
        self.trainer.codes.assign(np.asarray(codes_omega, np.float32))
        self.trainer.method_state["omega_labels"].assign(self.labels[omega])
        self.trainer.method_state["ratio"].assign(ratio)
        log.info("DDSH Ω-step before epoch %d (|Ω| = %d, r = %.3f)", epoch + 1, len(omega), ratio)
