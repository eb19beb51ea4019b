"""`python -m dmrh_tf.train`: train DMRH, evaluate mAP@K, save the model and the results.

    python -m dmrh_tf.train                      # built-in generated data, a few minutes on a CPU
    python -m dmrh_tf.train --preset smoke       # the whole pipeline in about a minute
    python -m dmrh_tf.train --dataset fashion_mnist --data-dir /usr/share/datasets/fashion-mnist

Rerunning the same command resumes an interrupted run from its last finished epoch.
"""

import logging
import os
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from dmrh_tf.data import load_splits, write_split_lists
from dmrh_tf.encode import encode_split
from dmrh_tf.evaluation import map_at_k
from dmrh_tf.model import build_model, load_cnnf_weights
from dmrh_tf.training import run_dir as rd
from dmrh_tf.training.callbacks import EpochClock, MallocThresholds, NaNLossError, StopOnNaN
from dmrh_tf.training.config import parse_args
from dmrh_tf.training.distribution import is_chief, make_strategy, task_index
from dmrh_tf.training.hashing_trainer import HashingTrainer
from dmrh_tf.training.learning_rate_schedule import WarmupStepDecay
from dmrh_tf.training.method_registry import method_spec
from dmrh_tf.training.procedures.procedure import finished_epochs

log = logging.getLogger("dmrh_tf.train")


def make_schedule(config, steps_per_epoch):
    """The learning rate per step: linear warm-up from 0, then step decay or a cosine to 0."""
    warmup = round(config.warmup_epochs * steps_per_epoch)
    if config.lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            0.0,
            decay_steps=max(1, config.epochs * steps_per_epoch - warmup),
            warmup_target=config.learning_rate,
            warmup_steps=warmup,
        )
    return WarmupStepDecay(
        config.learning_rate,
        warmup_steps=warmup,
        decay_steps=config.lr_decay_epochs * steps_per_epoch if config.lr_decay_epochs else None,
        factor=config.lr_decay_factor,
    )


def make_optimizer(config, steps_per_epoch):
    schedule = make_schedule(config, steps_per_epoch)
    if config.optimizer == "adam":
        return keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay)
    return keras.optimizers.SGD(schedule, momentum=config.momentum, weight_decay=config.weight_decay or None)


def build_trainer(config, train_labels, steps_per_epoch):
    """The encoder (with CNN-F weights if configured) inside a compiled `HashingTrainer` with the
    loss and state of `config.method`."""
    encoder = build_model(
        config.bits,
        config.regions,
        config.width,
        normalization=config.normalization,
        dropout=config.dropout,
        weighting=config.weighting,
    )
    if config.pretrained:
        load_cnnf_weights(encoder, config.pretrained)
    spec = method_spec(config.method)
    n, classes = np.shape(train_labels)
    codes_shape, state_shapes = spec.procedure.trainer_state(config, n, classes)
    trainer = HashingTrainer(
        encoder,
        train_labels,
        spec.build_loss(config, n),
        clipnorm=config.clipnorm,
        codes_shape=codes_shape,
        state_shapes=state_shapes,
    )
    trainer.compile(optimizer=make_optimizer(config, steps_per_epoch), jit_compile=config.jit_compile)
    return trainer


def encoder_at_epoch(run_dir, epoch, train_labels):
    """The encoder of the run in `run_dir` as it was at the end of `epoch` (1-based), from its
    checkpoint; `train_labels` [n, C] are the run's training labels (the trainer's memory shape)."""
    path = rd.checkpoint_path(run_dir, epoch)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} not found: the run in {run_dir!r} has not finished epoch {epoch}")
    config = rd.read_config(run_dir)
    trainer = build_trainer(config, train_labels, steps_per_epoch=1)
    trainer.load_weights(path)
    return trainer.encoder


def _callbacks(config, method_callbacks=()):
    """Everything an epoch writes, with the resumable backup last: once it exists, nothing of that
    epoch is lost to a kill; a kill before it reruns the epoch (its history row may then repeat).
    A method's discrete steps run first, so the checkpoint and the backup hold their results."""
    run = config.run_dir
    checkpoints = os.path.join(run, rd.CHECKPOINT_DIR, rd.CHECKPOINT_FILE)  # Keras fills in {epoch}
    return [
        *method_callbacks,
        StopOnNaN(),
        keras.callbacks.CSVLogger(os.path.join(run, rd.HISTORY_FILE), append=True),
        keras.callbacks.TensorBoard(os.path.join(run, rd.LOG_DIR), update_freq="epoch"),
        keras.callbacks.ModelCheckpoint(checkpoints, save_weights_only=True),
        keras.callbacks.BackupAndRestore(os.path.join(run, rd.BACKUP_DIR)),
    ]


def fill_memory(trainer, split, progress=False):
    """Start the trainer's memory at the untrained network's outputs h of every training image
    (inference mode), instead of zeros: every column of the memory-bank loss then carries a
    pair signal from the first step. Costs one forward pass over the training split."""
    trainer.memory_h.assign(encode_split(trainer.encoder, split, output="h", progress=progress))


def evaluate_codes(encoder, splits, config, database_codes=None):
    """mAP@K of the query codes against the database codes (K capped at the database size).

    `database_codes`: a method's own codes of the training images (ADSH's V), used as the database
    when the database is the training split (the DMRH protocol); otherwise the network encodes it.
    """
    query = encode_split(encoder, splits.query, progress=config.verbose > 0)
    if database_codes is not None and not splits.database_is_train:
        log.warning("the database is not the training split: encoding it with the network instead")
        database_codes = None
    if database_codes is None:
        database = encode_split(encoder, splits.database, progress=config.verbose > 0)
    else:
        database = database_codes
    k = min(config.map_k, len(splits.database))
    value = map_at_k(query, database, splits.query.labels, splits.database.labels, k)
    return {"map_at_k": float(value), "k": k}


def check_replicas(batch_size, replicas):
    """Fail before training when the global batch does not split evenly over the replicas."""
    if batch_size % replicas:
        lower, upper = batch_size - batch_size % replicas, batch_size + replicas - batch_size % replicas
        raise ValueError(
            f"--batch-size {batch_size} does not divide by the {replicas} replicas (devices) of this "
            f"run: every replica needs the same share. Use --batch-size {lower or upper} or {upper}, "
            "or limit the devices (e.g. CUDA_VISIBLE_DEVICES)"
        )


def train(config):
    """Run training end to end; return the results (written to `results.json` by the chief)."""
    started = time.time()
    if config.normalization == "lrn" and config.width == 1.0 and not config.pretrained:
        log.warning(
            "training the paper's CNN-F (LRN, the paper's recipe) from scratch: without --pretrained "
            "imagenet-vgg-f.mat its loss stays at ln 2 and it does not learn (README, Recipes); "
            "drop --preset paper to use the from-scratch recipe"
        )
    keras.mixed_precision.set_dtype_policy(
        "float32" if config.mixed_precision == "off" else config.mixed_precision
    )
    keras.utils.set_random_seed(config.seed)
    strategy = make_strategy(config.strategy)
    chief = is_chief()  # other workers of a multi-worker cluster write nothing but their model
    splits = load_splits(config)
    log.info("data set %s: %s", splits.name, splits.sizes())
    if chief:
        os.makedirs(os.path.join(config.run_dir, rd.CHECKPOINT_DIR), exist_ok=True)
        rd.write_config(config.run_dir, config)
        write_split_lists(splits, os.path.join(config.run_dir, rd.SPLITS_DIR))
    log.info("config:\n%s", config.to_json())

    check_replicas(config.batch_size, strategy.num_replicas_in_sync)
    procedure = method_spec(config.method).procedure
    steps = procedure.steps_per_epoch(config, len(splits.train))
    with strategy.scope():
        trainer = build_trainer(config, splits.train.labels, steps)
    # A resumed run continues the data sequence where the interrupted one stopped.
    initial_epoch = finished_epochs(config.run_dir)
    if config.memory_init == "network" and initial_epoch == 0:  # a resumed run restores its memory
        fill_memory(trainer, splits.train, progress=config.verbose > 0)
    dataset = procedure.dataset(splits.train, config, initial_epoch=initial_epoch)
    # the clock after a method's discrete steps, which are part of the epoch's time
    method_callbacks = [
        *procedure.callbacks(trainer, splits.train, config),
        EpochClock(started),
        MallocThresholds(),  # after the data iterator exists: it undoes TF's malloc setting
    ]
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        from dmrh_tf.training.multi_worker import fit_multi_worker

        fit_multi_worker(trainer, strategy, dataset, config, steps, chief=chief, callbacks=method_callbacks)
    else:
        trainer.fit(
            dataset,
            epochs=config.epochs,
            steps_per_epoch=steps,
            callbacks=_callbacks(config, method_callbacks),
            verbose=config.verbose,
            shuffle=False,  # the dataset shuffles itself (Keras would warn that it cannot)
        )
    trained = time.time()
    encoder = trainer.encoder
    database_codes = procedure.database_codes(trainer)
    if not chief:
        worker_dir = os.path.join(config.run_dir, f"worker_{task_index()}")
        os.makedirs(worker_dir, exist_ok=True)
        encoder.save(os.path.join(worker_dir, rd.MODEL_FILE))
        return {}
    encoder.save(os.path.join(config.run_dir, rd.MODEL_FILE))
    if database_codes is not None:
        rd.write_database_codes(config.run_dir, database_codes)
    results = evaluate_codes(encoder, splits, config, database_codes)
    results.update(
        method=config.method,
        dataset=splits.name,
        sizes=splits.sizes(),
        bits=config.bits,
        regions=config.regions,
        width=config.width,
        epochs=config.epochs,
        replicas=strategy.num_replicas_in_sync,
        seconds=round(time.time() - started, 1),
        # this process's share: a resumed run's earlier epochs are in history.csv's epoch_seconds
        train_seconds=round(trained - started, 1),
        evaluate_seconds=round(time.time() - trained, 1),
    )
    rd.write_json(config.run_dir, rd.RESULTS_FILE, results)
    log.info("mAP@%d = %.4f (%s)", results["k"], results["map_at_k"], config.run_dir)
    return results


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    config = parse_args(argv, description=__doc__)
    try:
        train(config)
    except NaNLossError as error:
        log.error("%s", error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
