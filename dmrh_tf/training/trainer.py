"""The training wrapper: encoder + memory of training outputs + DMRH loss, one `train_step`.

TensorFlow-only (gradient tape, replica context); the encoder and the loss are backend-agnostic.
"""

import keras
import numpy as np
import tensorflow as tf

from dmrh_tf.methods import DMRHLoss


def gather_rows(context, x):
    """Concatenate every replica's `x` [B, ...] along rows, in replica order (equal B everywhere).

    An all-reduce of zero-padded blocks rather than `ReplicaContext.all_gather`, which fails under
    MultiWorkerMirroredStrategy on CPUs ("destinations can not be empty"). Differentiable: the
    all-reduce's gradient sums the upstream gradients over replicas, and the padding keeps our rows.
    """
    replicas = context.num_replicas_in_sync
    if replicas == 1:
        return x
    rows = tf.shape(x)[0]
    before = tf.cast(context.replica_id_in_sync_group, tf.int32) * rows
    after = (replicas - 1) * rows - before
    paddings = tf.concat([[[before, after]], tf.zeros([tf.rank(x) - 1, 2], tf.int32)], axis=0)
    return context.all_reduce(tf.distribute.ReduceOp.SUM, tf.pad(x, paddings))


def write_rows(memory, rows, h):
    """`memory` [n, K] with `rows` replaced by `h`, as a constant: no gradient reaches the memory."""
    return tf.tensor_scatter_nd_update(memory, rows[:, None], tf.stop_gradient(h))


class DMRHTrainer(keras.Model):
    """Trains `encoder` with `DMRHLoss`; the encoder alone is what gets saved for inference.

    Memory mode keeps `memory_h` [n, K], the latest fused output `h` of every training image
    (zeros at the start, as the release), and `memory_labels` [n, C]. Each step writes the global
    batch's rows (all-gathered over replicas, without gradient) into the memory, then takes the loss
    of the replica's rows against all n columns, normalised by the global batch.

    Gradients are summed over replicas and clipped by their global norm *before* the optimizer
    (Keras clips per replica, before its all-reduce, which would not equal one device's step).
    """

    def __init__(self, encoder, train_labels, loss=None, clipnorm=None, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.dmrh_loss = loss or DMRHLoss()
        self.clipnorm = clipnorm
        train_labels = np.asarray(train_labels, np.float32)
        bits = int(encoder.output["h"].shape[-1])
        self.memory_labels = self.add_weight(
            shape=train_labels.shape,
            initializer=keras.initializers.Constant(train_labels),
            trainable=False,
            name="memory_labels",
        )
        self.memory_h = self.add_weight(
            shape=(len(train_labels), bits),
            initializer="zeros",
            trainable=False,
            aggregation="only_first_replica",
            name="memory_h",
        )
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.likelihood_tracker = keras.metrics.Mean(name="likelihood")
        self.quantization_tracker = keras.metrics.Mean(name="quantization")
        self.built = True  # the encoder is built; the memories are made above

    @property
    def metrics(self):
        return [self.loss_tracker, self.likelihood_tracker, self.quantization_tracker]

    def call(self, inputs, training=False):
        images = inputs["images"] if isinstance(inputs, dict) else inputs
        return self.encoder(images, training=training)

    def train_step(self, data):
        inputs, labels = data
        context = tf.distribute.get_replica_context()
        replicas = context.num_replicas_in_sync
        variables = self.encoder.trainable_variables
        with tf.GradientTape() as tape:
            h = self.encoder(inputs["images"], training=True)["h"]
            if self.dmrh_loss.mode == "memory":
                rows = gather_rows(context, inputs["index"])
                all_h = gather_rows(context, tf.stop_gradient(h))
                bank_h = write_rows(self.memory_h.value, rows, all_h)
                bank_labels = self.memory_labels.value
                num_rows = tf.shape(rows)[0]
            else:
                bank_h = gather_rows(context, h)  # with gradient: pairs go both ways
                bank_labels = gather_rows(context, labels)
                num_rows = tf.shape(bank_h)[0]
            loss, likelihood, quantization = self.dmrh_loss.compute(
                h, labels, bank_h, bank_labels, num_rows=num_rows
            )
            scaled_loss = self.optimizer.scale_loss(loss)
        grads = tape.gradient(scaled_loss, variables)
        if replicas > 1:
            grads = context.all_reduce(tf.distribute.ReduceOp.SUM, grads)
        if self.clipnorm:
            # Clipping commutes with the loss scale: clip(S·g, S·c) = S·clip(g, c).
            scale = getattr(self.optimizer, "dynamic_scale", 1.0)
            grads, _ = tf.clip_by_global_norm(grads, self.clipnorm * tf.cast(scale, tf.float32))
        if replicas > 1:  # the optimizer all-reduces (sums) again
            grads = [g / replicas for g in grads]
        self.optimizer.apply(grads, variables)
        if self.dmrh_loss.mode == "memory":
            self.memory_h.assign(bank_h)
        totals = [loss, likelihood, quantization]
        if replicas > 1:  # each replica holds its rows' share of the global mean
            totals = context.all_reduce(tf.distribute.ReduceOp.SUM, totals)
        for tracker, value in zip(self.metrics, totals):
            tracker.update_state(value)
        return {m.name: m.result() for m in self.metrics}
