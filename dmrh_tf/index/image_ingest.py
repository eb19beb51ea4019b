"""Resumable, batched indexing of image files into a database-backed `HammingIndex` (Milvus).

Image i of the listing gets id i. Each batch of ids is looked up first, and only the images the
collection does not hold yet are encoded and inserted: a build that was killed (or failed) and
is run again inserts every image exactly once. Ids already stored must still name the same
files; if they do not, the listing changed since the first run and the rerun refuses rather
than mix two listings.
"""

import logging
import os

import numpy as np
import tqdm

from dmrh_tf.index.model_fingerprint import check_model

logger = logging.getLogger(__name__)


def ingest_images(index, encode_fn, paths, *, model=None, batch_size=1024, progress=True):
    """Encode and add the images of `paths` that `index` lacks, `batch_size` at a time.

    Args:
        index: a `HammingIndex` on a database backend (e.g. `"milvus"`), new or partly filled.
        encode_fn: callable, list of paths → ±1 (or 0/1) codes [n, bits].
        paths: the database image files, in id order.
        model: the encoder's fingerprint; checked against the one the index records
            (ModelMismatchError), since codes of two models must not share an index.
        batch_size: images encoded and inserted per step, the granularity of a resume.
        progress: show a progress bar (images) on stderr.

    Returns the number of images inserted by this call.
    """
    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise ValueError("no images to index")
    if not index.holds_rows:
        raise ValueError(f"backend {index.backend!r} keeps no rows: use build_index and save the index")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    recorded = index.metadata.get("model")
    if recorded is not None or model is not None:
        check_model(recorded, model or {})
    if len(index) > len(paths):
        raise ValueError(f"the index holds {len(index)} images, more than the {len(paths)} listed")
    already, inserted = len(index), 0
    if already:
        logger.info("resuming: %d of %d images are already indexed", already, len(paths))
    with tqdm.tqdm(total=len(paths), unit="img", desc="indexing", disable=not progress) as bar:
        for start in range(0, len(paths), batch_size):
            ids = np.arange(start, min(start + batch_size, len(paths)), dtype=np.int64)
            present = index.contains(ids)
            _check_same_files(index, ids[present], paths)
            todo = ids[~present]
            if todo.size:
                batch = [paths[i] for i in todo]
                index.add(encode_fn(batch), ids=todo, paths=batch)
                inserted += todo.size
            bar.update(ids.size)
    logger.info("inserted %d images; the index holds %d", inserted, len(index))
    return inserted


def _check_same_files(index, ids, paths):
    for i, stored in zip(ids, index.paths_of(ids), strict=True):
        if stored != paths[i]:
            raise ValueError(
                f"image id {i} is {stored} in the index but {paths[i]} in the listing: the images "
                f"changed since the index was started; build into a new collection"
            )
