"""Exact Hamming search with faiss's `IndexBinaryFlat` (the default backend)."""

import faiss
import numpy as np

from dmrh_tf.index.backends.search_backend import SearchBackend


class FaissFlatBackend(SearchBackend):
    """Brute force in faiss (popcount kernels, multi-threaded): exact, O(n) per query.

    Tie order: `IndexBinaryFlat` scans codes in position order and only replaces its heap top on a
    strictly smaller distance, so equal distances keep the earliest positions, in order. Verified
    against the NumPy backend (faiss-cpu 1.15.1, heap and counting-sort paths, 1 and 2 threads, up
    to k = n; see tests/test_index_backends.py); `HammingIndex` also re-sorts the k results by
    (distance, position), which is cheap and keeps the order stable whatever faiss returns.
    Memory: ⌈bits/8⌉ bytes per code.
    """

    name = "faiss"
    exact = True

    def __init__(self, bits):
        super().__init__(bits)
        self._index = faiss.IndexBinaryFlat(self.padded_bits(bits))

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

    @classmethod
    def from_bytes(cls, bits, params, blob):
        backend = cls(bits, **params)
        backend._index = _read_faiss(blob, faiss.IndexBinaryFlat, backend.padded_bits(bits))
        return backend


def _read_faiss(blob, expected_type, dims):
    """Deserialize a faiss binary index and check its type and dimension."""
    index = faiss.deserialize_index_binary(np.frombuffer(blob, np.uint8))
    if not isinstance(index, expected_type) or index.d != dims:
        raise ValueError(
            f"stored faiss index is {type(index).__name__} with d={index.d}, expected "
            f"{expected_type.__name__} with d={dims}"
        )
    return index
