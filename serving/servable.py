"""One loaded model version: its signature functions and SignatureDefs."""

import json
import logging
import os

import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.protobuf import saved_model_pb2

from serving import contract

log = logging.getLogger(__name__)


def read_signature_defs(path):
    """The SignatureDef map of the SavedModel in `path` (all of them, `__saved_model_init_op` too)."""
    binary = os.path.join(path, "saved_model.pb")
    saved_model = saved_model_pb2.SavedModel()
    if os.path.exists(binary):
        with open(binary, "rb") as f:
            saved_model.ParseFromString(f.read())
    else:
        with open(os.path.join(path, "saved_model.pbtxt")) as f:
            text_format.Parse(f.read(), saved_model)
    return dict(saved_model.meta_graphs[0].signature_def)


def read_max_pixels(path):
    """The export's pixel limit from `assets.extra/dmrh_config.json` (None for other SavedModels)."""
    try:
        with open(os.path.join(path, contract.ASSETS_EXTRA_DIR, contract.CONFIG_FILE)) as f:
            return json.load(f).get("max_pixels")
    except (OSError, ValueError):
        return None


class Servable:
    """A model version loaded with `tf.saved_model.load` (thread-safe to call concurrently)."""

    def __init__(self, name, version, path, loaded, signature_defs, max_pixels=None):
        self.name = name
        self.version = version
        self.path = path
        self.signature_defs = signature_defs
        self.max_pixels = max_pixels  # the graph's own limit, also checked on declared shapes
        self._loaded = loaded  # keeps the variables alive for the signature functions
        self._functions = dict(loaded.signatures)

    @classmethod
    def load(cls, name, version, path):
        signature_defs = read_signature_defs(path)
        loaded = tf.saved_model.load(path)
        log.info(
            "loaded %s version %d from %s (signatures %s)", name, version, path, sorted(loaded.signatures)
        )
        return cls(name, version, path, loaded, signature_defs, read_max_pixels(path))

    def function(self, signature_name):
        """The callable of `signature_name` (keyword arguments named like the signature's inputs)."""
        return self._functions[signature_name]
