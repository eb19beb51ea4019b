"""Exact brute-force Hamming search in NumPy: the reference the faiss backends are tested against."""

import io

import numpy as np

from dmrh_tf.index.backends.search_backend import SearchBackend

# Bytes of XOR results held at once per query chunk; bounds memory for large databases.
_CHUNK_BYTES = 64 * 2**20


class NumPyFlatBackend(SearchBackend):
    """Exact search: XOR + popcount against every stored code, ties in position order.

    Codes are stored as uint64 words (zero-padded, which leaves distances unchanged) so each
    distance costs ⌈bits/64⌉ XOR + `np.bitwise_count`. Memory: ⌈bits/64⌉·8 bytes per code.
    """

    name = "numpy"
    exact = True

    def __init__(self, bits):
        super().__init__(bits)
        self._words = (bits + 63) // 64
        self._chunks = []
        self._codes = np.zeros((0, self._words), np.uint64)

    @property
    def ntotal(self):
        return self._all_codes().shape[0]

    def add(self, packed):
        self._chunks.append(self._to_words(packed))

    def search(self, packed, k):
        db = self._all_codes()
        queries = self._to_words(packed)
        nq, n = queries.shape[0], db.shape[0]
        distances, positions = self._empty_result(nq, k)
        if n == 0 or nq == 0:
            return distances, positions
        kk = min(k, n)
        rows = max(1, _CHUNK_BYTES // (8 * n * self._words))
        for start in range(0, nq, rows):
            block = queries[start : start + rows]
            dist = np.bitwise_count(block[:, None, :] ^ db[None, :, :]).sum(axis=2, dtype=np.int32)
            for i, row in enumerate(dist):
                order = _stable_top_k(row, kk)
                distances[start + i, :kk] = row[order]
                positions[start + i, :kk] = order
        return distances, positions

    def to_bytes(self):
        buffer = io.BytesIO()
        np.save(buffer, self._all_codes(), allow_pickle=False)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, bits, params, blob):
        backend = cls(bits, **params)
        codes = np.load(io.BytesIO(blob), allow_pickle=False)
        if codes.dtype != np.uint64 or codes.ndim != 2 or codes.shape[1] != backend._words:
            raise ValueError(f"stored NumPy codes have shape {codes.shape}, dtype {codes.dtype}")
        backend._codes = codes
        return backend

    def _all_codes(self):
        if self._chunks:
            self._codes = np.concatenate([self._codes, *self._chunks])
            self._chunks = []
        return self._codes

    def _to_words(self, packed):
        n, nbytes = packed.shape
        padded = np.zeros((n, 8 * self._words), np.uint8)
        padded[:, :nbytes] = packed
        return padded.view(np.uint64)


def _stable_top_k(row, k):
    """Indices of the k smallest values of `row`, ties by index, in (value, index) order.

    Everything below the k-th smallest value is kept, then the boundary value's earliest indices;
    a stable sort of those candidates gives the order. O(n) apart from the k-sized sort.
    """
    if k < row.shape[0]:
        kth = np.partition(row, k - 1)[k - 1]
        candidates = np.flatnonzero(row <= kth)
    else:
        candidates = np.arange(row.shape[0])
    order = np.argsort(row[candidates], kind="stable")[:k]
    return candidates[order]
