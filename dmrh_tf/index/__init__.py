"""Hamming search over binary codes: `HammingIndex` with exact and sublinear faiss backends, and a
Milvus backend for collections past one machine.

`python -m dmrh_tf.index build|query` indexes image files with a trained model and searches them
(`build_index` / `query_index` do the same with any encoder; `ingest_images` fills a Milvus
collection resumably; `ServingEncoder` takes the codes from a served model). See docs/index.md.
"""

from dmrh_tf.index.backends import BACKENDS
from dmrh_tf.index.codes import pack_codes, unpack_codes
from dmrh_tf.index.hamming_index import MISSING, HammingIndex
from dmrh_tf.index.image_encoder import ImageEncoder
from dmrh_tf.index.image_files import list_images
from dmrh_tf.index.image_index import Neighbour, build_index, query_index
from dmrh_tf.index.image_ingest import ingest_images
from dmrh_tf.index.model_fingerprint import ModelMismatchError, check_model, model_fingerprint
from dmrh_tf.index.serving_encoder import ServingEncoder

__all__ = [
    "BACKENDS",
    "MISSING",
    "HammingIndex",
    "ImageEncoder",
    "ModelMismatchError",
    "Neighbour",
    "ServingEncoder",
    "build_index",
    "check_model",
    "ingest_images",
    "list_images",
    "model_fingerprint",
    "pack_codes",
    "query_index",
    "unpack_codes",
]
