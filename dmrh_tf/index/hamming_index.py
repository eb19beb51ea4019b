"""`HammingIndex`: k-nearest-neighbour search over binary codes with user ids, saved to one file
(or held by a database backend, Milvus, which the file then points at)."""

import inspect
import io
import logging

import numpy as np

from dmrh_tf.index.backends import get_backend
from dmrh_tf.index.codes import check_bits, pack_codes
from dmrh_tf.index.index_file import read_index_file, write_index_file

logger = logging.getLogger(__name__)

#: Distance (and id) of a result slot an approximate backend could not fill.
MISSING = -1


class HammingIndex:
    """k-NN search in Hamming distance over `bits`-bit codes, with int64 user ids.

    Backends (same calls, same result order; see docs/index.md):
    - `"faiss"` (default): exact brute force, faiss `IndexBinaryFlat`.
    - `"numpy"`: exact brute force in NumPy; the reference the others are tested against.
    - `"faiss_ivf"`: approximate, sublinear; inverted file over binary k-means (`nlist`, `nprobe`).
    - `"faiss_mih"`: approximate, sublinear; multi-index hashing (`nhash`, `b`, `nflip`).
    - `"milvus"`: a Milvus collection (`uri`, `collection`, `index_type` "BIN_FLAT" exact or
      "BIN_IVF_FLAT" approximate, `nlist`, `nprobe`): a database backend, which keeps the codes,
      ids and image paths itself; constructing the index creates the collection or reconnects.

    Codes are ±1, 0/1 or packed uint8 (see `dmrh_tf.index.codes.pack_codes`); any `bits` ≥ 1 works
    (faiss gets codes zero-padded to whole bytes). Results of every query are sorted by
    (distance, insertion position): exact backends return the same neighbours as a stable sort of
    all distances, so ties go to the codes added first, reproducibly.

    Args:
        bits: code length K.
        backend: one of the names above.
        metadata: a JSON-serialisable dict saved with the index (e.g. the model it was built with).
            A database backend writes it when it creates its store; an existing store keeps the
            metadata it was created with (`index.metadata` is then that).
        **backend_params: passed to the backend (e.g. `nprobe=64` for `"faiss_ivf"`).
    """

    def __init__(self, bits, backend="faiss", *, metadata=None, **backend_params):
        self.bits = check_bits(bits)
        backend_cls = get_backend(backend)
        accepted = list(inspect.signature(backend_cls).parameters)[1:]  # after `bits`
        unknown = sorted(set(backend_params) - set(accepted))
        if unknown:
            raise ValueError(f"backend {backend!r} takes parameters {accepted}, got {unknown}")
        self._backend = backend_cls(self.bits, **backend_params)
        self.metadata = dict(metadata or {})
        self._set_ids(np.zeros(0, np.int64))
        if self._backend.holds_rows:
            stored = self._backend.open(self.metadata)
            if metadata is not None and stored != self.metadata:
                logger.warning("%r keeps the metadata it was created with, not the one given", self)
            self.metadata = stored

    @classmethod
    def connect(cls, backend, **backend_params):
        """Reopen an existing index of a database backend (e.g. `"milvus"`, `uri=`, `collection=`),
        with the code length and metadata it stores."""
        backend_cls = get_backend(backend)
        if not backend_cls.holds_rows:
            raise ValueError(f"backend {backend!r} keeps its codes in an index file: use HammingIndex.load")
        return cls(backend_cls.stored_bits(**backend_params), backend, **backend_params)

    @property
    def backend(self):
        """The backend's name."""
        return self._backend.name

    @property
    def backend_params(self):
        """The backend's parameters (as saved), e.g. `{"nlist": 1000, "nprobe": 32}`."""
        return dict(self._backend.params)

    @property
    def holds_rows(self):
        """True when a database backend holds the rows (codes, ids, image paths) itself."""
        return self._backend.holds_rows

    @property
    def exact(self):
        """True when results equal brute-force search (False for the sublinear backends)."""
        return self._backend.exact

    @property
    def ids(self):
        """The user ids in insertion order (a copy; read from the database for a database backend)."""
        if self._backend.holds_rows:
            return self._backend.all_ids()
        return self._all_ids().copy()

    def __len__(self):
        return self._backend.ntotal if self._backend.holds_rows else self._count

    def __repr__(self):
        return f"HammingIndex(bits={self.bits}, backend={self.backend!r}, size={len(self)})"

    def set_search_params(self, **params):
        """Change search-time parameters of an approximate backend (`nprobe`, `nflip`)."""
        self._backend.set_search_params(**params)

    def add(self, codes, ids=None, *, paths=None):
        """Add codes [n, bits] (±1, 0/1) or packed uint8 [n, ⌈bits/8⌉] with optional int64 ids.

        `ids` default to insertion positions len(self), …, len(self)+n−1. Ids must be integers
        that fit int64 and be unique across the whole index. `paths` (one string per code, the
        image files) are stored by a database backend only; an index file keeps its id → path
        table in `metadata["paths"]`.
        """
        packed = pack_codes(codes, self.bits)
        n = packed.shape[0]
        start = len(self)
        new_ids = np.arange(start, start + n, dtype=np.int64) if ids is None else _check_ids(ids, n)
        if n == 0:
            return
        if ids is not None:
            ordered = np.sort(new_ids)
            if (ordered[1:] == ordered[:-1]).any():
                raise ValueError("ids must be unique; the new ids contain duplicates")
        if self._backend.holds_rows:
            self._add_rows(packed, new_ids, paths)
            return
        if paths is not None:
            raise ValueError(
                f"backend {self.backend!r} stores no paths: keep the id → path table in metadata['paths']"
            )
        # Increasing ids (the default) cannot clash: skip the O(n log n) membership test.
        if len(self) and new_ids.min() <= self._id_max:
            clash = np.isin(new_ids, self._all_ids())
            if clash.any():
                raise ValueError(f"id {new_ids[clash][0]} is already in the index; ids must be unique")
        self._backend.add(packed)
        self._id_chunks.append(new_ids)
        self._count += n
        self._id_max = max(self._id_max, int(new_ids.max()))

    def search(self, query_codes, k):
        """The k nearest codes of each query: `(distances, ids)`, int32 and int64 [nq, m].

        m = min(k, len(self)): a smaller index gives fewer columns. Each row is sorted by
        (Hamming distance, insertion position). Exact backends fill every slot. The approximate
        backends may find fewer than m codes for a query; the unfilled slots, at the end of the
        row, hold distance `MISSING` (−1) and id −1. Test `distances >= 0`, not the id, since −1
        may be a valid user id.

        Raises ValueError for k < 1, an empty index, or queries of the wrong code length.
        """
        check_k(k)
        packed = pack_codes(query_codes, self.bits)
        if len(self) == 0:
            raise ValueError("the index is empty: add codes before searching")
        m = min(int(k), len(self))
        distances, positions, *row_ids = self._backend.search(packed, m)
        distances = np.asarray(distances, np.int32)
        positions = np.asarray(positions, np.int64)
        missing = positions < 0
        top = np.int64(np.iinfo(np.int64).max)
        # Sort each row by (distance, position), missing slots last. Exact backends already return
        # this order; this makes it hold whatever order a backend's heap leaves ties in.
        order = np.lexsort(
            (np.where(missing, top, positions), np.where(missing, top, distances.astype(np.int64))),
            axis=-1,
        )
        distances = np.take_along_axis(distances, order, axis=1)
        positions = np.take_along_axis(positions, order, axis=1)
        missing = np.take_along_axis(missing, order, axis=1)
        if row_ids:  # a database backend returns the ids with the positions
            ids = np.take_along_axis(np.asarray(row_ids[0], np.int64), order, axis=1)
        else:
            ids = self._all_ids()[np.where(missing, 0, positions)]
        ids[missing] = MISSING
        distances[missing] = MISSING
        return distances, ids

    def paths_of(self, ids):
        """The image file of each id: stored by a database backend, else `metadata["paths"][id]`."""
        if self._backend.holds_rows:
            return self._backend.paths_of(np.asarray(ids, np.int64))
        paths = self.metadata.get("paths")
        if paths is None:
            raise ValueError("the index has no id → path table: it was not built from images")
        return [paths[i] for i in ids]

    def contains(self, ids):
        """Bool mask: which of `ids` are in the index."""
        ids = np.asarray(ids, np.int64)
        if self._backend.holds_rows:
            return self._backend.contains(ids)
        return np.isin(ids, self._all_ids())

    def save(self, path):
        """Write the index to `path` (one zip file), atomically: see `index_file`.

        For a database backend the file records the backend's parameters (e.g. Milvus's URI and
        collection) and metadata, not the rows, which stay in the database; `load` reconnects.
        """
        ids_buffer = io.BytesIO()
        saved_ids = np.zeros(0, np.int64) if self._backend.holds_rows else self._all_ids()
        np.save(ids_buffer, saved_ids, allow_pickle=False)
        meta = {
            "bits": self.bits,
            "backend": self.backend,
            "backend_params": self._backend.params,
            "count": len(self),
            "metadata": self.metadata,
        }
        write_index_file(path, meta, ids_buffer.getvalue(), self._backend.to_bytes())
        logger.info("saved %r to %s", self, path)

    @classmethod
    def load(cls, path, *, bits=None):
        """Read an index written by `save`; with `bits`, refuse one built for another length."""
        meta, ids_npy, backend_bytes = read_index_file(path)
        if bits is not None and check_bits(bits) != meta["bits"]:
            raise ValueError(f"{path} holds {meta['bits']}-bit codes, expected {bits}-bit codes")
        index = cls.__new__(cls)
        index.bits = check_bits(meta["bits"])
        backend_cls = get_backend(meta["backend"])
        index._backend = backend_cls.from_bytes(index.bits, meta["backend_params"], backend_bytes)
        index.metadata = meta["metadata"]
        ids = np.load(io.BytesIO(ids_npy), allow_pickle=False)
        if ids.dtype != np.int64 or ids.ndim != 1:
            raise ValueError(f"{path} has ids of dtype {ids.dtype} and shape {ids.shape}")
        index._set_ids(ids)
        if backend_cls.holds_rows:
            index.metadata = index._backend.open(None)
            if len(index) != meta["count"]:
                logger.warning("%s recorded %d codes; its database holds %d", path, meta["count"], len(index))
            logger.info("reconnected %r from %s", index, path)
            return index
        if not (len(index) == index._backend.ntotal == meta["count"]):
            raise ValueError(
                f"{path} is inconsistent: {len(index)} ids, {index._backend.ntotal} codes, "
                f"count {meta['count']}"
            )
        logger.info("loaded %r from %s", index, path)
        return index

    def _add_rows(self, packed, ids, paths):
        """`add` for a database backend: it checks the ids against the stored ones and keeps them."""
        if paths is not None:
            paths = [str(p) for p in paths]
            if len(paths) != packed.shape[0]:
                raise ValueError(f"got {len(paths)} paths for {packed.shape[0]} codes: give one per code")
        clash = self._backend.contains(ids)
        if clash.any():
            raise ValueError(f"id {ids[clash][0]} is already in the index; ids must be unique")
        self._backend.add(packed, ids, paths)

    def _set_ids(self, ids):
        self._id_chunks = [ids]
        self._count = int(ids.shape[0])
        self._id_max = int(ids.max()) if ids.size else np.iinfo(np.int64).min

    def _all_ids(self):
        if len(self._id_chunks) > 1:
            self._id_chunks = [np.concatenate(self._id_chunks)]
        return self._id_chunks[0]


def check_k(k):
    """Raise ValueError unless `k` is a positive integer (bools are refused)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")


def _check_ids(ids, n):
    arr = np.asarray(ids)
    if arr.shape != (n,):
        raise ValueError(f"ids must have shape ({n},) to match the codes, got {arr.shape}")
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        if arr.size:
            raise TypeError(f"ids must be integers, got dtype {arr.dtype}")
        return np.zeros(0, np.int64)
    if arr.dtype == np.uint64 and arr.size and arr.max() > np.iinfo(np.int64).max:
        raise ValueError("ids must fit in int64")
    return arr.astype(np.int64)
