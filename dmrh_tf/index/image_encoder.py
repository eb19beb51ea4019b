"""Encode image files with a trained DMRH model, as training and evaluation do."""

import hashlib
import logging
import os

import keras
import numpy as np

from dmrh_tf.data.split_lists import read_split_lists
from dmrh_tf.data.splits import Split
from dmrh_tf.encode import encode_split
from dmrh_tf.index.image_files import check_files
from dmrh_tf.index.model_fingerprint import model_fingerprint
from dmrh_tf.training.run_dir import CONFIG_FILE, MODEL_FILE, SPLITS_DIR, load_run, read_database_codes

logger = logging.getLogger(__name__)


class ImageEncoder:
    """Callable `paths → ±1 int8 codes [n, bits]` around a model, with the model's fingerprint.

    Files go through `dmrh_tf.encode_split`: `tf.io.decode_image(..., channels=3,
    expand_animations=False)`, bilinear resize to the model's input side, batched model calls,
    with a progress bar. Any image size works.

    Args:
        model: a model built by `dmrh_tf.build_model` (or loaded from a run).
        fingerprint: from `model_fingerprint(model)`; computed if None.
        batch_size: images per model call.
        progress: show a progress bar while encoding.
    """

    def __init__(self, model, fingerprint=None, batch_size=64, progress=True, learned_codes=None):
        self.model = model
        self.fingerprint = fingerprint or model_fingerprint(model)
        self.batch_size = batch_size
        self.progress = progress
        # training image path → its learned database code (ADSH's V), from the run directory
        self.learned_codes = learned_codes or {}

    @property
    def bits(self):
        return self.fingerprint["bits"]

    @classmethod
    def from_path(cls, path, **kwargs):
        """Load a run directory (`config.json` + `model.keras`) or a `.keras` model file."""
        path = os.fspath(path)
        if os.path.isdir(path):
            if os.path.exists(os.path.join(path, "saved_model.pb")):
                raise ValueError(
                    f"{path} is a SavedModel export, which the index cannot fingerprint yet: "
                    f"give the run directory (or its {MODEL_FILE}) instead"
                )
            model, _ = load_run(path)
            with open(os.path.join(path, CONFIG_FILE), "rb") as f:
                extra = {"config_sha256": hashlib.sha256(f.read()).hexdigest()}
            kwargs.setdefault("learned_codes", _learned_codes(path))
        elif os.path.isfile(path) and path.endswith(".keras"):
            # Importing dmrh_tf (the parent package) has registered the custom layers.
            model, extra = keras.saving.load_model(path, compile=False), {}
        else:
            raise FileNotFoundError(f"{path} is neither a run directory nor a .keras model file")
        fingerprint = model_fingerprint(model, source=os.path.abspath(path), **extra)
        logger.info("loaded %d-bit model from %s", fingerprint["bits"], path)
        return cls(model, fingerprint, **kwargs)

    def database(self, paths):
        """Codes of database images: a training image's learned code where the run has them (ADSH's
        V: the method's own database codes), the network's for every other image."""
        paths = [os.fspath(p) for p in paths]
        if not self.learned_codes:
            return self(paths)
        keys = [os.path.abspath(p) for p in paths]
        known = np.array([key in self.learned_codes for key in keys], bool)
        codes = np.zeros((len(paths), self.bits), np.int8)
        if known.any():
            codes[known] = np.stack([self.learned_codes[k] for k, hit in zip(keys, known) if hit])
        if not known.all():
            codes[~known] = self([p for p, hit in zip(paths, known) if not hit])
        logger.info("%d of %d database images have the run's learned codes", known.sum(), len(paths))
        return codes

    def __call__(self, paths):
        """Codes of images through the network (queries always come this way)."""
        paths = [os.fspath(p) for p in paths]
        check_files(paths)
        if not paths:
            return np.zeros((0, self.bits), np.int8)
        files = np.asarray(paths, dtype=str)
        split = Split(ids=files, labels=np.zeros((len(files), 1), np.float32), images=files)
        return encode_split(self.model, split, batch_size=self.batch_size, progress=self.progress)


def _learned_codes(run_dir):
    """{absolute path: code} of the run's training images when the run learned database codes."""
    codes = read_database_codes(run_dir)
    if codes is None:
        return {}
    ids = read_split_lists(os.path.join(run_dir, SPLITS_DIR)).lists["train"][0]
    if len(ids) != len(codes):
        raise ValueError(f"{run_dir}: {len(codes)} database codes for {len(ids)} training images")
    return {os.path.abspath(i): code for i, code in zip(ids, codes) if os.path.isfile(i)}
