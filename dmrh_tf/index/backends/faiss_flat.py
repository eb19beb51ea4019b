"""Exact Hamming search with faiss's `IndexBinaryFlat` (the default backend)."""

import faiss

from dmrh_tf.index.backends.faiss_backend import FaissBackend, read_faiss


class FaissFlatBackend(FaissBackend):
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

    @classmethod
    def from_bytes(cls, bits, params, blob):
        backend = cls(bits, **params)
        backend._index = read_faiss(blob, faiss.IndexBinaryFlat, backend.padded_bits(bits))
        return backend
