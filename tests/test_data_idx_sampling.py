"""IDX reading and deterministic subsets (`dmrh_tf.data.idx`, `dmrh_tf.data.sampling`)."""

import gzip
import os

import numpy as np
import pytest
from fixtures_data import (
    write_idx,
)

from dmrh_tf.data.idx import find_idx_file, read_idx
from dmrh_tf.data.sampling import hold_out, is_single_label, subset_indices


@pytest.mark.parametrize("name", ["a-idx3-ubyte", "a-idx3-ubyte.gz"])
def test_read_idx_round_trip_gz_and_raw(tmp_path, name):
    images = np.random.default_rng(0).integers(0, 256, (5, 4, 3), dtype=np.uint8)
    path = write_idx(str(tmp_path / name), images)
    np.testing.assert_array_equal(read_idx(path), images)


def test_read_idx_big_endian_int32(tmp_path):
    values = np.array([1, -2, 70000], np.int32)
    out = read_idx(write_idx(str(tmp_path / "v.idx"), values))
    assert out.dtype == np.int32 and out.tolist() == [1, -2, 70000]


def test_read_idx_detects_gzip_by_content_not_name(tmp_path):
    path = write_idx(str(tmp_path / "plain-name"), np.arange(6, dtype=np.uint8), compress=True)
    assert read_idx(path).tolist() == list(range(6))


def test_read_idx_rejects_truncated_and_foreign_files(tmp_path):
    path = write_idx(str(tmp_path / "t.gz"), np.zeros((4, 3), np.uint8))
    with gzip.open(path) as f:
        data = f.read()
    with gzip.open(path, "wb") as f:
        f.write(data[:-2])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(path)
    other = tmp_path / "x.txt"
    other.write_text("hello world")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(str(other))


def test_find_idx_file_spellings(tmp_path):
    base = "train-images-idx3-ubyte"
    assert find_idx_file(str(tmp_path), base) is None
    (tmp_path / "train-images.idx3-ubyte").write_bytes(b"")
    assert find_idx_file(str(tmp_path), base).endswith("train-images.idx3-ubyte")
    (tmp_path / f"{base}.gz").write_bytes(b"")
    assert os.path.basename(find_idx_file(str(tmp_path), base)) == f"{base}.gz"


def _one_hot(classes, num_classes):
    return np.eye(num_classes, dtype=np.float32)[classes]


def test_subset_is_class_stratified_sorted_and_seeded():
    labels = _one_hot(np.repeat(np.arange(4), [40, 30, 20, 10]), 4)
    rows = subset_indices(labels, 10, seed=0, purpose="train")
    assert np.all(np.diff(rows) > 0)
    # 10 of 100 in proportion 40:30:20:10 → exactly 4, 3, 2, 1
    assert labels[rows].sum(0).tolist() == [4, 3, 2, 1]
    np.testing.assert_array_equal(rows, subset_indices(labels, 10, 0, "train"))
    assert not np.array_equal(rows, subset_indices(labels, 10, 1, "train"))
    assert not np.array_equal(rows, subset_indices(labels, 10, 0, "query"))


def test_subset_rounds_by_largest_remainder():
    labels = _one_hot(np.repeat(np.arange(3), [5, 3, 2]), 3)
    # quotas 3.5, 2.1, 1.4 → floors 3, 2, 1 and the spare slot to the largest remainder (class 0)
    assert labels[subset_indices(labels, 7, 0, "train")].sum(0).tolist() == [4, 2, 1]


def test_subset_of_multi_label_is_simple_random_and_none_keeps_all():
    labels = np.array([[1, 1], [1, 0], [0, 1], [1, 1], [0, 1]], np.float32)
    assert not is_single_label(labels)
    rows = subset_indices(labels, 3, 5, "query")
    assert len(rows) == 3 and len(set(rows)) == 3
    np.testing.assert_array_equal(subset_indices(labels, None, 0, "train"), np.arange(5))
    np.testing.assert_array_equal(subset_indices(labels, 99, 0, "train"), np.arange(5))


def test_hold_out_partitions_the_pool():
    labels = _one_hot(np.arange(50) % 5, 5)
    query, rest = hold_out(labels, 10, seed=3)
    assert len(query) == 10 and labels[query].sum(0).tolist() == [2] * 5
    assert sorted(np.concatenate([query, rest]).tolist()) == list(range(50))
    with pytest.raises(ValueError, match="query_size"):
        hold_out(labels, 50, seed=0)
