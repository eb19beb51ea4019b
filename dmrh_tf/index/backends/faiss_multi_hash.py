"""Sublinear Hamming search by multi-index hashing, faiss's `IndexBinaryMultiHash`."""

import faiss

from dmrh_tf.index.backends.faiss_backend import FaissBackend, read_faiss


class FaissMultiHashBackend(FaissBackend):
    """Multi-index hashing (Norouzi, Punjani & Fleet, CVPR 2012): approximate k-NN.

    The code is cut into `nhash` substrings of `b` bits, each the key of a hash table. A query
    probes, in every table, the buckets within `nflip` bit flips of its substring, then ranks the
    union of those candidates by their exact Hamming distance. Every code within Hamming radius
    `nhash·(nflip+1) − 1` of the query is found (pigeonhole), so results are exact up to that
    radius; beyond it some neighbours are missed, and a query may get fewer than k results.
    Probes per table: Σ_{i≤nflip} C(b, i), so cost grows fast with `nflip` and `b`.

    Defaults: `nhash = max(1, d // 16)` tables of `b = d // nhash` bits (4 × 16 for 64-bit codes,
    where d is the code length padded to whole bytes), `nflip = 1`. No training; `add` is
    incremental. Memory: the codes (⌈bits/8⌉ bytes each) plus `nhash` hash-table entries per code.
    Recall depends strongly on the data: see benchmarks/index_search.py and docs/index.md.
    """

    name = "faiss_mih"
    exact = False

    def __init__(self, bits, nhash=None, b=None, nflip=1):
        super().__init__(bits)
        d = self.padded_bits(bits)
        if nhash is None:
            nhash = max(1, d // 16)
        if b is None:
            b = d // nhash
        if not 1 <= nhash * b <= d or b < 1 or b > 64:
            raise ValueError(f"faiss_mih needs nhash*b <= {d} and 1 <= b <= 64, got {nhash}x{b}")
        self.nhash, self.b = int(nhash), int(b)
        self._index = faiss.IndexBinaryMultiHash(d, self.nhash, self.b)
        self.set_search_params(nflip=nflip)

    @property
    def params(self):
        return {"nhash": self.nhash, "b": self.b, "nflip": self.nflip}

    def set_search_params(self, nflip=None):
        """Change the number of bit flips probed per table (0 = exact-key lookup only)."""
        if nflip is not None:
            if isinstance(nflip, bool) or not isinstance(nflip, int) or not 0 <= nflip <= self.b:
                raise ValueError(f"nflip must be an integer in 0..{self.b}, got {nflip!r}")
            self.nflip = nflip
            self._index.nflip = nflip

    @classmethod
    def from_bytes(cls, bits, params, blob):
        backend = cls(bits, **params)
        index = read_faiss(blob, faiss.IndexBinaryMultiHash, backend.padded_bits(bits))
        if (index.nhash, index.b) != (backend.nhash, backend.b):
            raise ValueError(f"stored multi-hash index is {index.nhash}x{index.b}")
        backend._index = index
        backend.set_search_params(nflip=backend.nflip)
        return backend
