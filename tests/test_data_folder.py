"""`--dataset folder`: images with a label file, sub-folders, bad files and explicit lists."""

import os

import numpy as np
import pytest
from fixtures_data import (
    fake_config,
    write_image,
)

from dmrh_tf.data import load_splits
from dmrh_tf.data.folder import load_folder
from dmrh_tf.data.label_file import read_label_file


def _images(root, names, seed=0):
    rng = np.random.default_rng(seed)
    for i, name in enumerate(names):
        write_image(os.path.join(root, name), rng.integers(0, 256, (10 + i % 3, 12, 3), np.uint8))


def test_csv_names_multi_label_with_header(tmp_path):
    names = [f"img/{i}.png" for i in range(12)]
    _images(str(tmp_path), names)
    rows = ["path,labels"] + [f"{n},{'cat|dog' if i % 3 == 0 else 'dog'}" for i, n in enumerate(names)]
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    splits = load_folder(fake_config(data_dir=str(tmp_path), query_size=3, seed=1))
    assert splits.classes == ("cat", "dog")
    assert splits.sizes() == {"train": 9, "query": 3, "database": 9}
    everything = dict(zip(splits.train.ids, splits.train.labels)) | dict(
        zip(splits.query.ids, splits.query.labels)
    )
    assert sorted(everything) == sorted(names)
    assert everything["img/3.png"].tolist() == [1, 1] and everything["img/4.png"].tolist() == [0, 1]
    assert splits.train.images[0] == os.path.join(str(tmp_path), splits.train.ids[0])


def test_label_file_forms(tmp_path):
    indices = tmp_path / "a.txt"
    indices.write_text("# comment\nx.png 0 3\ny.png 1\n")
    found = read_label_file(str(indices))
    assert found.form == "indices" and found.labels.tolist() == [[1, 0, 0, 1], [0, 1, 0, 0]]
    multihot = tmp_path / "b.txt"
    multihot.write_text("x.png 0 1 1\ny.png 1 0 0\n")
    found = read_label_file(str(multihot))
    assert found.form == "multi-hot" and found.labels.tolist() == [[0, 1, 1], [1, 0, 0]]
    numbers = tmp_path / "c.csv"
    numbers.write_text('"a,b.png",10|2\nc.png,2\n')
    found = read_label_file(str(numbers))
    assert found.paths.tolist() == ["a,b.png", "c.png"] and found.classes == ("2", "10")
    bad = tmp_path / "d.txt"
    bad.write_text("x.png cat\n")
    with pytest.raises(ValueError, match=r"d\.txt:1"):
        read_label_file(str(bad))


def test_two_class_one_hot_lines_need_the_form_stated(tmp_path):
    """`a 1 0` / `b 0 1` is multi-hot over two classes or the indices 0 and 1 (both images in both
    classes, so every pair is similar): refused until a `# form:` line says which."""
    lines = "a.jpg 1 0\nb.jpg 0 1\n"
    ambiguous = tmp_path / "labels.txt"
    ambiguous.write_text(lines)
    with pytest.raises(
        ValueError, match=r"labels\.txt: .*make the first line `# form: multi-hot` or `# form: indices`"
    ):
        read_label_file(str(ambiguous))
    with pytest.raises(ValueError, match="# form: multi-hot"):
        load_folder(fake_config(data_dir=str(tmp_path), query_size=1))
    stated = tmp_path / "stated.txt"
    stated.write_text("# my two classes\n# form: multi-hot\n" + lines)
    found = read_label_file(str(stated))
    assert found.form == "multi-hot" and found.labels.tolist() == [[1, 0], [0, 1]]
    stated.write_text("# FORM: indices\n" + lines)
    found = read_label_file(str(stated))
    assert found.form == "indices" and found.labels.tolist() == [[1, 1], [1, 1]]
    repeats = tmp_path / "repeats.txt"  # a repeated value settles it: multi-hot
    repeats.write_text(lines + "c.jpg 1 1\n")
    assert read_label_file(str(repeats)).labels.tolist() == [[1, 0], [0, 1], [1, 1]]


def test_multi_hot_lines_of_different_widths_fail_naming_the_line(tmp_path):
    """One line short by a value used to make the whole file class indices 0 and 1."""
    short = tmp_path / "short.txt"
    short.write_text("a.jpg 0 1 0\nb.jpg 1 0 0\nc.jpg 0 1\n")
    with pytest.raises(ValueError, match=r"short\.txt:3: .*\(3 on most lines\), got 2.*`# form: indices`"):
        read_label_file(str(short))
    short.write_text("# form: indices\na.jpg 0 1 0\nb.jpg 1 0 0\nc.jpg 0 1\n")
    assert read_label_file(str(short)).labels.tolist() == [[1, 1], [1, 1], [1, 1]]
    short.write_text("# form: multi-hot\na.jpg 0 2\n")
    with pytest.raises(ValueError, match=r"short\.txt:2: multi-hot lines hold one 0/1 per class"):
        read_label_file(str(short))


def test_the_form_line_is_checked(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("# form: onehot\na.jpg 1 0\n")
    with pytest.raises(ValueError, match=r"labels\.txt:1: unknown form 'onehot'.*`# form: multi-hot`"):
        read_label_file(str(path))
    path.write_text("a.jpg 1 0\n# form: multi-hot\nb.jpg 0 1\n")
    with pytest.raises(ValueError, match=r"labels\.txt:2: .*before the first image line"):
        read_label_file(str(path))
    path.write_text("# form: csv\na.jpg,cat|dog\n")
    assert read_label_file(str(path)).classes == ("cat", "dog")


def test_class_subfolders_when_there_is_no_label_file(tmp_path):
    _images(str(tmp_path), [f"{c}/{i}.png" for c in ("b", "a") for i in range(5)])
    splits = load_folder(fake_config(data_dir=str(tmp_path), query_size=2))
    assert splits.classes == ("a", "b") and splits.sizes()["query"] == 2
    assert splits.query.labels.sum(0).tolist() == [1, 1]  # class-stratified hold-out
    assert splits.provenance["labels"] == "sub-folders"


def test_missing_listed_image_fails_before_training(tmp_path):
    _images(str(tmp_path), ["a.png", "b.png"])
    (tmp_path / "labels.txt").write_text("a.png 0\nb.png 1\nc.png 1\n")
    with pytest.raises(FileNotFoundError, match=r"c\.png.*does not match the images"):
        load_folder(fake_config(data_dir=str(tmp_path), query_size=1))


def test_corrupt_images_are_skipped_and_counted_or_fail(tmp_path):
    names = [f"{i}.png" for i in range(6)]
    _images(str(tmp_path), names)
    (tmp_path / "5.png").write_bytes(b"\x89PNG broken")
    (tmp_path / "labels.txt").write_text("".join(f"{n} {i % 2}\n" for i, n in enumerate(names)))
    splits = load_folder(fake_config(data_dir=str(tmp_path), query_size=1))
    assert len(splits.train) + len(splits.query) == 5
    assert splits.provenance["skipped"]["corrupt"] == 1
    with pytest.raises(ValueError, match="do not decode"):
        load_folder(fake_config(data_dir=str(tmp_path), query_size=1, skip_corrupt=False))


def test_unlabelled_images_are_dropped_and_an_explicit_label_file_is_used(tmp_path):
    _images(str(tmp_path), ["a.png", "b.png", "c.png", "d.png"])
    elsewhere = tmp_path / "lists" / "mine.csv"
    elsewhere.parent.mkdir()
    elsewhere.write_text("a.png,x\nb.png,\nc.png,y\nd.png,x|y\n")
    splits = load_folder(fake_config(data_dir=str(tmp_path), label_file=str(elsewhere), query_size=1))
    assert len(splits.train) + len(splits.query) == 3
    assert splits.provenance["skipped"]["without_labels"] == 1


def test_no_folder_or_no_labels_explain_the_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match="--data-dir <folder>"):
        load_folder(fake_config(data_dir=None))
    with pytest.raises(FileNotFoundError, match="no label file and no class sub-folders"):
        load_folder(fake_config(data_dir=str(tmp_path)))


def test_explicit_query_and_database_lists(tmp_path):
    names = [f"{i}.png" for i in range(8)]
    _images(str(tmp_path), names)
    (tmp_path / "labels.txt").write_text("".join(f"{n} {i % 2}\n" for i, n in enumerate(names)))
    lists = tmp_path / "split"
    lists.mkdir()
    (lists / "train.tsv").write_text("0.png\n1.png\n2.png\n3.png\n")
    (lists / "query.tsv").write_text("6.png\t0\n7.png\t1\n")
    (lists / "database.tsv").write_text("0.png\n1.png\n2.png\n3.png\n4.png\n5.png\n")
    splits = load_splits(fake_config(dataset="folder", data_dir=str(tmp_path), splits_dir=str(lists)))
    assert splits.sizes() == {"train": 4, "query": 2, "database": 6}
    assert splits.query.ids.tolist() == ["6.png", "7.png"]
