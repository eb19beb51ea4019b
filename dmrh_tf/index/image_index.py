"""An index of image files: codes from an encoder, ids → paths and the model in the metadata.

The encoder is injected (any callable `paths → codes [n, bits]`), so building and querying are
testable without a trained model; the CLI passes an `ImageEncoder`.
"""

import dataclasses
import logging
import os

import numpy as np

from dmrh_tf.index.hamming_index import HammingIndex, check_k
from dmrh_tf.index.model_fingerprint import check_model

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Neighbour:
    """One search result: database image `path` (index id `id`) at Hamming `distance`."""

    distance: int
    id: int
    path: str


def build_index(encode_fn, paths, *, model=None, backend="faiss", **backend_params):
    """Encode `paths` with `encode_fn` and index them: id i is `paths[i]`.

    Args:
        encode_fn: callable, list of paths → ±1 (or 0/1) codes [n, bits].
        paths: the database image files, in id order.
        model: the encoder's fingerprint (`model_fingerprint`), recorded in the index and checked
            by `query_index`; None for an encoder that has none (queries are then not checked).
        backend, backend_params: passed to `HammingIndex`.

    Returns the `HammingIndex`, with `metadata = {"model": model, "paths": [...]}`.
    """
    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise ValueError("no images to index")
    metadata = {"model": model, "paths": paths}
    index = None
    if model is not None and model.get("bits"):  # check the settings before the long encoding
        index = HammingIndex(model["bits"], backend, metadata=metadata, **backend_params)
    logger.info("encoding %d database images", len(paths))
    codes = np.asarray(encode_fn(paths))
    if index is None:
        index = HammingIndex(codes.shape[-1], backend, metadata=metadata, **backend_params)
    index.add(codes)
    return index


def query_index(index, encode_fn, paths, k, *, model=None):
    """The k nearest database images of each query image: a list (per query) of `Neighbour`s.

    The paths come from `index.paths_of`: the index's `metadata["paths"]`, or the rows of a
    database backend.

    `model` is the query encoder's fingerprint; if the index records a model, they must match
    (ModelMismatchError otherwise), since codes of different models are not comparable.
    """
    check_k(k)
    recorded = index.metadata.get("model")
    if recorded is not None or model is not None:
        check_model(recorded, model or {})
    if not index.holds_rows and index.metadata.get("paths") is None:  # fail before encoding
        raise ValueError("the index has no id → path table: it was not built from images")
    paths = [os.fspath(p) for p in paths]
    codes = encode_fn(paths)
    distances, ids = index.search(codes, k)
    found = distances >= 0
    database_paths = iter(index.paths_of(ids[found]))  # one lookup for all queries
    return [
        [Neighbour(int(d), int(i), next(database_paths)) for d, i in zip(row_d[row_found], row_i[row_found])]
        for row_d, row_i, row_found in zip(distances, ids, found, strict=True)
    ]
