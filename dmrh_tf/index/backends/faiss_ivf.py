"""Sublinear Hamming search with an inverted file, faiss's `IndexBinaryIVF`."""

import math

import faiss
import numpy as np

from dmrh_tf.index.backends.faiss_backend import read_faiss
from dmrh_tf.index.backends.search_backend import SearchBackend

# faiss's k-means warns below 39 training points per centroid; auto `nlist` stays under that.
_MIN_POINTS_PER_LIST = 39


class FaissIVFBackend(SearchBackend):
    """Inverted file over binary k-means centroids: approximate k-NN.

    The database is partitioned into `nlist` lists by nearest binary centroid (k-means on the
    codes); a query scans the `nprobe` lists whose centroids are nearest to it, with exact Hamming
    distances. `nprobe = nlist` scans everything. Works well when codes are clustered (real hash
    codes of images are), poorly on uniform random codes.

    Training needs data, so codes added before the first search (or save) are buffered and the
    index is trained on all of them at that point; later `add` calls go straight into the trained
    lists. `nlist=None` picks round(√n) at training time, capped so each list has ≥ 39 codes.
    Memory: ⌈bits/8⌉ bytes + an 8-byte id per code, plus `nlist` centroids.
    """

    name = "faiss_ivf"
    exact = False

    def __init__(self, bits, nlist=None, nprobe=32):
        super().__init__(bits)
        if nlist is not None and (isinstance(nlist, bool) or not isinstance(nlist, int) or nlist < 1):
            raise ValueError(f"nlist must be a positive integer or None, got {nlist!r}")
        self.nlist = nlist
        self._index = None
        self._pending = []
        self.set_search_params(nprobe=nprobe)

    @property
    def ntotal(self):
        return sum(p.shape[0] for p in self._pending) + (self._index.ntotal if self._index else 0)

    @property
    def params(self):
        return {"nlist": self.nlist, "nprobe": self.nprobe}

    def set_search_params(self, nprobe=None):
        """Change the number of inverted lists scanned per query."""
        if nprobe is not None:
            if isinstance(nprobe, bool) or not isinstance(nprobe, int) or nprobe < 1:
                raise ValueError(f"nprobe must be a positive integer, got {nprobe!r}")
            self.nprobe = nprobe
            if self._index is not None:
                self._index.nprobe = nprobe

    def add(self, packed):
        if self._index is None:
            self._pending.append(packed)
        else:
            self._index.add(packed)

    def search(self, packed, k):
        self._build()
        if self._index is None or packed.shape[0] == 0:
            return self._empty_result(packed.shape[0], k)
        return self._index.search(packed, k)

    def to_bytes(self):
        self._build()
        if self._index is None:
            return b""
        return faiss.serialize_index_binary(self._index).tobytes()

    @classmethod
    def from_bytes(cls, bits, params, blob):
        backend = cls(bits, **params)
        if blob:
            index = read_faiss(blob, faiss.IndexBinaryIVF, backend.padded_bits(bits))
            backend._index = index
            backend.nlist = index.nlist
            backend.set_search_params(nprobe=backend.nprobe)
        return backend

    def _build(self):
        """Train on the buffered codes and add them (no-op once trained or while empty)."""
        if self._index is not None or not self._pending:
            return
        codes = np.concatenate(self._pending)
        n = codes.shape[0]
        nlist = self.nlist or max(1, min(round(math.sqrt(n)), n // _MIN_POINTS_PER_LIST))
        if nlist > n:
            raise ValueError(f"faiss_ivf with nlist={nlist} needs at least {nlist} codes, has {n}")
        d = self.padded_bits(self.bits)
        quantizer = faiss.IndexBinaryFlat(d)
        index = faiss.IndexBinaryIVF(quantizer, d, nlist)  # keeps a reference to `quantizer`
        if self.nlist is None:
            # Auto nlist already respects the minimum only for n ≥ 39; avoid faiss's stderr warning.
            index.cp.min_points_per_centroid = 1
        index.train(codes)
        index.add(codes)
        index.nprobe = self.nprobe
        self._index, self._pending, self.nlist = index, [], nlist
