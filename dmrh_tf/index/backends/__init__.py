"""Hamming search backends behind one interface, selected by name."""

from dmrh_tf.index.backends.faiss_flat import FaissFlatBackend
from dmrh_tf.index.backends.faiss_ivf import FaissIVFBackend
from dmrh_tf.index.backends.faiss_multi_hash import FaissMultiHashBackend
from dmrh_tf.index.backends.milvus_backend import MilvusBackend
from dmrh_tf.index.backends.numpy_flat import NumPyFlatBackend
from dmrh_tf.index.backends.search_backend import SearchBackend

#: Backend classes by the name `HammingIndex(bits, backend=...)` takes.
BACKENDS = {
    cls.name: cls
    for cls in (FaissFlatBackend, FaissIVFBackend, FaissMultiHashBackend, MilvusBackend, NumPyFlatBackend)
}


def get_backend(name):
    """The backend class registered as `name`; ValueError listing the choices otherwise."""
    try:
        return BACKENDS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown backend {name!r}; choose one of {sorted(BACKENDS)}") from None


__all__ = [
    "BACKENDS",
    "FaissFlatBackend",
    "FaissIVFBackend",
    "FaissMultiHashBackend",
    "MilvusBackend",
    "NumPyFlatBackend",
    "SearchBackend",
    "get_backend",
]
