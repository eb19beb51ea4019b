"""What the faiss-backed searches share: a binary index in `_index`, added to and searched as is."""

import faiss
import numpy as np

from dmrh_tf.index.backends.search_backend import SearchBackend


class FaissBackend(SearchBackend):
    """A `SearchBackend` over a faiss binary index held in `self._index` (set by the subclass)."""

    @property
    def ntotal(self):
        return self._index.ntotal

    def add(self, packed):
        self._index.add(packed)

    def search(self, packed, k):
        if self._index.ntotal == 0 or packed.shape[0] == 0:
            return self._empty_result(packed.shape[0], k)
        return self._index.search(packed, k)

    def to_bytes(self):
        return faiss.serialize_index_binary(self._index).tobytes()


def read_faiss(blob, expected_type, dims):
    """Deserialize a faiss binary index and check its type and dimension."""
    index = faiss.deserialize_index_binary(np.frombuffer(blob, np.uint8))
    if not isinstance(index, expected_type) or index.d != dims:
        raise ValueError(
            f"stored faiss index is {type(index).__name__} with d={index.d}, expected "
            f"{expected_type.__name__} with d={dims}"
        )
    return index
