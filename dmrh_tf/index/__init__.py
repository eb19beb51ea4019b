"""Hamming search over binary codes: `HammingIndex` with exact and sublinear faiss backends.

`python -m dmrh_tf.index build|query` builds an index of image files with a model and queries it.
"""

from dmrh_tf.index.backends import BACKENDS
from dmrh_tf.index.codes import pack_codes, unpack_codes
from dmrh_tf.index.hamming_index import MISSING, HammingIndex

__all__ = ["BACKENDS", "MISSING", "HammingIndex", "pack_codes", "unpack_codes"]
