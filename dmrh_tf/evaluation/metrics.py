"""Retrieval metrics as formulas over a rank-ordered relevance matrix.

`relevance[i, r−1] = rel_i(r) ∈ {0, 1}` says whether the item at rank r (1-based) of query i's
ranking is relevant. These functions know nothing of codes, distances or search; the functions
in `dmrh_tf.evaluation.retrieval` rank a database and feed them.
"""

import numpy as np

__all__ = ["average_precision", "hits_at_ranks", "precision_at_ranks", "recall_at_ranks"]


def average_precision(relevance) -> np.ndarray:
    """Average precision of each query over its ranked list, as the DMRH release defines it.

    For query i with ranked list of length k (the top K of its ranking):

        P_i(r)  = (1/r) · Σ_{s ≤ r} rel_i(s)                       precision at rank r
        R_i     = Σ_{r ≤ k} rel_i(r)                                relevant items in the top k
        AP_i@k  = (1/R_i) · Σ_{r ≤ k} rel_i(r) · P_i(r)   if R_i > 0, else 0

    The normaliser is the number of relevant items *within the list*, not all relevant items
    of the database; a query with no relevant item in its list scores 0 (it is not dropped).
    With the full ranking as the list this is the usual (full-ranking) AP.

    Args:
        relevance: bool or {0,1} `[n_query, k]`, rank order.

    Returns:
        float64 `[n_query]`.
    """
    relevance = np.asarray(relevance, dtype=bool)
    if relevance.ndim != 2:
        raise ValueError(f"relevance must be 2-D [n_query, k]; got shape {relevance.shape}")
    hits = np.cumsum(relevance, axis=1, dtype=np.int64)
    rows, columns = np.nonzero(relevance)
    # Sum P_i(r) over the relevant ranks only: hits at rank r divided by r.
    precision_sum = np.bincount(rows, weights=hits[rows, columns] / (columns + 1.0), minlength=len(relevance))
    n_relevant = hits[:, -1] if relevance.shape[1] else np.zeros(len(relevance), np.int64)
    return np.divide(
        precision_sum,
        n_relevant,
        out=np.zeros(len(relevance), dtype=np.float64),
        where=n_relevant > 0,
    )


def hits_at_ranks(relevance, ks) -> np.ndarray:
    """Relevant items among the first k of each ranked list, for each k in `ks`: int64 `[q, len(ks)]`.

    A `k` beyond the list length counts the whole list.
    """
    relevance = np.asarray(relevance, dtype=bool)
    ks = _as_ranks(ks)
    hits = np.cumsum(relevance, axis=1, dtype=np.int64)
    if relevance.shape[1] == 0:
        return np.zeros((len(relevance), len(ks)), dtype=np.int64)
    return hits[:, np.minimum(ks, relevance.shape[1]) - 1]


def precision_at_ranks(relevance, ks) -> np.ndarray:
    """Precision@k of each query: `P_i@k = (1/k') · Σ_{r ≤ k'} rel_i(r)`, `k' = min(k, list length)`.

    Returns float64 `[n_query, len(ks)]`.
    """
    relevance = np.asarray(relevance, dtype=bool)
    ks = _as_ranks(ks)
    length = np.maximum(np.minimum(ks, relevance.shape[1]), 1)
    return hits_at_ranks(relevance, ks) / length


def recall_at_ranks(relevance, ks, n_relevant) -> np.ndarray:
    """Recall@k of each query: `Σ_{r ≤ k} rel_i(r) / N_i`, 0 where `N_i = 0`.

    Args:
        relevance: `[n_query, k]`, rank order.
        ks: ranks.
        n_relevant: `N_i`, the number of relevant items of query i in the whole database.

    Returns float64 `[n_query, len(ks)]`.
    """
    n_relevant = np.asarray(n_relevant, dtype=np.float64)[:, None]
    hits = hits_at_ranks(relevance, ks).astype(np.float64)
    return np.divide(hits, n_relevant, out=np.zeros_like(hits), where=n_relevant > 0)


def _as_ranks(ks) -> np.ndarray:
    ks = np.atleast_1d(np.asarray(ks))
    if ks.ndim != 1 or not np.issubdtype(ks.dtype, np.integer) or (ks < 1).any():
        raise ValueError(f"ranks must be positive integers; got {ks!r}")
    return ks.astype(np.int64)
