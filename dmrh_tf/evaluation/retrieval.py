"""Retrieval metrics of binary codes: Hamming-rank the database, then score the rankings.

All functions take query/database codes `[n, K]` (±1 or {0,1}, any dtype; see
`dmrh_tf.evaluation.codes`) and labels (class vectors `[n]` or multi-hot `[n, C]`; an item is
relevant to a query if they share ≥ 1 label). Rankings are exact Hamming rankings with ties broken
by database order (a stable sort; `dmrh_tf.evaluation.ranking`), computed for chunks of queries so
that memory stays bounded.

Conventions (stated again on each function):

- mAP@K: AP normalised by the relevant items in the top K; a query with none scores 0 and counts
  (`metrics.average_precision`). K larger than the database means the full ranking.
- precision@k / recall@k: k clipped to the database size; recall 0 for a query with no relevant
  item in the database.
- PR curve over Hamming radii: pooled over all (query, item) pairs, as in the spectral hashing
  evaluation (Weiss et al., 2008) that LSH/SH/SKLSH/PCAH/ITQ papers report.
- precision within Hamming radius r: per query, 0 for a query that retrieves nothing (Liu et al.,
  2012), averaged over all queries.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dmrh_tf.evaluation.metrics import (
    average_precision,
    precision_at_ranks,
    recall_at_ranks,
)
from dmrh_tf.evaluation.ranking import iter_hamming_ranking, resolve_k
from dmrh_tf.evaluation.relevance import LabelRelevance

__all__ = [
    "PRCurve",
    "map_at_k",
    "map_from_ranking",
    "mean_average_precision",
    "precision_at_k",
    "precision_recall_curve",
    "precision_within_radius",
    "recall_at_k",
    "retrieval_summary",
]


@dataclass(frozen=True)
class PRCurve:
    """Precision and recall of Hamming-ball retrieval at radii 0..K (float64 `[K + 1]` each).

    `precision[r] = Σ_i hits_i(r) / Σ_i retrieved_i(r)` (NaN where nothing is retrieved at all),
    `recall[r] = Σ_i hits_i(r) / Σ_i N_i`, where `retrieved_i(r)` counts the database items within
    distance r of query i, `hits_i(r)` the relevant ones and `N_i` all relevant items.
    """

    radius: np.ndarray
    precision: np.ndarray
    recall: np.ndarray


def map_at_k(
    query_codes, db_codes, query_labels, db_labels, k: int | None, *, chunk_size: int | None = None
) -> float:
    """mAP@K of Hamming ranking, exactly as the DMRH release defines it (K = 5000 in the paper).

    For each query i, rank the database by Hamming distance (ties in database order) and keep the
    top K; with `rel_i(r) = 1` iff the item at rank r shares ≥ 1 label with the query:

        AP_i@K = (1/R_i) · Σ_{r ≤ K} rel_i(r) · (1/r) Σ_{s ≤ r} rel_i(s),   R_i = Σ_{r ≤ K} rel_i(r)
        AP_i@K = 0 if R_i = 0
        mAP@K  = (1/n_query) · Σ_i AP_i@K

    The normaliser R_i counts relevant items in the top K only (not all relevant items), and
    zero-hit queries count 0 in the mean. `K ≥ n_db` or `None` is the full-ranking mAP.

    Args:
        query_codes, db_codes: `[n_query, K_bits]`, `[n_db, K_bits]`, ±1 or {0,1}.
        query_labels, db_labels: class vectors `[n]` or multi-hot `[n, C]`.
        k: the cut-off K.
        chunk_size: queries per chunk (memory ~ `10 · n_db · chunk_size` bytes).

    Returns:
        mAP@K as a Python float in [0, 1].
    """
    relevance = _relevance(query_codes, db_codes, query_labels, db_labels)
    total = 0.0
    for chunk in iter_hamming_ranking(query_codes, db_codes, k, chunk_size):
        rows = slice(chunk.start, chunk.stop)
        total += average_precision(relevance.gather(rows, chunk.indices)).sum()
    return _mean(total, relevance.n_query)


def mean_average_precision(
    query_codes, db_codes, query_labels, db_labels, *, chunk_size: int | None = None
) -> float:
    """Full-ranking mAP: `map_at_k` with K = the database size (AP over all relevant items)."""
    return map_at_k(query_codes, db_codes, query_labels, db_labels, None, chunk_size=chunk_size)


def map_from_ranking(indices, query_labels, db_labels) -> float:
    """mAP@K of given rankings (e.g. a search index's results), with `map_at_k`'s definition.

    Args:
        indices: int `[n_query, K]`, database indices in rank order; negative entries (padding
            for "no result") are not relevant.
        query_labels, db_labels: class vectors `[n]` or multi-hot `[n, C]`.
    """
    indices = np.asarray(indices)
    if indices.ndim != 2 or len(indices) != len(np.asarray(query_labels)):
        raise ValueError(
            f"indices must be [n_query, K] with n_query = {len(np.asarray(query_labels))}; "
            f"got shape {indices.shape}"
        )
    relevance = LabelRelevance(query_labels, db_labels)
    if indices.size and indices.max() >= relevance.n_db:
        raise ValueError(f"indices refer past the database ({relevance.n_db} items)")
    rel = relevance.gather(slice(None), indices)
    return _mean(average_precision(rel).sum(), relevance.n_query)


def precision_at_k(
    query_codes, db_codes, query_labels, db_labels, ks, *, chunk_size: int | None = None
) -> np.ndarray:
    """Mean precision@k over queries for each k in `ks`: float64 `[len(ks)]`.

    `P@k = (1/n_query) Σ_i (1/k') Σ_{r ≤ k'} rel_i(r)` with `k' = min(k, n_db)`.
    """
    return _only("precision_at_k", query_codes, db_codes, query_labels, db_labels, chunk_size, ks=ks)


def recall_at_k(
    query_codes, db_codes, query_labels, db_labels, ks, *, chunk_size: int | None = None
) -> np.ndarray:
    """Mean recall@k over queries for each k in `ks`: float64 `[len(ks)]`.

    `R@k = (1/n_query) Σ_i Σ_{r ≤ k} rel_i(r) / N_i`, `N_i` = relevant items of query i in the
    database; a query with `N_i = 0` counts 0.
    """
    return _only("recall_at_k", query_codes, db_codes, query_labels, db_labels, chunk_size, ks=ks)


def precision_recall_curve(
    query_codes, db_codes, query_labels, db_labels, *, chunk_size: int | None = None
) -> PRCurve:
    """Precision–recall of Hamming-ball retrieval at every radius 0..K (see `PRCurve`)."""
    return _only("pr_curve", query_codes, db_codes, query_labels, db_labels, chunk_size, pr_curve=True)


def precision_within_radius(
    query_codes,
    db_codes,
    query_labels,
    db_labels,
    radius: int = 2,
    *,
    chunk_size: int | None = None,
) -> float:
    """Mean precision of the items within Hamming distance ≤ `radius` (0 if none retrieved).

    `P_i = hits_i / retrieved_i` if `retrieved_i > 0` else 0; the mean is over all queries.
    """
    return _only(
        "precision_within_radius", query_codes, db_codes, query_labels, db_labels, chunk_size, radius=radius
    )


def _only(key, query_codes, db_codes, query_labels, db_labels, chunk_size, **wanted):
    """One metric of `retrieval_summary`, computing nothing else."""
    options = {"map_k": None, "ks": None, "radius": None, "pr_curve": False, "chunk_size": chunk_size}
    return retrieval_summary(query_codes, db_codes, query_labels, db_labels, **{**options, **wanted})[key]


def retrieval_summary(
    query_codes,
    db_codes,
    query_labels,
    db_labels,
    *,
    map_k: int | None = 5000,
    full_map: bool = False,
    ks: Sequence[int] | None = (1, 10, 100, 500, 1000, 2000, 5000),
    radius: int | None = 2,
    pr_curve: bool = True,
    chunk_size: int | None = None,
) -> dict:
    """All metrics of this module in a single pass over the query chunks.

    Args:
        map_k: K of mAP@K, or None to skip it (K beyond the database = full ranking).
        full_map: also compute the full-ranking mAP (sorts and scores the whole ranking).
        ks: ranks for precision@k and recall@k, or None to skip them.
        radius: Hamming radius for `precision_within_radius`, or None to skip it.
        pr_curve: compute the PR curve over Hamming radii.

    Returns:
        A dict with the requested entries: `"map"` (float) and `"map_k"` (the K used),
        `"full_map"` (float), `"ks"`, `"precision_at_k"`, `"recall_at_k"` (float64 arrays),
        `"radius"` and `"precision_within_radius"` (float), `"pr_curve"` (`PRCurve`).
    """
    relevance = _relevance(query_codes, db_codes, query_labels, db_labels)
    n_bits = np.asarray(db_codes).shape[1]
    n_query, n_db = relevance.n_query, relevance.n_db
    ks_array = None if ks is None else np.asarray(ks, dtype=np.int64)
    needed = [resolve_k(map_k, n_db)] if map_k is not None and n_db else []
    if ks_array is not None and len(ks_array) and n_db:
        needed.append(resolve_k(int(ks_array.max()), n_db))
    need_ranking = map_k is not None or full_map or ks_array is not None
    # Ranked items to keep per query: the largest cut-off asked for (1 if only radii are asked).
    keep = None if full_map else max(needed, default=1)
    need_full_relevance = pr_curve or radius is not None

    ap_sum = full_ap_sum = radius_precision_sum = 0.0
    precision_sum = np.zeros(0 if ks_array is None else len(ks_array))
    recall_sum = np.zeros_like(precision_sum)
    retrieved_at = np.zeros(n_bits + 1, dtype=np.int64)
    hits_at = np.zeros(n_bits + 1, dtype=np.int64)
    total_relevant = 0
    for chunk in iter_hamming_ranking(query_codes, db_codes, keep, chunk_size):
        rows = slice(chunk.start, chunk.stop)
        ranked = relevance.gather(rows, chunk.indices) if need_ranking else None
        if map_k is not None:
            ap_sum += average_precision(ranked[:, : resolve_k(map_k, n_db)]).sum()
        if full_map:
            full_ap_sum += average_precision(ranked).sum()
        full = relevance.full(rows) if need_full_relevance else None
        if full is not None:
            n_relevant = full.sum(axis=1, dtype=np.int64)
        elif ks_array is not None:
            n_relevant = relevance.counts(rows)
        if ks_array is not None:
            precision_sum += precision_at_ranks(ranked, ks_array).sum(axis=0)
            recall_sum += recall_at_ranks(ranked, ks_array, n_relevant).sum(axis=0)
        if pr_curve:
            # One histogram of (distance, relevant) pairs: key = 2·distance + relevant.
            key_dtype = np.uint8 if 2 * n_bits + 1 <= np.iinfo(np.uint8).max else np.uint16
            key = chunk.all_distances.astype(key_dtype) * key_dtype(2) + full
            counts = np.bincount(key.ravel(), minlength=2 * (n_bits + 1)).reshape(-1, 2)
            retrieved_at += counts.sum(axis=1)
            hits_at += counts[:, 1]
            total_relevant += int(n_relevant.sum())
        if radius is not None:
            inside = chunk.all_distances <= radius
            retrieved = inside.sum(axis=1)
            hits = (inside & full).sum(axis=1)
            radius_precision_sum += np.divide(
                hits, retrieved, out=np.zeros(len(hits)), where=retrieved > 0
            ).sum()

    summary: dict = {}
    if map_k is not None:
        summary["map"] = _mean(ap_sum, n_query)
        summary["map_k"] = resolve_k(map_k, n_db) if n_db else 0
    if full_map:
        summary["full_map"] = _mean(full_ap_sum, n_query)
    if ks_array is not None:
        summary["ks"] = ks_array
        summary["precision_at_k"] = precision_sum / max(n_query, 1)
        summary["recall_at_k"] = recall_sum / max(n_query, 1)
    if radius is not None:
        summary["radius"] = int(radius)
        summary["precision_within_radius"] = _mean(radius_precision_sum, n_query)
    if pr_curve:
        retrieved, hits = np.cumsum(retrieved_at), np.cumsum(hits_at)
        precision = np.full(n_bits + 1, np.nan)
        np.divide(hits, retrieved, out=precision, where=retrieved > 0)
        recall = hits / total_relevant if total_relevant else np.zeros(n_bits + 1)
        summary["pr_curve"] = PRCurve(np.arange(n_bits + 1), precision, recall)
    return summary


def _relevance(query_codes, db_codes, query_labels, db_labels) -> LabelRelevance:
    relevance = LabelRelevance(query_labels, db_labels)
    n_query, n_db = len(np.asarray(query_codes)), len(np.asarray(db_codes))
    if (relevance.n_query, relevance.n_db) != (n_query, n_db):
        raise ValueError(
            f"labels ({relevance.n_query} queries, {relevance.n_db} database items) do not match "
            f"codes ({n_query} queries, {n_db} database items)"
        )
    return relevance


def _mean(total: float, count: int) -> float:
    return float(total / count) if count else 0.0
