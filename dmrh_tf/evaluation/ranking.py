"""Exact Hamming ranking of a database for each query, with ties broken by database order.

The Hamming distance of two K-bit codes is `d(a, b) = popcount(a XOR b)`; for ±1 codes this
equals `(K − ⟨a, b⟩) / 2`. The ranking of a query is the database sorted by `(d, index)`: a
*stable* sort, so items at equal distance keep their database order. (The DMRH release sorts with
an unstable `np.argsort`, so its ties, and therefore its mAP, jitter from run to run.)

Distances are small integers (0..K), so they are sorted as uint8 (uint16 above 255 bits), for
which `np.argsort(kind="stable")` is a radix sort: linear time, unlike a float sort. Queries are
processed in chunks so memory stays bounded: about `10 · n_db` bytes per query of a chunk
(8 MiB chunks by default), never a dense `[n_query, n_db]` matrix.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from dmrh_tf.evaluation.codes import distance_dtype, pack_codes, popcount

__all__ = [
    "RankedChunk",
    "default_chunk_size",
    "hamming_distances",
    "hamming_ranking",
    "iter_hamming_ranking",
    "rank_by_distance",
]

# Working memory per chunk of queries. Small on purpose: with 8 MiB (16 queries × 50,000 items)
# the argsort output stays in the CPU cache for the gathers that follow, which is ~1.5× faster
# than 64 MiB chunks; the per-chunk Python overhead is negligible at this size.
DEFAULT_CHUNK_BYTES = 8 * 2**20
# Bytes per (query, database item) pair in a chunk: distance (1–2) and int64 argsort result (8).
_BYTES_PER_PAIR = 10
# Database items per block of the XOR/popcount loop (the XOR buffer is chunk × block × 8 bytes).
_DB_BLOCK = 8192


@dataclass(frozen=True)
class RankedChunk:
    """The ranking of queries `start:stop` (rows of `indices`/`distances`, in query order).

    Attributes:
        start, stop: the query rows this chunk covers.
        indices: int64 `[stop − start, k]`, database indices, nearest first, ties in database order.
        all_distances: `[stop − start, n_db]` (uint8, or uint16 above 255 bits), the distance from
            each query of the chunk to every database item, in database order.
        distances: int32 `[stop − start, k]`, the Hamming distance of each ranked item (computed
            on first use: mAP does not need it).
    """

    start: int
    stop: int
    indices: np.ndarray
    all_distances: np.ndarray

    @cached_property
    def distances(self) -> np.ndarray:
        return np.take_along_axis(self.all_distances, self.indices, axis=1).astype(np.int32)


def default_chunk_size(n_db: int, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> int:
    """Queries per chunk such that a chunk's working memory is about `chunk_bytes`."""
    return int(np.clip(chunk_bytes // (_BYTES_PER_PAIR * max(n_db, 1)), 1, 4096))


def resolve_k(k: int | None, n_db: int) -> int:
    """`k` clipped to the database size; `None` means the full ranking (`n_db`)."""
    if k is None:
        return n_db
    if int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer or None; got {k!r}")
    return min(int(k), n_db)


def hamming_distances(query_codes, db_codes) -> np.ndarray:
    """Dense Hamming distances `[n_query, n_db]` (int32). Meant for small inputs and tests."""
    query_words, db_words, n_bits = _packed_pair(query_codes, db_codes)
    return _chunk_distances(query_words, db_words, distance_dtype(n_bits)).astype(np.int32)


def rank_by_distance(distances, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Rank each row of non-negative integer `distances` `[q, n]`: stable, nearest first.

    Returns `(indices, sorted_distances)`, int64 and int32 `[q, min(k, n)]`; ties keep column
    order. Any search backend that produces exact integer distances can reuse this to rank
    exactly like `hamming_ranking`.
    """
    distances = np.asarray(distances)
    if distances.ndim != 2:
        raise ValueError(f"distances must be 2-D [q, n]; got shape {distances.shape}")
    k = resolve_k(k, distances.shape[1])
    if distances.dtype not in (np.uint8, np.uint16):
        if distances.size and (distances.min() < 0 or distances.max() > np.iinfo(np.uint16).max):
            raise ValueError("distances must be integers in 0..65535")
        distances = distances.astype(np.uint16)
    order = np.argsort(distances, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(distances, order, axis=1).astype(np.int32)


def iter_hamming_ranking(
    query_codes, db_codes, k: int | None = None, chunk_size: int | None = None
) -> Iterator[RankedChunk]:
    """Yield the Hamming ranking of the queries chunk by chunk (see `RankedChunk`).

    Args:
        query_codes: `[n_query, K]` ±1 or {0,1} codes.
        db_codes: `[n_db, K]` ±1 or {0,1} codes.
        k: ranked items kept per query; `None` = the whole database; clipped to `n_db`.
        chunk_size: queries per chunk; default from `default_chunk_size(n_db)`.
    """
    query_words, db_words, n_bits = _packed_pair(query_codes, db_codes)
    n_query, n_db = len(query_words), len(db_words)
    k = resolve_k(k, n_db) if n_db else 0
    chunk_size = chunk_size or default_chunk_size(n_db)
    dtype = distance_dtype(n_bits)
    for start in range(0, n_query, chunk_size):
        stop = min(start + chunk_size, n_query)
        distances = _chunk_distances(query_words[start:stop], db_words, dtype)
        order = np.argsort(distances, axis=1, kind="stable")
        if k < n_db:  # a copy, so the full [chunk, n_db] argsort is freed before the next chunk
            order = order[:, :k].copy()
        yield RankedChunk(start, stop, order, distances)


def hamming_ranking(
    query_codes, db_codes, k: int | None = None, chunk_size: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Rank the database by Hamming distance for every query; ties in database order.

    Returns `(indices, distances)`: int64 and int32 `[n_query, min(k, n_db)]`, nearest first.
    The result holds `12 · n_query · k` bytes; the metrics stream chunks instead
    (`iter_hamming_ranking`) and never hold it.
    """
    query_words = pack_codes(query_codes)
    db_n = len(np.asarray(db_codes))
    k_eff = resolve_k(k, db_n) if db_n else 0
    indices = np.empty((len(query_words), k_eff), dtype=np.int64)
    distances = np.empty((len(query_words), k_eff), dtype=np.int32)
    for chunk in iter_hamming_ranking(query_codes, db_codes, k, chunk_size):
        indices[chunk.start : chunk.stop] = chunk.indices
        distances[chunk.start : chunk.stop] = chunk.distances
    return indices, distances


def _packed_pair(query_codes, db_codes) -> tuple[np.ndarray, np.ndarray, int]:
    query_array, db_array = np.asarray(query_codes), np.asarray(db_codes)
    if query_array.ndim != 2 or db_array.ndim != 2:
        raise ValueError(f"codes must be 2-D [n, K]; got {query_array.shape} and {db_array.shape}")
    if query_array.shape[1] != db_array.shape[1]:
        raise ValueError(
            f"query and database codes differ in length: {query_array.shape[1]} vs {db_array.shape[1]} bits"
        )
    return pack_codes(query_array), pack_codes(db_array), query_array.shape[1]


def _chunk_distances(query_words: np.ndarray, db_words: np.ndarray, dtype) -> np.ndarray:
    """`Σ_w popcount(q_w XOR db_w)` as `dtype` `[len(query_words), len(db_words)]`.

    The database is walked in blocks of `_DB_BLOCK` items so that the uint64 XOR buffer stays
    small (cache-resident) instead of being as large as the chunk.
    """
    n_query, n_db = len(query_words), len(db_words)
    distances = np.empty((n_query, n_db), dtype=dtype)
    xor_buffer = np.empty((n_query, min(_DB_BLOCK, n_db)), dtype=np.uint64)
    count_buffer = np.empty(xor_buffer.shape, dtype=np.uint8)
    for begin in range(0, n_db, _DB_BLOCK):
        end = min(begin + _DB_BLOCK, n_db)
        xor, counts = xor_buffer[:, : end - begin], count_buffer[:, : end - begin]
        block = distances[:, begin:end]
        for word in range(query_words.shape[1]):
            np.bitwise_xor(query_words[:, None, word], db_words[None, begin:end, word], out=xor)
            if word == 0 and dtype == np.uint8:
                popcount(xor, out=block)
            elif word == 0:
                block[...] = popcount(xor, out=counts)
            else:
                block += popcount(xor, out=counts)
    return distances
