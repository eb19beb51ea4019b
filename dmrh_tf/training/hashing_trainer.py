"""The training wrapper: encoder + memory of training outputs + a method's loss, one `train_step`.

TensorFlow-only (gradient tape, replica context); the encoder and the loss are backend-agnostic.
"""

import keras
import numpy as np
import tensorflow as tf

from dmrh_tf.methods import Columns, DMRHLoss


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


class HashingTrainer(keras.Model):
    """Trains `encoder` with a method's `HashingLoss`; the encoder alone is saved for inference.

    The trainer keeps `memory_h` [n, K], the latest fused output `h` of every training image (zeros
    at the start, as the DMRH release), and `memory_labels` [n, C]. Each step all-gathers the global
    batch (rows, outputs without gradient, labels) and hands the loss its `Columns`: in "memory"
    mode all n rows of the memory with the global batch written in, in "batch" mode the global batch
    itself (with gradient, so pairs act both ways). The loss of the replica's rows is normalised by
    global quantities, so the replicas' losses add up to one device's.

    `codes_shape` and `state_shapes` add non-trainable state a method's discrete steps maintain
    between steps (ADSH's database codes, DDSH's Ω codes); they are part of every checkpoint and
    backup, so a resumed run continues with them.

    Gradients are summed over replicas and clipped by their global norm *before* the optimizer
    (Keras clips per replica, before its all-reduce, which would not equal one device's step).
    """

    def __init__(
        self, encoder, train_labels, loss=None, clipnorm=None, codes_shape=None, state_shapes=None, **kwargs
    ):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.hashing_loss = loss or DMRHLoss()
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
        self.codes = None
        if codes_shape is not None:
            self.codes = self.add_weight(
                shape=codes_shape, initializer="zeros", trainable=False, name="codes"
            )
        self.method_state = {
            name: self.add_weight(shape=shape, initializer="zeros", trainable=False, name=name)
            for name, shape in (state_shapes or {}).items()
        }
        names = ("loss", *self.hashing_loss.terms)
        self.trackers = [keras.metrics.Mean(name=name) for name in names]
        self.built = True  # the encoder is built; the memories are made above

    @property
    def metrics(self):
        return list(self.trackers)

    def call(self, inputs, training=False):
        images = inputs["images"] if isinstance(inputs, dict) else inputs
        return self.encoder(images, training=training)

    def _columns(self, context, h, index, labels):
        """The `Columns` of the replica's rows, and the memory to store after the step (or None)."""
        rows = gather_rows(context, index)
        batch_h = gather_rows(context, tf.stop_gradient(h))
        batch_labels = gather_rows(context, labels)
        memory = None
        if self.hashing_loss.columns == "memory":
            memory = write_rows(self.memory_h.value, rows, batch_h)
            column_h, column_labels = memory, self.memory_labels.value
            same_image = tf.one_hot(index, tf.shape(memory)[0], dtype=tf.float32)
        else:
            column_h, column_labels = gather_rows(context, h), batch_labels  # with gradient
            same_image = tf.cast(tf.equal(index[:, None], rows[None, :]), tf.float32)
        columns = Columns(
            h=column_h,
            labels=column_labels,
            same_image=same_image,
            num_rows=tf.shape(rows)[0],
            batch_h=batch_h,
            batch_labels=batch_labels,
            codes=None if self.codes is None else self.codes.value,
            state={name: variable.value for name, variable in self.method_state.items()},
        )
        return columns, memory

    def train_step(self, data):
        inputs, labels = data
        context = tf.distribute.get_replica_context()
        replicas = context.num_replicas_in_sync
        variables = self.encoder.trainable_variables
        with tf.GradientTape() as tape:
            h = tf.cast(self.encoder(inputs["images"], training=True)["h"], tf.float32)
            columns, memory = self._columns(context, h, inputs["index"], labels)
            loss, terms = self.hashing_loss.compute_terms(h, labels, columns)
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
        if memory is not None:
            self.memory_h.assign(memory)
        totals = [loss, *terms]
        if replicas > 1:  # each replica holds its rows' share of the global mean
            totals = context.all_reduce(tf.distribute.ReduceOp.SUM, totals)
        for tracker, value in zip(self.trackers, totals):
            tracker.update_state(value)
        return {m.name: m.result() for m in self.trackers}
