"""Hamming search over binary codes: `HammingIndex` with exact and sublinear faiss backends.

`python -m dmrh_tf.index build|query` indexes image files with a trained model and searches them
(`build_index` / `query_index` do the same with any encoder). See docs/index.md.
"""

from dmrh_tf.index.backends import BACKENDS
from dmrh_tf.index.codes import pack_codes, unpack_codes
from dmrh_tf.index.hamming_index import MISSING, HammingIndex
from dmrh_tf.index.image_encoder import ImageEncoder
from dmrh_tf.index.image_files import list_images
from dmrh_tf.index.image_index import Neighbour, build_index, query_index
from dmrh_tf.index.model_fingerprint import ModelMismatchError, check_model, model_fingerprint

__all__ = [
    "BACKENDS",
    "MISSING",
    "HammingIndex",
    "ImageEncoder",
    "ModelMismatchError",
    "Neighbour",
    "build_index",
    "check_model",
    "list_images",
    "model_fingerprint",
    "pack_codes",
    "query_index",
    "unpack_codes",
]
