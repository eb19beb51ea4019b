"""Hamming search in a Milvus collection: Milvus Lite in a local file, or a Standalone / cluster server."""

import logging
import os

import numpy as np

from dmrh_tf.index.backends import milvus_collection
from dmrh_tf.index.backends.milvus_collection import ID, PATH, POSITION, MilvusCollection, is_local
from dmrh_tf.index.backends.search_backend import SearchBackend

logger = logging.getLogger(__name__)

INDEX_TYPES = ("BIN_FLAT", "BIN_IVF_FLAT")
# Defaults of BIN_IVF_FLAT: lists built per segment, and lists scanned per query (as faiss_ivf's).
DEFAULT_NLIST = 1024
DEFAULT_NPROBE = 32
# BIN_FLAT over-fetch: the first search asks for max(2k, k + _SLACK) hits (see `MilvusBackend`).
_SLACK = 16


class MilvusBackend(SearchBackend):
    """Codes, user ids and image paths in a Milvus collection, searched in HAMMING distance.

    A database backend (`holds_rows`): the collection is the index. `HammingIndex(bits, "milvus",
    uri=…, collection=…)` creates the collection or reconnects to it, and a saved index file only
    records the URI and the collection. `uri` is a local `*.db` file (Milvus Lite, in-process; the
    tests' setting) or `http://host:19530` (Milvus Standalone or a cluster).

    `index_type`:
    - `"BIN_FLAT"` (default): exact brute force. Milvus orders tied distances arbitrarily and keeps
      an arbitrary subset of the codes tied at the k-th distance (milvus-io/milvus#31412), so the
      search over-fetches max(2k, k + 16) hits. A row is complete when the last hit is strictly
      farther than the k-th (every code nearer than the last is then among the hits) or when every
      code was fetched. Otherwise the k-th distance d is tied past the window: a range search for
      distance exactly d (`range_filter = d`, `radius = d + 1`) fetches the tied codes, filtered to
      `position <= P` with P shrinking to the (needed)-th smallest position seen until one answer
      comes back under Milvus's 16,384-hit cap, and the smallest positions are kept. The result
      then equals the NumPy oracle's, ties included. k is capped at 16,383.
    - `"BIN_IVF_FLAT"`: approximate inverted file (`nlist` lists per segment, `nprobe` scanned;
      defaults 1024 and 32); results are re-sorted by (distance, position) but not tie-completed.
      Milvus Lite 2.5 builds only BIN_FLAT, so this needs a server.

    Positions are assigned here, one past the highest stored, so one writer at a time per
    collection (as for an index file). Requests run at consistency level Strong: a search right
    after `add` sees every added code.
    """

    name = "milvus"
    holds_rows = True

    def __init__(self, bits, uri, collection, index_type="BIN_FLAT", nlist=None, nprobe=None):
        super().__init__(bits)
        if index_type not in INDEX_TYPES:
            raise ValueError(f"index_type must be one of {INDEX_TYPES}, got {index_type!r}")
        if not isinstance(uri, str) or not uri or not isinstance(collection, str) or not collection:
            raise ValueError(f"milvus needs a uri and a collection name, got {uri!r} and {collection!r}")
        if index_type == "BIN_FLAT" and (nlist, nprobe) != (None, None):
            raise ValueError("nlist and nprobe are BIN_IVF_FLAT parameters; BIN_FLAT (exact) takes none")
        if index_type == "BIN_IVF_FLAT" and is_local(uri):
            raise ValueError(
                "Milvus Lite (a local .db URI) builds only BIN_FLAT indexes: use BIN_FLAT, or a Milvus "
                "server (http://host:19530) for BIN_IVF_FLAT"
            )
        self.uri = os.path.abspath(uri) if is_local(uri) else uri  # an index file may move
        self.collection = collection
        self.index_type = index_type
        self.exact = index_type == "BIN_FLAT"
        if index_type == "BIN_IVF_FLAT":
            self.nlist = _positive("nlist", DEFAULT_NLIST if nlist is None else nlist)
            self.set_search_params(nprobe=DEFAULT_NPROBE if nprobe is None else nprobe)
        self._collection = MilvusCollection(self.uri, collection)
        self._count = self._next = 0

    @property
    def params(self):
        params = {"uri": self.uri, "collection": self.collection, "index_type": self.index_type}
        if self.index_type == "BIN_IVF_FLAT":
            params.update(nlist=self.nlist, nprobe=self.nprobe)
        return params

    @property
    def ntotal(self):
        return self._count

    def set_search_params(self, nprobe=None):
        """Change the number of inverted lists scanned per query (BIN_IVF_FLAT only)."""
        if nprobe is not None:
            if self.index_type != "BIN_IVF_FLAT":
                raise ValueError("nprobe is a BIN_IVF_FLAT parameter; BIN_FLAT (exact) has none")
            self.nprobe = _positive("nprobe", nprobe)

    @classmethod
    def stored_bits(cls, uri, collection, **_):
        """The code length of the existing collection (ValueError if there is none)."""
        uri = os.path.abspath(uri) if is_local(uri) else uri
        stored = MilvusCollection(uri, collection)
        if not stored.exists():
            raise ValueError(f"there is no Milvus collection {collection!r} at {uri}")
        return stored.description()["bits"]

    def open(self, metadata):
        """Create the collection (with `metadata`) or check the existing one; returns its metadata."""
        dim = self.padded_bits(self.bits)
        if not self._collection.exists():
            index_params = {"nlist": self.nlist} if self.index_type == "BIN_IVF_FLAT" else {}
            self._collection.create(self.bits, dim, self.index_type, index_params, metadata)
            logger.info("created Milvus collection %r at %s (%s)", self.collection, self.uri, self.index_type)
        stored = self._collection.description()
        self._check_settings(stored, dim)
        self._collection.load()
        self._count = self._collection.count()
        self._next = self._collection.next_position(self._count)
        return stored["metadata"]

    def add(self, packed, ids, paths=None):
        n = packed.shape[0]
        paths = [""] * n if paths is None else paths
        positions = np.arange(self._next, self._next + n, dtype=np.int64)
        self._collection.insert(positions, ids, paths, packed)
        self._count += n
        self._next += n

    def contains(self, ids):
        found = [row[ID] for row in self._collection.rows_with_ids(ids, [ID])]
        return np.isin(ids, np.asarray(found, np.int64))

    def all_ids(self):
        rows = self._collection.rows_by_position(self._next, [ID])
        return np.array([row[ID] for row in rows], np.int64)

    def paths_of(self, ids):
        rows = self._collection.rows_with_ids(np.unique(ids), [ID, PATH])
        stored = {row[ID]: row[PATH] for row in rows}
        missing = [int(i) for i in ids if int(i) not in stored]
        if missing:
            raise ValueError(f"id {missing[0]} is not in Milvus collection {self.collection!r}")
        return [stored[int(i)] for i in ids]

    def search(self, packed, k):
        nq = packed.shape[0]
        distances, positions = self._empty_result(nq, k)
        ids = np.full((nq, k), -1, np.int64)
        if nq == 0 or self._count == 0:
            return distances, positions, ids
        if k >= milvus_collection.MAX_RESULTS:
            cap = milvus_collection.MAX_RESULTS - 1
            raise ValueError(f"Milvus returns at most {cap} neighbours per query, asked for {k}")
        if self.exact:
            limit = min(milvus_collection.MAX_RESULTS, self._count, max(2 * k, k + _SLACK))
            hits = self._collection.search(packed, limit, {})
        else:
            limit = k
            hits = self._collection.search(packed, limit, {"nprobe": self.nprobe})
        for row, (hit_d, hit_p, hit_i) in enumerate(hits):
            if self.exact and len(hit_d) >= k:
                query = packed[row : row + 1]
                hit_d, hit_p, hit_i = self._complete_ties(query, hit_d, hit_p, hit_i, k, limit)
            order = np.lexsort((hit_p, hit_d))[:k]
            m = order.size
            distances[row, :m], positions[row, :m], ids[row, :m] = hit_d[order], hit_p[order], hit_i[order]
        return distances, positions, ids

    def to_bytes(self):
        """Nothing: the rows live in Milvus. Flushes them, so a saved index is on Milvus's storage."""
        self._collection.flush()
        return b""

    @classmethod
    def from_bytes(cls, bits, params, blob):
        backend = cls(bits, **params)
        if not backend._collection.exists():
            raise ValueError(
                f"the index's Milvus collection {backend.collection!r} is not at {backend.uri} (any more)"
            )
        return backend

    def _complete_ties(self, query, distances, positions, ids, k, limit):
        """The hits of one query with the codes tied at the k-th distance made exact (see class doc)."""
        kth = np.sort(distances)[k - 1]
        if len(distances) < limit or limit == self._count or distances.max() > kth:
            return distances, positions, ids
        nearer = distances < kth  # the hits hold every code nearer than the last hit
        need = k - int(nearer.sum())
        cap = milvus_collection.MAX_RESULTS
        range_params = {"radius": int(kth) + 1, "range_filter": int(kth)}
        filter_ = ""
        while True:
            ((tied_d, tied_p, tied_i),) = self._collection.search(query, cap, range_params, filter_)
            order = np.argsort(tied_p)
            if len(tied_p) < cap:
                break
            # `need` < cap, so the bound drops strictly each round.
            filter_ = f"{POSITION} <= {tied_p[order[need - 1]]}"
        keep = order[:need]
        return (
            np.concatenate([distances[nearer], tied_d[keep]]),
            np.concatenate([positions[nearer], tied_p[keep]]),
            np.concatenate([ids[nearer], tied_i[keep]]),
        )

    def _check_settings(self, stored, dim):
        """Refuse an existing collection of another code length or index (nprobe is free)."""
        fields = self._collection.fields()
        index_type, metric, index_params = self._collection.index_settings()
        if stored["bits"] != self.bits or int(fields["code"].get("dim", -1)) != dim:
            raise ValueError(
                f"Milvus collection {self.collection!r} holds {stored['bits']}-bit codes, not {self.bits}-bit"
            )
        if metric != "HAMMING" or index_type != self.index_type:
            raise ValueError(
                f"Milvus collection {self.collection!r} has a {index_type}/{metric} index, "
                f"not {self.index_type}/HAMMING"
            )
        if index_type == "BIN_IVF_FLAT" and int(index_params.get("nlist", self.nlist)) != self.nlist:
            raise ValueError(
                f"Milvus collection {self.collection!r} was built with nlist={index_params['nlist']}"
            )


def _positive(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value
