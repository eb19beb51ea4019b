"""What a training run leaves in its directory, and how to load it back."""

import json
import logging
import os

import keras
import numpy as np

from dmrh_tf.training.config import Config, merge

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"  # the resolved Config of the run
MODEL_FILE = "model.keras"  # the trained encoder (functional model; codes, h, region outputs)
RESULTS_FILE = "results.json"  # mAP@K and the run's facts
HISTORY_FILE = "history.csv"  # one row of metrics per epoch
SPLITS_DIR = "splits"  # the split list files (ids and labels) the run used
CHECKPOINT_DIR = "checkpoints"  # weights at the end of every epoch
CHECKPOINT_FILE = "epoch_{epoch:03d}.weights.h5"  # the trainer's weights after epoch (1-based)
BACKUP_DIR = "backup"  # the resumable state (weights, optimizer, memory, epoch)
LOG_DIR = "logs"  # TensorBoard
DATABASE_CODES_FILE = "database_codes.npy"  # ±1 int8 [n, K] codes of the training images, for methods
# that learn them (ADSH's V); evaluation uses them as the database instead of the network's codes


def write_config(run_dir, config):
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, CONFIG_FILE)
    with open(path + ".tmp", "w") as f:
        f.write(config.to_json())
    os.replace(path + ".tmp", path)


def read_config(run_dir):
    path = os.path.join(run_dir, CONFIG_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} not found: is {run_dir!r} a dmrh_tf run directory?")
    with open(path) as f:
        return merge(Config(), json.load(f), path)


def load_run(run_dir, compile=False):
    """The trained encoder and the `Config` of a finished run in `run_dir`."""
    config = read_config(run_dir)
    path = os.path.join(run_dir, MODEL_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"{path} not found: the run in {run_dir!r} has not finished; rerun the same "
            "`python -m dmrh_tf.train` command to resume it"
        )
    import dmrh_tf.methods
    import dmrh_tf.model  # noqa: F401

    return keras.saving.load_model(path, compile=compile), config


def checkpoint_path(run_dir, epoch):
    """The trainer weights saved at the end of `epoch` (1-based, as Keras counts in the file name)."""
    return os.path.join(run_dir, CHECKPOINT_DIR, CHECKPOINT_FILE.format(epoch=epoch))


def write_database_codes(run_dir, codes):
    path = os.path.join(run_dir, DATABASE_CODES_FILE)
    with open(path + ".tmp", "wb") as f:
        np.save(f, np.asarray(codes, np.int8))
    os.replace(path + ".tmp", path)


def read_database_codes(run_dir):
    """The run's own database codes (±1 int8 [n, K], in the order of its training split), or None."""
    path = os.path.join(run_dir, DATABASE_CODES_FILE)
    return np.load(path) if os.path.exists(path) else None


def write_json(run_dir, name, values):
    path = os.path.join(run_dir, name)
    with open(path + ".tmp", "w") as f:
        json.dump(values, f, indent=2, sort_keys=True)
    os.replace(path + ".tmp", path)
