"""One MirroredStrategy step on two (logical CPU) replicas equals the same step on one device."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from dmrh_tf import DMRHLoss, build_model
from dmrh_tf.training.hashing_trainer import HashingTrainer
from dmrh_tf.training.learning_rate_schedule import WarmupStepDecay

BATCH, N_TRAIN, BITS = 8, 12, 6


def _batch():
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (BATCH, 224, 224, 3)).astype("float32")
    index = np.array([3, 0, 7, 11, 5, 9, 1, 2], "int32")
    labels = np.eye(3, dtype="float32")[rng.integers(0, 3, N_TRAIN)]
    return images, index, labels


def _one_step(strategy, weights, mode, clipnorm):
    images, index, labels = _batch()
    with strategy.scope():
        encoder = build_model(BITS, 1, width=1 / 32, dropout=0.0)
        encoder.set_weights(weights)
        trainer = HashingTrainer(encoder, labels, DMRHLoss(0.1, mode), clipnorm=clipnorm)
        trainer.compile(optimizer=keras.optimizers.SGD(WarmupStepDecay(0.5), momentum=0.9, weight_decay=1e-3))
    data = tf.data.Dataset.from_tensors(({"images": images, "index": index}, labels[index])).repeat()
    # the memory already holds outputs from "earlier steps" so every column matters
    trainer.memory_h.assign(np.random.default_rng(1).normal(size=(N_TRAIN, BITS)).astype("float32"))
    history = trainer.fit(data, steps_per_epoch=2, epochs=1, verbose=0, shuffle=False)
    return [w.numpy() for w in encoder.weights], trainer.memory_h.numpy(), history.history["loss"][-1]


@pytest.fixture(scope="module")
def mirrored_strategy():
    """One strategy for the module: strategies created one after another in a process reuse
    collective instance keys, which TensorFlow's collective executor rejects."""
    assert len(tf.config.list_logical_devices("CPU")) >= 2, "conftest splits the CPU in two"
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2
    return strategy


@pytest.mark.parametrize("mode", ["memory", "batch"])
@pytest.mark.parametrize("clipnorm", [None, 1e-3])
def test_two_replicas_equal_one_device(mirrored_strategy, mode, clipnorm):
    """Global batch 8 split 4 + 4; dropout off (its masks differ by device); batch norm synchronized;
    clipnorm 1e-3 makes the global-norm clip active."""
    weights = build_model(BITS, 1, width=1 / 32, dropout=0.0).get_weights()
    single = _one_step(tf.distribute.OneDeviceStrategy("/cpu:0"), weights, mode, clipnorm)
    mirrored = _one_step(mirrored_strategy, weights, mode, clipnorm)
    changed = [not np.allclose(a, b) for a, b in zip(single[0], weights)]
    assert sum(changed) > len(weights) // 2, "the step must actually move the weights"
    for a, b in zip(single[0], mirrored[0]):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-6)
    np.testing.assert_allclose(single[1], mirrored[1], rtol=2e-4, atol=2e-6)
    assert mirrored[2] == pytest.approx(single[2], rel=1e-4)


def _method_step(strategy, weights, method):
    """One step of `method`'s loss on `strategy`, with random state where the method keeps some."""
    from dmrh_tf.training.config import Config
    from dmrh_tf.training.method_registry import METHOD_SPECS

    images, index, labels = _batch()
    config = Config(method=method, bits=BITS, regions=1, ddsh_omega=4, adsh_omega=8)
    spec = METHOD_SPECS[method]
    codes_shape, state_shapes = spec.procedure.trainer_state(config, N_TRAIN, labels.shape[1])
    rng = np.random.default_rng(2)
    with strategy.scope():
        encoder = build_model(BITS, 1, width=1 / 32, dropout=0.0)
        encoder.set_weights(weights)
        trainer = HashingTrainer(
            encoder, labels, spec.build_loss(config, N_TRAIN), clipnorm=1e-3, codes_shape=codes_shape,
            state_shapes=state_shapes,
        )  # fmt: skip
        trainer.compile(optimizer=keras.optimizers.SGD(0.5, momentum=0.9))
    trainer.memory_h.assign(rng.normal(size=(N_TRAIN, BITS)).astype("float32"))
    if trainer.codes is not None:
        trainer.codes.assign(rng.choice([-1.0, 1.0], size=codes_shape).astype("float32"))
    for name, variable in trainer.method_state.items():
        value = labels[: variable.shape[0]] if name == "omega_labels" else np.float32(0.4)
        variable.assign(value)
    data = tf.data.Dataset.from_tensors(({"images": images, "index": index}, labels[index])).repeat()
    history = trainer.fit(data, steps_per_epoch=2, epochs=1, verbose=0, shuffle=False)
    return [w.numpy() for w in encoder.weights], trainer.memory_h.numpy(), history.history


@pytest.mark.parametrize("method", ["dpsh", "dsh", "dsdh", "dch", "ddsh", "adsh"])
def test_every_method_on_two_replicas_equals_one_device(mirrored_strategy, method):
    """Each deep baseline's loss (and DSDH's in-step discrete steps) over a global batch split 4 + 4,
    clipping active: the same weights, memory and logged terms as one device."""
    weights = build_model(BITS, 1, width=1 / 32, dropout=0.0).get_weights()
    single = _method_step(tf.distribute.OneDeviceStrategy("/cpu:0"), weights, method)
    mirrored = _method_step(mirrored_strategy, weights, method)
    changed = [not np.allclose(a, b) for a, b in zip(single[0], weights)]
    assert sum(changed) > len(weights) // 2, "the step must actually move the weights"
    for a, b in zip(single[0], mirrored[0]):
        np.testing.assert_allclose(a, b, rtol=5e-4, atol=5e-6)
    np.testing.assert_allclose(single[1], mirrored[1], rtol=5e-4, atol=5e-6)
    for name, values in single[2].items():
        assert mirrored[2][name][-1] == pytest.approx(values[-1], rel=1e-4, abs=1e-6), name
