"""A plain per-query implementation of mAP@K: the executable specification of §6.

It follows the DMRH release's `CalcTopMap` line by line (one query at a time: distances, a sort,
the relevance of the top K, `mean(count / rank)`), except that the sort is stable so that ties
are broken by database order. `dmrh_tf.evaluation.map_at_k` must give the same numbers; the
tests and `benchmarks/evaluation_speed.py` compare the two. It is slow on purpose: no chunking,
a float sort per query, a dense relevance row per query.
"""

import numpy as np

from dmrh_tf.evaluation.codes import to_signed

__all__ = ["map_at_k_loop"]


def map_at_k_loop(query_codes, db_codes, query_labels, db_labels, k: int | None) -> float:
    """mAP@K by a per-query loop; same definition and tie-breaking as `map_at_k`."""
    query_codes = to_signed(query_codes).astype(np.float64)
    db_codes = to_signed(db_codes).astype(np.float64)
    query_labels, db_labels = np.asarray(query_labels), np.asarray(db_labels)
    n_bits = db_codes.shape[1]
    k = len(db_codes) if k is None else k
    total = 0.0
    for i in range(len(query_codes)):
        if query_labels.ndim == 1:
            relevant = (db_labels == query_labels[i]).astype(np.float64)
        else:
            relevant = ((db_labels > 0) @ (query_labels[i] > 0) > 0).astype(np.float64)
        hamming = 0.5 * (n_bits - db_codes @ query_codes[i])
        order = np.argsort(hamming, kind="stable")
        top = relevant[order][:k]
        n_hits = int(top.sum())
        if n_hits == 0:
            continue
        count = np.linspace(1, n_hits, n_hits)
        rank = np.flatnonzero(top == 1) + 1.0
        total += np.mean(count / rank)
    return total / len(query_codes) if len(query_codes) else 0.0
