"""Every search backend against brute force, on few-bit random codes where ties abound.

The reference is a stable sort of all distances (ties in insertion order). The NumPy backend is
checked against it, then the faiss backends against the NumPy backend: the exact one must agree
id for id, the approximate ones must return true distances, in (distance, position) order, and
match exactly when set to scan everything.
"""

import faiss
import numpy as np
import pytest

from dmrh_tf.index import MISSING, HammingIndex

pytestmark = pytest.mark.usefixtures("one_faiss_thread")


def random_bits(rng, n, bits):
    return rng.integers(0, 2, (n, bits)).astype(np.uint8)


def brute_force(query_bits, db_bits, k):
    """(distances, positions) of the k nearest, by a stable sort of the full distance matrix."""
    distances = (query_bits[:, None, :] != db_bits[None, :, :]).sum(axis=2)
    order = np.argsort(distances, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(distances, order, axis=1), order


def true_distances(query_bits, db_bits, positions):
    return (query_bits[:, None, :] != db_bits[positions]).sum(axis=2)


def build(backend, bits, db_bits, chunks=1, **params):
    index = HammingIndex(bits, backend, **params)
    for part in np.array_split(db_bits, chunks):
        index.add(part)
    return index


def test_numpy_backend_equals_brute_force():
    for bits, n, k in [(3, 200, 50), (8, 1000, 100), (12, 500, 7), (70, 300, 300)]:
        rng = np.random.default_rng(bits)
        db, queries = random_bits(rng, n, bits), random_bits(rng, 40, bits)
        distances, ids = build("numpy", bits, db, chunks=3).search(queries, k)
        expected_distances, expected_ids = brute_force(queries, db, k)
        np.testing.assert_array_equal(ids, expected_ids, err_msg=f"{bits} bits, n={n}, k={k}")
        np.testing.assert_array_equal(distances, expected_distances)


@pytest.mark.parametrize("threads", [1, 2])
def test_faiss_flat_equals_numpy_ties_included(threads):
    """faiss IndexBinaryFlat keeps tied codes in insertion order (heap for small k, else not)."""
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(threads)
    try:
        for bits, n, k in [(4, 3000, 1), (8, 3000, 10), (8, 2000, 2000), (16, 5000, 300), (64, 2000, 100)]:
            rng = np.random.default_rng(n + bits)
            db, queries = random_bits(rng, n, bits), random_bits(rng, 64, bits)
            got = build("faiss", bits, db, chunks=2).search(queries, k)
            expected = build("numpy", bits, db).search(queries, k)
            np.testing.assert_array_equal(got[1], expected[1], err_msg=f"{bits} bits, n={n}, k={k}")
            np.testing.assert_array_equal(got[0], expected[0])
    finally:
        faiss.omp_set_num_threads(previous)


@pytest.mark.parametrize(
    ("backend", "params"),
    [("faiss_ivf", {"nlist": 8, "nprobe": 2}), ("faiss_mih", {"nhash": 2, "b": 8, "nflip": 1})],
)
def test_approximate_results_are_true_distances_in_order(backend, params):
    rng = np.random.default_rng(1)
    bits, k = 16, 50
    db, queries = random_bits(rng, 2000, bits), random_bits(rng, 50, bits)
    distances, ids = build(backend, bits, db, **params).search(queries, k)
    found = distances >= 0
    assert found.any()
    assert (ids[~found] == MISSING).all() and (distances[~found] == MISSING).all()
    # Filled slots come first, with their true distance, sorted by (distance, position).
    assert (np.diff(found.astype(int), axis=1) <= 0).all()
    np.testing.assert_array_equal(
        distances[found], true_distances(queries, db, np.where(found, ids, 0))[found]
    )
    key = np.where(found, distances * len(db) + ids, np.iinfo(np.int64).max)
    assert (np.diff(key, axis=1) > 0).all()
    # Never better than exact: the i-th distance is at least the exact i-th distance.
    exact_distances, _ = brute_force(queries, db, k)
    assert (distances[found] >= exact_distances[found]).all()


@pytest.mark.parametrize(
    ("backend", "params"),
    [("faiss_ivf", {"nlist": 8, "nprobe": 8}), ("faiss_mih", {"nhash": 2, "b": 6, "nflip": 6})],
)
def test_approximate_backends_scanning_everything_find_exact_distances(backend, params):
    """nprobe = nlist (every list) or nflip = b (every bucket) makes the search exhaustive.

    Which of several codes tied at the k-th distance is returned then depends on scan order, so
    the distances are compared exactly and the ids up to that boundary.
    """
    rng = np.random.default_rng(2)
    bits, k = 12, 40
    db, queries = random_bits(rng, 1500, bits), random_bits(rng, 30, bits)
    distances, ids = build(backend, bits, db, **params).search(queries, k)
    expected_distances, expected_ids = brute_force(queries, db, k)
    np.testing.assert_array_equal(distances, expected_distances)
    inside = expected_distances < expected_distances[:, -1:]
    np.testing.assert_array_equal(ids[inside], expected_ids[inside])


def test_multi_hash_reports_unfound_neighbours_as_missing():
    """nflip = 0 looks up exact substring matches only: some queries get fewer than k codes."""
    rng = np.random.default_rng(3)
    db, queries = random_bits(rng, 300, 32), random_bits(rng, 20, 32)
    distances, ids = build("faiss_mih", 32, db, nflip=0).search(queries, 10)
    assert distances.shape == (20, 10)
    assert (distances == MISSING).any()
    assert distances.max() <= 32  # faiss's 2**31 − 1 "no result" distance never leaks out
    assert ((distances == MISSING) == (ids == MISSING)).all()


def test_multi_hash_finds_everything_within_its_radius():
    """Pigeonhole: with nhash tables and nflip flips, all codes within nhash·(nflip+1) − 1 are found."""
    rng = np.random.default_rng(4)
    bits, nhash, nflip = 32, 4, 1
    db, queries = random_bits(rng, 3000, bits), random_bits(rng, 30, bits)
    index = build("faiss_mih", bits, db, nhash=nhash, b=8, nflip=nflip)
    distances, _ = index.search(queries, 3000)
    exact, _ = brute_force(queries, db, 3000)
    radius = nhash * (nflip + 1) - 1
    for row in range(len(queries)):
        found = (distances[row] >= 0) & (distances[row] <= radius)
        assert found.sum() == (exact[row] <= radius).sum()


def test_ivf_trains_on_first_search_and_keeps_adding():
    rng = np.random.default_rng(5)
    db = random_bits(rng, 800, 16)
    index = build("faiss_ivf", 16, db[:600], nprobe=1000)
    assert index.backend_params["nlist"] is None
    index.search(db[:1], 1)
    assert index.backend_params["nlist"] == min(round(600**0.5), 600 // 39)
    index.add(db[600:])
    distances, _ = index.search(db[600:], 1)
    assert (distances[:, 0] == 0).all()
    assert len(index) == 800


def test_bad_backend_settings_are_refused():
    for backend, params, match in [
        ("annoy", {}, "unknown backend"),
        ("faiss_mih", {"nhash": 3, "b": 8}, "nhash\\*b"),
        ("faiss_mih", {"nflip": 9, "nhash": 2, "b": 8}, "nflip"),
        ("faiss_ivf", {"nprobe": 0}, "nprobe"),
        ("faiss_ivf", {"nlist": 0}, "nlist"),
        ("faiss_ivf", {"nflip": 1}, r"takes parameters \['nlist', 'nprobe'\]"),
    ]:
        with pytest.raises(ValueError, match=match):
            HammingIndex(16, backend, **params)


def test_ivf_with_more_lists_than_codes_is_refused():
    index = HammingIndex(16, "faiss_ivf", nlist=50)
    index.add(np.zeros((10, 16), np.uint8))
    with pytest.raises(ValueError, match="needs at least 50 codes"):
        index.search(np.zeros((1, 16), np.uint8), 1)


def test_search_params_change_only_approximate_backends():
    with pytest.raises(ValueError, match="no search parameters"):
        HammingIndex(8).set_search_params(nprobe=3)
    index = HammingIndex(8, "faiss_ivf")
    index.set_search_params(nprobe=3)
    assert index.backend_params["nprobe"] == 3
