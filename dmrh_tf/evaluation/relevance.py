"""Which database items are relevant to a query: they share at least one label.

`rel(i, j) = 1` iff query i and database item j share ≥ 1 label (DMRH reference §6), for

- single-label data: integer class vectors `[n]` (relevant ⇔ same class);
- multi-label data: multi-hot matrices `[n, C]` of any dtype (a label is present where > 0);
  a one-hot matrix is single-label data in this form and gives the same relevance.

`LabelRelevance` prepares the labels once (multi-hot rows are packed into uint64 bit sets, so the
relevance of a ranked item is one AND per 64 labels) and answers for chunks of queries.
"""

import numpy as np

__all__ = ["LabelRelevance", "relevance_matrix"]


class LabelRelevance:
    """Relevance of database items to queries, from single- or multi-label annotations."""

    def __init__(self, query_labels, db_labels):
        query_labels, db_labels = np.asarray(query_labels), np.asarray(db_labels)
        if query_labels.ndim != db_labels.ndim or query_labels.ndim not in (1, 2):
            raise ValueError(
                "labels must both be class vectors [n] or both multi-hot [n, C]; got shapes "
                f"{query_labels.shape} and {db_labels.shape}"
            )
        if query_labels.ndim == 2 and query_labels.shape[1] != db_labels.shape[1]:
            raise ValueError(
                f"query and database labels differ in classes: {query_labels.shape[1]} vs "
                f"{db_labels.shape[1]}"
            )
        self.multi_label = query_labels.ndim == 2
        self.n_query, self.n_db = len(query_labels), len(db_labels)
        if self.multi_label:
            self._query = _pack_label_sets(query_labels)
            self._db = _pack_label_sets(db_labels)
            self._query_hot = (query_labels > 0).astype(np.float32)
            self._db_hot = (db_labels > 0).astype(np.float32)
        else:
            if not (
                np.issubdtype(query_labels.dtype, np.integer) and np.issubdtype(db_labels.dtype, np.integer)
            ):
                raise ValueError("class vectors [n] must be integers; pass multi-hot labels as [n, C]")
            self._query, self._db = query_labels, db_labels
            classes, counts = np.unique(db_labels, return_counts=True)
            self._classes, self._class_counts = classes, counts

    def gather(self, query_rows: slice, db_indices: np.ndarray) -> np.ndarray:
        """Relevance `[c, k]` (bool) of ranked items `db_indices` `[c, k]` to queries `query_rows`.

        Negative indices (a search backend's "no result" padding) are not relevant.
        """
        db_indices = np.asarray(db_indices)
        padded = db_indices.size > 0 and db_indices.min() < 0
        safe = np.where(db_indices >= 0, db_indices, 0) if padded else db_indices
        query = self._query[query_rows]
        if self.multi_label:
            relevant = (query[:, None, :] & self._db[safe]).any(axis=-1)
        else:
            relevant = query[:, None] == self._db[safe]
        return relevant & (db_indices >= 0) if padded else relevant

    def full(self, query_rows: slice) -> np.ndarray:
        """Relevance `[c, n_db]` (bool) of every database item to queries `query_rows`."""
        if self.multi_label:
            return (self._query_hot[query_rows] @ self._db_hot.T) > 0
        return self._query[query_rows, None] == self._db[None, :]

    def counts(self, query_rows: slice) -> np.ndarray:
        """Number of relevant items in the whole database for queries `query_rows` (int64)."""
        if self.multi_label:
            return self.full(query_rows).sum(axis=1, dtype=np.int64)
        query = self._query[query_rows]
        if not len(self._classes):
            return np.zeros(len(query), dtype=np.int64)
        position = np.minimum(np.searchsorted(self._classes, query), len(self._classes) - 1)
        hit = self._classes[position] == query
        return np.where(hit, self._class_counts[position], 0).astype(np.int64)


def relevance_matrix(query_labels, db_labels) -> np.ndarray:
    """Dense relevance `[n_query, n_db]` (bool). Meant for small inputs and tests."""
    relevance = LabelRelevance(query_labels, db_labels)
    return relevance.full(slice(None))


def _pack_label_sets(labels: np.ndarray) -> np.ndarray:
    """Multi-hot `[n, C]` → uint64 bit sets `[n, ⌈C/64⌉]`; two rows share a label iff AND ≠ 0."""
    present = labels > 0
    n, n_classes = present.shape
    n_words = max(1, -(-n_classes // 64))
    packed = np.zeros((n, n_words * 8), dtype=np.uint8)
    packed[:, : -(-n_classes // 8)] = np.packbits(present, axis=1)
    return packed.view(np.uint64)
