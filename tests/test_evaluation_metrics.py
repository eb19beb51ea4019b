"""mAP@K and the other retrieval metrics on hand-computed cases and against the per-query loop.

The shared example (K = 2 bits, five database items):

    query 0: code [+1, +1]; distances to the database [2, 1, 0, 1, 0];
             stable ranking [2, 4, 1, 3, 0] (ties in database order).
    query 1: code [−1, −1]; distances [0, 1, 2, 1, 2]; shares no label with any item.

Relevance of the database to query 0 (by database index): [1, 0, 1, 1, 0], so in rank order
rel = [1, 0, 0, 1, 1]. The labels are given three ways that all produce this relevance.
"""

import numpy as np
import pytest

from dmrh_tf.evaluation import (
    average_precision,
    hamming_ranking,
    map_at_k,
    map_at_k_loop,
    map_from_ranking,
    mean_average_precision,
    precision_at_k,
    precision_at_ranks,
    precision_recall_curve,
    precision_within_radius,
    recall_at_k,
    recall_at_ranks,
    relevance_matrix,
    retrieval_summary,
)

QUERIES = np.array([[1, 1], [-1, -1]], dtype=np.int8)
DATABASE = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1], [1, 1]], dtype=np.int8)
SINGLE_LABEL = (np.array([0, 2]), np.array([0, 1, 0, 0, 1]))
MULTI_LABEL = (
    np.array([[1, 0, 1, 0], [0, 0, 0, 1]], dtype=np.float32),
    np.array([[0, 0, 1, 0], [0, 1, 0, 0], [1, 1, 0, 0], [0, 1, 1, 0], [0, 1, 0, 0]], np.float32),
)


ONE_HOT = (np.eye(3)[SINGLE_LABEL[0]], np.eye(3)[SINGLE_LABEL[1]])
LABELS = pytest.mark.parametrize(
    "labels", [SINGLE_LABEL, MULTI_LABEL, ONE_HOT], ids=["single", "multi", "one-hot"]
)


@LABELS
def test_relevance_of_the_example(labels):
    np.testing.assert_array_equal(relevance_matrix(*labels), [[1, 0, 1, 1, 0], [0, 0, 0, 0, 0]])


def test_average_precision_formula():
    """AP = (1/R) Σ_r rel(r) · hits(r)/r with R the hits in the list.

    [1,0,1,0] → (1/1 + 2/3)/2 = 5/6;  [0,1] → (1/2)/1 = 1/2;  [0,0,0] → 0 (no hit).
    """
    np.testing.assert_allclose(average_precision([[1, 0, 1, 0]]), [5 / 6])
    np.testing.assert_allclose(average_precision([[0, 1], [0, 0]]), [1 / 2, 0])
    np.testing.assert_array_equal(average_precision([[0, 0, 0]]), [0.0])


@LABELS
@pytest.mark.parametrize(
    ("k", "expected"),
    [(1, 1.0), (3, 1.0), (4, 0.75), (5, 0.7), (100, 0.7), (None, 0.7)],
)
def test_map_at_k_hand_computed(labels, k, expected):
    """Query 0, rel = [1, 0, 0, 1, 1] in rank order:

    AP@3 = 1/1 · (1/1) = 1;  AP@4 = 1/2 · (1/1 + 2/4) = 0.75;
    AP@5 = 1/3 · (1/1 + 2/4 + 3/5) = 0.7;  K = 100 > n_db and K = None are the full ranking.
    Query 1 has no relevant item: AP = 0, and it counts, so mAP = AP_0 / 2.
    (An unstable sort may rank item 4 before item 2, which would give AP@3 = 1/2.)
    """
    assert map_at_k(QUERIES, DATABASE, *labels, k) == pytest.approx(expected / 2, abs=1e-15)
    assert map_at_k(QUERIES[:1], DATABASE, labels[0][:1], labels[1], k) == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize(
    "convert",
    [lambda c: (c > 0).astype(np.uint8), lambda c: c.astype(np.float32), lambda c: c > 0],
    ids=["bits", "float", "bool"],
)
def test_map_at_k_code_forms(convert):
    assert map_at_k(convert(QUERIES), convert(DATABASE), *SINGLE_LABEL, 5) == pytest.approx(0.35)


def test_full_ranking_map_and_map_from_ranking():
    assert mean_average_precision(QUERIES, DATABASE, *MULTI_LABEL) == pytest.approx(0.35)
    indices, _ = hamming_ranking(QUERIES, DATABASE, k=4)
    assert map_from_ranking(indices, *MULTI_LABEL) == pytest.approx(0.75 / 2)


def test_map_from_ranking_treats_negative_indices_as_missing():
    """A search result padded with −1: [2, −1, −1, 3, 0] has rel [1, 0, 0, 1, 1] → AP 0.7."""
    indices = np.array([[2, -1, -1, 3, 0]])
    assert map_from_ranking(indices, SINGLE_LABEL[0][:1], SINGLE_LABEL[1]) == pytest.approx(0.7)
    with pytest.raises(ValueError, match="past the database"):
        map_from_ranking(np.array([[5]]), SINGLE_LABEL[0][:1], SINGLE_LABEL[1])


@LABELS
def test_precision_and_recall_at_k(labels):
    """Query 0: hits at ranks 1, 2, 4, 5 of 5 are 1, 1, 2, 3 of its 3 relevant items.

    P@1 = 1, P@2 = 1/2, P@4 = 1/2, P@5 = P@10 (clipped to 5) = 3/5;
    R@1 = 1/3, R@2 = 1/3, R@4 = 2/3, R@5 = R@10 = 1. Query 1 contributes 0 to every mean.
    """
    ks = [1, 2, 4, 5, 10]
    precision = precision_at_k(QUERIES, DATABASE, *labels, ks)
    recall = recall_at_k(QUERIES, DATABASE, *labels, ks)
    np.testing.assert_allclose(precision, np.array([1, 1 / 2, 1 / 2, 3 / 5, 3 / 5]) / 2)
    np.testing.assert_allclose(recall, np.array([1 / 3, 1 / 3, 2 / 3, 1, 1]) / 2)


def test_precision_and_recall_at_ranks_formulas():
    relevance = np.array([[0, 1, 1]])
    np.testing.assert_allclose(precision_at_ranks(relevance, [1, 2, 3, 9]), [[0, 1 / 2, 2 / 3, 2 / 3]])
    np.testing.assert_allclose(recall_at_ranks(relevance, [2, 3], [4]), [[1 / 4, 2 / 4]])
    np.testing.assert_array_equal(recall_at_ranks(relevance, [2], [0]), [[0.0]])


@LABELS
def test_pr_curve_pools_pairs(labels):
    """Pooled over both queries (query 1's distances [0, 1, 2, 1, 2], no relevant items):

    r = 0: retrieved 2 + 1 = 3, hits 1 → P = 1/3, R = 1/3 (3 relevant pairs in all);
    r = 1: retrieved 4 + 3 = 7, hits 2 → P = 2/7, R = 2/3;
    r = 2: retrieved 5 + 5 = 10, hits 3 → P = 3/10, R = 1.
    """
    curve = precision_recall_curve(QUERIES, DATABASE, *labels)
    np.testing.assert_array_equal(curve.radius, [0, 1, 2])
    np.testing.assert_allclose(curve.precision, [1 / 3, 2 / 7, 3 / 10])
    np.testing.assert_allclose(curve.recall, [1 / 3, 2 / 3, 1])


def test_pr_curve_is_nan_where_nothing_is_retrieved():
    curve = precision_recall_curve(np.array([[1, 1, 1]]), np.array([[-1, -1, -1]]), [0], [0])
    assert np.isnan(curve.precision[:3]).all()
    np.testing.assert_allclose(curve.precision[3], 1.0)


def test_precision_within_radius():
    """Radius 0: query 0 retrieves items 2, 4 (one relevant) → 1/2; query 1 retrieves item 0
    (not relevant) → 0; mean 1/4. A query that retrieves nothing scores 0: [1,1,1] against
    [−1,−1,−1] is at distance 3 > 2.
    """
    value = precision_within_radius(QUERIES, DATABASE, *SINGLE_LABEL, radius=0)
    assert value == pytest.approx(0.25)
    assert precision_within_radius(np.ones((1, 3)), -np.ones((1, 3)), [0], [0]) == 0.0


def test_summary_matches_the_single_metric_functions():
    summary = retrieval_summary(QUERIES, DATABASE, *MULTI_LABEL, map_k=4, full_map=True, ks=[2])
    assert summary["map"] == pytest.approx(0.375) and summary["map_k"] == 4
    assert summary["full_map"] == pytest.approx(0.35)
    np.testing.assert_allclose(summary["precision_at_k"], [0.25])
    np.testing.assert_allclose(summary["recall_at_k"], [1 / 6])
    assert summary["precision_within_radius"] == pytest.approx(
        precision_within_radius(QUERIES, DATABASE, *MULTI_LABEL)
    )


@pytest.mark.parametrize("multi_label", [False, True], ids=["single", "multi"])
@pytest.mark.parametrize("n_bits", [6, 32])
def test_map_at_k_equals_per_query_loop_on_random_data(multi_label, n_bits):
    """Random codes with many distance ties (6 bits), chunks that do not divide the queries."""
    rng = np.random.default_rng(n_bits + multi_label)
    query = rng.choice([-1, 1], size=(37, n_bits)).astype(np.int8)
    database = rng.integers(0, 2, size=(400, n_bits)).astype(np.uint8)
    if multi_label:
        query_labels = (rng.random((37, 7)) < 0.2).astype(np.float32)
        db_labels = (rng.random((400, 7)) < 0.2).astype(np.float32)
    else:
        query_labels, db_labels = rng.integers(0, 5, 37), rng.integers(0, 5, 400)
    for k in (1, 10, 150, 400, 1000):
        fast = map_at_k(query, database, query_labels, db_labels, k, chunk_size=8)
        loop = map_at_k_loop(query, database, query_labels, db_labels, k)
        assert fast == pytest.approx(loop, rel=1e-12, abs=1e-15)


def test_mismatched_labels_are_rejected():
    with pytest.raises(ValueError, match="do not match"):
        map_at_k(QUERIES, DATABASE, np.array([0]), SINGLE_LABEL[1], 5)
    with pytest.raises(ValueError, match="both"):
        map_at_k(QUERIES, DATABASE, SINGLE_LABEL[0], MULTI_LABEL[1], 5)
    with pytest.raises(ValueError, match="integers"):
        map_at_k(QUERIES, DATABASE, np.array([0.0, 1.0]), np.zeros(5), 5)


@pytest.mark.parametrize("n_bits", [6, 130])
def test_radius_metrics_equal_a_dense_computation(n_bits):
    """PR curve and precision within radius 2 against dense distance/relevance matrices
    (130 bits: distances above 127 use the uint16 histogram key)."""
    rng = np.random.default_rng(n_bits)
    query = rng.choice([-1, 1], size=(23, n_bits))
    database = query[rng.integers(0, 23, 90)] * rng.choice([1, 1, 1, 1, -1], size=(90, n_bits))
    query_labels, db_labels = rng.integers(0, 3, 23), rng.integers(0, 3, 90)
    distances = (n_bits - query @ database.T) // 2
    relevant = query_labels[:, None] == db_labels[None, :]
    within = distances[:, :, None] <= np.arange(n_bits + 1)
    retrieved, hits = within.sum(axis=(0, 1)), (within & relevant[:, :, None]).sum(axis=(0, 1))
    curve = precision_recall_curve(query, database, query_labels, db_labels, chunk_size=5)
    with np.errstate(invalid="ignore", divide="ignore"):
        np.testing.assert_allclose(curve.precision, hits / retrieved)
    np.testing.assert_allclose(curve.recall, hits / relevant.sum())
    inside = distances <= 2
    per_query = np.where(inside.sum(1) > 0, (inside & relevant).sum(1) / np.maximum(inside.sum(1), 1), 0.0)
    value = precision_within_radius(query, database, query_labels, db_labels, chunk_size=5)
    assert value == pytest.approx(per_query.mean())
