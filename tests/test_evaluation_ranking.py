"""Hamming ranking: exact distances, stable ties, code forms, chunking."""

import numpy as np
import pytest

from dmrh_tf.evaluation import (
    hamming_distances,
    hamming_ranking,
    iter_hamming_ranking,
    pack_codes,
    rank_by_distance,
    to_bits,
    to_signed,
)

# One query against five database items, K = 2 bits (±1 codes).
QUERY = np.array([[1, 1]], dtype=np.int8)
DATABASE = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1], [1, 1]], dtype=np.int8)


def test_hand_computed_ranking_breaks_ties_by_database_order():
    """Distances of [+1,+1] to the database: [2, 1, 0, 1, 0] (count of differing bits).

    Sorted by (distance, index): items 2 and 4 at 0, then 1 and 3 at 1, then 0 at 2,
    so the ranking is [2, 4, 1, 3, 0] with distances [0, 0, 1, 1, 2].
    """
    np.testing.assert_array_equal(hamming_distances(QUERY, DATABASE), [[2, 1, 0, 1, 0]])
    indices, distances = hamming_ranking(QUERY, DATABASE)
    np.testing.assert_array_equal(indices, [[2, 4, 1, 3, 0]])
    np.testing.assert_array_equal(distances, [[0, 0, 1, 1, 2]])
    assert indices.dtype == np.int64 and distances.dtype == np.int32


@pytest.mark.parametrize(
    "convert",
    [
        lambda c: c,
        lambda c: c.astype(np.float32),
        lambda c: (c > 0).astype(np.uint8),
        lambda c: (c > 0).astype(np.float64),
        lambda c: c > 0,
    ],
    ids=["pm1-int8", "pm1-float32", "bits-uint8", "bits-float64", "bool"],
)
def test_code_forms_give_the_same_ranking(convert):
    indices, _ = hamming_ranking(convert(QUERY), convert(DATABASE), k=3)
    np.testing.assert_array_equal(indices, [[2, 4, 1]])


def test_mixed_forms_between_query_and_database():
    indices, _ = hamming_ranking((QUERY > 0).astype(np.uint8), DATABASE.astype(np.float32))
    np.testing.assert_array_equal(indices, [[2, 4, 1, 3, 0]])


def test_k_larger_than_database_is_clipped():
    indices, distances = hamming_ranking(QUERY, DATABASE, k=100)
    assert indices.shape == distances.shape == (1, 5)


@pytest.mark.parametrize("n_bits", [5, 64, 70, 300])
def test_distances_match_inner_product_formula(n_bits):
    """d = (K − ⟨a, b⟩) / 2 for ±1 codes, across word boundaries and above 255 bits (uint16)."""
    rng = np.random.default_rng(n_bits)
    query = rng.choice([-1, 1], size=(7, n_bits)).astype(np.int8)
    database = rng.choice([-1, 1], size=(23, n_bits)).astype(np.int8)
    expected = (n_bits - query.astype(int) @ database.astype(int).T) // 2
    np.testing.assert_array_equal(hamming_distances(query, database), expected)


@pytest.mark.parametrize("chunk_size", [1, 3, 64])
def test_chunked_ranking_equals_stable_argsort(chunk_size):
    """4-bit codes over 200 items: many ties; every chunking must give the stable order."""
    rng = np.random.default_rng(0)
    query = rng.choice([-1, 1], size=(10, 4))
    database = rng.choice([-1, 1], size=(200, 4))
    dense = (4 - query @ database.T) // 2
    expected = np.argsort(dense, axis=1, kind="stable")[:, :50]
    indices, distances = hamming_ranking(query, database, k=50, chunk_size=chunk_size)
    np.testing.assert_array_equal(indices, expected)
    np.testing.assert_array_equal(distances, np.take_along_axis(dense, expected, axis=1))
    chunks = list(iter_hamming_ranking(query, database, k=50, chunk_size=chunk_size))
    assert [c.start for c in chunks] == list(range(0, 10, chunk_size))
    np.testing.assert_array_equal(np.concatenate([c.all_distances for c in chunks]), dense)


def test_rank_by_distance_accepts_any_integer_distances():
    distances = np.array([[3, 1, 1, 0], [2, 2, 2, 2]], dtype=np.int64)
    indices, ranked = rank_by_distance(distances, k=3)
    np.testing.assert_array_equal(indices, [[3, 1, 2], [0, 1, 2]])
    np.testing.assert_array_equal(ranked, [[0, 1, 1], [2, 2, 2]])
    with pytest.raises(ValueError, match=r"0\.\.65535"):
        rank_by_distance(np.array([[-1, 0]]))


def test_code_conversions():
    np.testing.assert_array_equal(to_bits(np.array([[-1, 1]])), [[False, True]])
    np.testing.assert_array_equal(to_signed(np.array([[0, 1]], dtype=np.uint8)), [[-1, 1]])
    assert to_signed(np.array([[0.0, 1.0]])).dtype == np.int8
    assert pack_codes(np.ones((3, 65))).shape == (3, 2)


@pytest.mark.parametrize(
    ("codes", "message"),
    [
        (np.array([[-1, 0, 1]]), "ambiguous"),
        (np.array([[0.5, 1.0]]), "±1 or"),
        (np.array([1, -1]), "2-D"),
    ],
)
def test_invalid_codes_are_rejected(codes, message):
    with pytest.raises(ValueError, match=message):
        to_bits(codes)


def test_length_mismatch_is_rejected():
    with pytest.raises(ValueError, match="differ in length"):
        hamming_ranking(np.ones((1, 3)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="positive integer"):
        hamming_ranking(QUERY, DATABASE, k=0)
