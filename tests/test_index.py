"""`HammingIndex`: ids, input checks, save/load (atomic) and agreement with the evaluation module."""

import os
import zipfile

import numpy as np
import pytest

from dmrh_tf.index import BACKENDS, HammingIndex

pytestmark = pytest.mark.usefixtures("one_faiss_thread")

# Backends that need no server or settings; the milvus backend has its own tests
# (tests/test_index_milvus.py), which repeat these checks on Milvus Lite.
IN_PROCESS = sorted(name for name, backend in BACKENDS.items() if not backend.holds_rows)


def signs(rng, n, bits):
    return rng.choice(np.array([-1, 1], np.int8), (n, bits))


def test_user_ids_follow_their_codes_and_ties_keep_insertion_order():
    """Ids [100, 99, …]: ties must come out in insertion order, not in id order."""
    rng = np.random.default_rng(0)
    db, queries = signs(rng, 400, 6), signs(rng, 25, 6)
    ids = np.arange(100, 100 - 400, -1)
    reference = HammingIndex(6, "numpy")
    reference.add(db)
    expected_distances, positions = reference.search(queries, 30)
    for backend in ("faiss", "numpy"):
        index = HammingIndex(6, backend)
        index.add(db[:150], ids[:150])
        index.add(db[150:], ids[150:])
        distances, got = index.search(queries, 30)
        np.testing.assert_array_equal(got, ids[positions])
        np.testing.assert_array_equal(distances, expected_distances)


def test_default_ids_are_insertion_positions():
    index = HammingIndex(8)
    index.add(np.eye(8, dtype=np.uint8))
    index.add(np.eye(8, dtype=np.uint8)[:3])
    np.testing.assert_array_equal(index.ids, np.arange(11))
    assert len(index) == 11


def test_fewer_codes_than_k_gives_fewer_columns():
    for backend in IN_PROCESS:
        index = HammingIndex(16, backend)
        index.add(signs(np.random.default_rng(1), 5, 16), ids=[7, 3, 9, 1, 4])
        distances, ids = index.search(signs(np.random.default_rng(2), 3, 16), 10)
        assert distances.shape == ids.shape == (3, 5), backend
        assert distances.dtype == np.int32 and ids.dtype == np.int64
        if index.exact:
            assert sorted(ids[0]) == [1, 3, 4, 7, 9]


def test_empty_query_batch():
    index = HammingIndex(8)
    index.add(np.ones((4, 8), np.int8))
    distances, ids = index.search(np.zeros((0, 8), np.int8), 3)
    assert distances.shape == ids.shape == (0, 3)


def test_bad_k_and_empty_index_are_refused():
    index = HammingIndex(8)
    index.add(np.ones((4, 8), np.int8))
    for k in (0, -1, 2.5, True, None, "3"):
        with pytest.raises(ValueError, match="k must be a positive integer"):
            index.search(np.ones((1, 8), np.int8), k)
    for backend in IN_PROCESS:
        with pytest.raises(ValueError, match="index is empty"):
            HammingIndex(8, backend).search(np.ones((1, 8), np.int8), 1)


def test_queries_of_another_code_length_are_refused():
    index = HammingIndex(48)
    index.add(np.ones((4, 48), np.int8))
    with pytest.raises(ValueError, match=r"the index holds 48-bit codes.*got width 64"):
        index.search(np.ones((1, 64), np.int8), 1)
    with pytest.raises(ValueError, match="the index holds 48-bit codes"):
        index.search(np.ones((1, 8), np.uint8), 1)  # 8 packed bytes = 64 bits


def test_bad_ids_are_refused_and_leave_the_index_unchanged():
    index = HammingIndex(8)
    index.add(np.ones((3, 8), np.int8))
    for ids, error, match in [
        ([0, 1, 1], ValueError, "duplicates"),
        ([5, 6, 2], ValueError, "id 2 is already in the index"),
        ([0, 1], ValueError, "shape"),
        ([0.0, 1.0, 2.0], TypeError, "integers"),
        (np.array([2**63, 3, 4], np.uint64), ValueError, "int64"),
    ]:
        with pytest.raises(error, match=match):
            index.add(np.ones((3, 8), np.int8), ids)
    assert len(index) == 3


@pytest.mark.parametrize("backend", IN_PROCESS)
def test_save_load_round_trip(tmp_path, backend):
    rng = np.random.default_rng(3)
    db, queries = signs(rng, 600, 12), signs(rng, 20, 12)
    index = HammingIndex(12, backend, metadata={"model": {"sha256": "abc"}, "paths": ["a", "b"]})
    index.add(db, ids=np.arange(600) * 3)
    before = index.search(queries, 15)
    path = tmp_path / "codes.index"
    index.save(path)
    loaded = HammingIndex.load(path, bits=12)
    assert (loaded.bits, loaded.backend, len(loaded)) == (12, backend, 600)
    assert loaded.backend_params == index.backend_params
    assert loaded.metadata == index.metadata
    for got, expected in zip(loaded.search(queries, 15), before, strict=True):
        np.testing.assert_array_equal(got, expected)
    loaded.add(db[:5], ids=[-1, -2, -3, -4, -5])  # a loaded index keeps growing
    distances, ids = loaded.search(db[:1], 2)
    assert list(distances[0]) == [0, 0] and list(ids[0]) == [0, -1]


def test_empty_index_round_trip(tmp_path):
    for backend in IN_PROCESS:
        HammingIndex(8, backend).save(tmp_path / backend)
        assert len(HammingIndex.load(tmp_path / backend)) == 0


def test_load_refuses_another_code_length_and_other_files(tmp_path):
    HammingIndex(48).save(tmp_path / "index")
    with pytest.raises(ValueError, match="holds 48-bit codes, expected 64-bit"):
        HammingIndex.load(tmp_path / "index", bits=64)
    (tmp_path / "text").write_text("not an index")
    with pytest.raises(ValueError, match="not a dmrh_tf index file"):
        HammingIndex.load(tmp_path / "text")
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as archive:
        archive.writestr("meta.json", "{}")
    with pytest.raises(ValueError, match="not a dmrh_tf index file"):
        HammingIndex.load(tmp_path / "other.zip")


def test_interrupted_save_keeps_the_previous_index(tmp_path, monkeypatch):
    path = tmp_path / "index"
    old = HammingIndex(8)
    old.add(np.ones((2, 8), np.int8))
    old.save(path)
    new = HammingIndex(8)
    new.add(np.ones((5, 8), np.int8))
    real_writestr = zipfile.ZipFile.writestr

    def fail_on_codes(archive, name, data, *args, **kwargs):
        if name == "backend.bin":
            raise KeyboardInterrupt
        return real_writestr(archive, name, data, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", fail_on_codes)
    with pytest.raises(KeyboardInterrupt):
        new.save(path)
    monkeypatch.undo()
    assert len(HammingIndex.load(path)) == 2
    assert os.listdir(tmp_path) == ["index"]  # no temporary file left behind


def test_map_through_the_index_equals_the_evaluation_module():
    """mAP@K from the index's rankings equals `map_at_k` (same tie rule: database order)."""
    evaluation = pytest.importorskip("dmrh_tf.evaluation")
    rng = np.random.default_rng(4)
    db, queries = signs(rng, 1000, 8), signs(rng, 50, 8)
    db_labels, query_labels = rng.integers(0, 5, 1000), rng.integers(0, 5, 50)
    expected_ranking, _ = evaluation.hamming_ranking(queries, db, 100)
    expected_map = evaluation.map_at_k(queries, db, query_labels, db_labels, 100)
    for backend in ("faiss", "numpy"):
        index = HammingIndex(8, backend)
        index.add(db)
        _, ids = index.search(queries, 100)
        np.testing.assert_array_equal(ids, expected_ranking)
        assert evaluation.map_from_ranking(ids, query_labels, db_labels) == expected_map
