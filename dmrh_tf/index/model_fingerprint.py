"""Which model produced an index's codes: a fingerprint saved with the index and checked on query.

Codes from two models are not comparable, even at the same length, so an index refuses queries
encoded by any model but its own. The fingerprint identifies the model by its weights, so the
same trained model loaded from its run directory or from its `model.keras` file matches.
"""

import hashlib

import numpy as np

#: Fingerprint keys that must match between the index and the query model.
CHECKED_KEYS = ("bits", "weights_sha256")


class ModelMismatchError(ValueError):
    """The query model is not the model the index was built with."""


def model_fingerprint(model, **extra):
    """A JSON-able description of `model`: code length, input side and weights hash.

    `weights_sha256` hashes every weight's dtype, shape and values in `model.weights` order
    (not the variable names, which Keras may number differently between sessions). `extra` items
    (e.g. the source path, the run's config hash) are recorded for information only.
    """
    digest = hashlib.sha256()
    for weight in model.weights:
        value = np.ascontiguousarray(np.asarray(weight))
        digest.update(f"{value.dtype.str}{value.shape};".encode())
        digest.update(value.tobytes())
    return {
        "bits": int(model.output["codes"].shape[-1]),
        "input_side": int(model.input.shape[1]),
        "weights_sha256": digest.hexdigest(),
        **extra,
    }


def check_model(recorded, current):
    """Raise ModelMismatchError unless the `CHECKED_KEYS` of both fingerprints are equal."""
    if not recorded:
        raise ModelMismatchError("the index records no model: it was not built from images")
    differences = [key for key in CHECKED_KEYS if recorded.get(key) != current.get(key)]
    if differences:
        details = "; ".join(
            f"{key}: index {recorded.get(key)!r}, model {current.get(key)!r}" for key in differences
        )
        raise ModelMismatchError(
            f"the model ({current.get('source', 'given')}) is not the one the index was built "
            f"with ({recorded.get('source', 'unknown')}): {details}. Query with the index's model "
            f"or rebuild the index with this one."
        )
