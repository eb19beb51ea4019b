"""The interface every Hamming search backend implements."""

import abc

import numpy as np


class SearchBackend(abc.ABC):
    """Stores packed binary codes and finds the k nearest in Hamming distance.

    Backends work on positions: the i-th code ever added has position i. `HammingIndex` maps
    positions to user ids, validates inputs and orders results, so a backend only has to:

    - `add(packed)`: append uint8 codes [n, ⌈bits/8⌉] (already validated).
    - `search(packed, k)`: return `(distances, positions)`, int32 and int64 arrays [nq, k]; a slot
      with no result has position −1 (its distance is ignored). Exact backends must return, for
      every query, the k smallest distances with ties taken in position order.
    - `to_bytes()` / `from_bytes(bits, params, blob)`: serialise the stored codes and structure.
    - `params`: the JSON-able constructor keyword arguments, saved with the index.

    A *database* backend (`holds_rows = True`, e.g. Milvus) keeps whole rows itself (code, user id,
    optional image path) and persists them; the index file then only points at it. `HammingIndex`
    hands it the ids and stores neither ids nor codes, and the backend also implements:

    - `open(metadata)`: create the store with `metadata` if it does not exist; return the stored
      metadata (called once, right after construction).
    - `add(packed, ids, paths=None)` instead of `add(packed)`.
    - `search(packed, k)` returning `(distances, positions, ids)`.
    - `contains(ids)`: bool mask of the ids already stored; `all_ids()`: the ids by position;
      `paths_of(ids)`: the stored image path of each id.
    - `stored_bits(**params)` (a classmethod): the code length of an existing store.
    """

    #: Name used in `HammingIndex(bits, backend=name)` and in saved index files.
    name = ""
    #: True when search results equal brute force (ties in position order).
    exact = True
    #: True for a database backend that stores ids, codes and paths itself (see above).
    holds_rows = False

    def __init__(self, bits):
        self.bits = bits

    @property
    @abc.abstractmethod
    def ntotal(self):
        """Number of codes stored."""

    @property
    def params(self):
        """Constructor keyword arguments (besides `bits`), JSON-serialisable."""
        return {}

    def set_search_params(self, **params):
        """Change search-time parameters (e.g. `nprobe`); exact backends have none."""
        if params:
            raise ValueError(f"backend {self.name!r} has no search parameters, got {sorted(params)}")

    @abc.abstractmethod
    def add(self, packed):
        """Append packed codes uint8 [n, ⌈bits/8⌉]."""

    @abc.abstractmethod
    def search(self, packed, k):
        """k nearest stored codes of each packed query: (int32 distances, int64 positions)."""

    @abc.abstractmethod
    def to_bytes(self):
        """The stored codes and search structure as bytes."""

    @classmethod
    @abc.abstractmethod
    def from_bytes(cls, bits, params, blob):
        """Rebuild a backend written by `to_bytes`."""

    @staticmethod
    def padded_bits(bits):
        """Code length in whole bytes, as faiss needs it (zero padding bits added by packing)."""
        return 8 * ((bits + 7) // 8)

    @staticmethod
    def _empty_result(nq, k):
        return np.zeros((nq, k), np.int32), np.full((nq, k), -1, np.int64)
