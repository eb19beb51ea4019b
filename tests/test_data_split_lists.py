"""Split list files: written for every run, read back, and checked against the data."""

import hashlib
import json
import os

import numpy as np
import pytest
from fixtures_data import (
    fake_config,
)

from dmrh_tf.data import load_splits
from dmrh_tf.data.split_lists import read_split_lists, splits_from_lists, write_split_lists
from dmrh_tf.data.synthetic import generate, load_synthetic


@pytest.fixture(scope="module")
def synthetic():
    return load_synthetic(train_size=40, query_size=10, seed=0)


def _pools(splits):
    return [splits.train, splits.query]


def test_write_then_read_back_the_same_splits(tmp_path, synthetic):
    manifest = write_split_lists(synthetic, str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == [
        "database.tsv",
        "manifest.json",
        "query.tsv",
        "train.tsv",
    ]
    digest = hashlib.sha256((tmp_path / "query.tsv").read_bytes()).hexdigest()
    assert manifest["files"]["query"]["sha256"] == digest
    assert manifest["database_is_train"] and manifest["sizes"] == synthetic.sizes()
    again = splits_from_lists("synthetic", _pools(synthetic), str(tmp_path))
    for name in ("train", "query"):
        a, b = getattr(synthetic, name), getattr(again, name)
        np.testing.assert_array_equal(a.ids, b.ids)
        np.testing.assert_array_equal(a.labels, b.labels)
        np.testing.assert_array_equal(a.images, b.images)
    assert again.database is again.train
    assert again.provenance["split"] == "lists"
    assert again.provenance["lists"]["sha256"]["query"] == digest


def test_list_lines_are_id_tab_class_indices(tmp_path, synthetic):
    write_split_lists(synthetic, str(tmp_path))
    lines = (tmp_path / "train.tsv").read_text().splitlines()
    assert lines[0] == "# dmrh_tf split list v1"
    first = next(line for line in lines if not line.startswith("#"))
    item, labels = first.split("\t")
    assert item == synthetic.train.ids[0]
    assert [int(c) for c in labels.split()] == np.flatnonzero(synthetic.train.labels[0]).tolist()


def test_hand_written_lists_ids_only_any_order_no_database(tmp_path, synthetic):
    ids = synthetic.train.ids
    (tmp_path / "train.tsv").write_text(f"{ids[5]}\n{ids[2]}\n{synthetic.query.ids[0]}\n")
    (tmp_path / "query.tsv").write_text("\n".join(synthetic.query.ids[3:6]) + "\n")
    splits = splits_from_lists("synthetic", _pools(synthetic), str(tmp_path))
    assert splits.train.ids.tolist() == [ids[5], ids[2], synthetic.query.ids[0]]
    np.testing.assert_array_equal(splits.train.images[1], synthetic.train.images[2])
    assert splits.database is splits.train and len(splits.query) == 3


def test_a_list_that_does_not_match_the_data_fails(tmp_path, synthetic):
    write_split_lists(synthetic, str(tmp_path))
    path = tmp_path / "query.tsv"
    lines = path.read_text().splitlines()
    item, _ = lines[-1].split("\t")
    path.write_text("\n".join([*lines[:-1], f"{item}\t0 1 2 3 4 5 6 7"]) + "\n")
    with pytest.raises(ValueError, match="does not match the data"):
        splits_from_lists("synthetic", _pools(synthetic), str(tmp_path))
    path.write_text("synthetic-query:999\t0\n")
    with pytest.raises(ValueError, match="not in the data set"):
        splits_from_lists("synthetic", _pools(synthetic), str(tmp_path))


def test_lists_of_another_data_set_or_missing_files_fail(tmp_path, synthetic):
    write_split_lists(synthetic, str(tmp_path))
    with pytest.raises(ValueError, match="written for data set 'synthetic'"):
        splits_from_lists("cifar10", _pools(synthetic), str(tmp_path))
    os.remove(tmp_path / "query.tsv")
    with pytest.raises(FileNotFoundError, match=r"query\.tsv"):
        read_split_lists(str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"train\.tsv and query\.tsv"):
        read_split_lists(str(tmp_path / "nowhere"))


def test_repeated_ids_and_bad_labels_are_rejected(tmp_path):
    (tmp_path / "train.tsv").write_text("a\t1\na\t1\n")
    (tmp_path / "query.tsv").write_text("b\t1\n")
    with pytest.raises(ValueError, match="repeat"):
        read_split_lists(str(tmp_path))
    (tmp_path / "train.tsv").write_text("a\tcat\n")
    with pytest.raises(ValueError, match="class indices"):
        read_split_lists(str(tmp_path))


def test_load_splits_honours_splits_dir_for_the_generated_set(tmp_path):
    config = fake_config(dataset="synthetic", train_size=30, query_size=8, seed=2)
    first = load_splits(config)
    write_split_lists(first, str(tmp_path))
    # keep every second training image: the lists, not the sizes, decide
    lines = (tmp_path / "train.tsv").read_text().splitlines()
    header = [line for line in lines if line.startswith("#")]
    rows = [line for line in lines if not line.startswith("#")][::2]
    (tmp_path / "train.tsv").write_text("\n".join(header + rows) + "\n")
    os.remove(tmp_path / "database.tsv")
    again = load_splits(fake_config(dataset="synthetic", seed=5, splits_dir=str(tmp_path)))
    assert again.sizes() == {"train": 15, "query": 8, "database": 15}
    np.testing.assert_array_equal(again.train.images, first.train.images[::2])
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["provenance"]["generated"] == {"train": 30, "query": 8, "seed": 2}


def test_generate_is_deterministic_so_lists_rebuild_it():
    a, b = generate(5, 7, "p"), generate(5, 7, "p")
    np.testing.assert_array_equal(a.images, b.images)
