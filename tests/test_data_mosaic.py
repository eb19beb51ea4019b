"""Mosaic: g×g grids of single-label images, labels = union, rebuilt exactly from split lists."""

import os

import numpy as np
import pytest
from fixtures_data import (
    fake_config,
    write_fashion_idx,
    write_image,
)

from dmrh_tf.data import load_splits, write_split_lists
from dmrh_tf.data.mosaic import compose_mosaics, load_mosaic, parse_mosaic_id
from dmrh_tf.data.splits import Split


def test_compose_places_cells_row_major_and_unions_labels():
    images = np.arange(1, 4, dtype=np.uint8)[:, None, None, None] * np.ones((3, 2, 2, 1), np.uint8)
    labels = np.eye(3, dtype=np.float32)
    base = Split(np.array(["a", "b", "c"]), labels, images)
    mosaic = compose_mosaics(base, np.array([[0, -1, 2, 2]]), grid=2)
    # cells: top-left a (1), top-right empty (0), bottom-left c (3), bottom-right c (3)
    expected = np.array([[1, 1, 0, 0], [1, 1, 0, 0], [3, 3, 3, 3], [3, 3, 3, 3]], np.uint8)
    np.testing.assert_array_equal(mosaic.images[0, ..., 0], expected)
    assert mosaic.labels[0].tolist() == [1, 0, 1]
    assert mosaic.ids[0] == "mosaic2x2:a|-|c|c"
    assert parse_mosaic_id(mosaic.ids[0]) == (2, ["a", None, "c", "c"])


@pytest.fixture(scope="module")
def idx_dir(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("fashion"))
    write_fashion_idx(directory, n_train=40, n_test=20)
    return directory


def _folder(idx_dir):
    root = os.path.join(idx_dir, "folder")
    for c in ("a", "b"):
        for i in range(3):
            write_image(os.path.join(root, c, f"{i}.png"), np.zeros((4, 4, 3), np.uint8))
    return root


def _config(idx_dir, **values):
    values = {"data_dir": idx_dir, "train_size": 30, "query_size": 12, "seed": 3, **values}
    return fake_config(dataset="mosaic", **values)


def test_mosaic_over_fashion_mnist_is_multi_label_and_seeded(idx_dir):
    splits = load_mosaic(_config(idx_dir))
    assert splits.sizes() == {"train": 30, "query": 12, "database": 30}
    assert splits.train.images.shape[1:] == (56, 56, 1) and splits.num_classes == 10
    assert splits.train.labels.sum(1).min() >= 1 and splits.train.labels.sum(1).max() <= 4
    assert len(set(splits.train.ids)) == 30
    for item in splits.query.ids:  # queries are made of test images only
        cells = parse_mosaic_id(item)[1]
        assert all(c is None or c.startswith("fashion_mnist:test:") for c in cells)
    again = load_mosaic(_config(idx_dir))
    np.testing.assert_array_equal(splits.train.images, again.train.images)
    other = load_mosaic(_config(idx_dir, seed=4))
    assert not np.array_equal(splits.train.ids, other.train.ids)


def test_mosaic_lists_rebuild_the_same_images(idx_dir, tmp_path):
    first = load_mosaic(_config(idx_dir, mosaic_grid=3))
    write_split_lists(first, str(tmp_path))
    again = load_splits(_config(idx_dir, mosaic_grid=3, splits_dir=str(tmp_path), seed=9))
    np.testing.assert_array_equal(first.query.images, again.query.images)
    np.testing.assert_array_equal(first.train.labels, again.train.labels)
    assert again.train.images.shape[1:] == (84, 84, 1)
    with pytest.raises(ValueError, match="3x3 mosaic; mosaic_grid is 2"):
        load_mosaic(_config(idx_dir, splits_dir=str(tmp_path)))


def test_mosaic_needs_an_in_memory_base(idx_dir):
    with pytest.raises(ValueError, match="mosaic_base must be one of"):
        load_mosaic(_config(idx_dir, mosaic_base="mosaic"))
    with pytest.raises(ValueError, match="reads its images from disk"):
        load_mosaic(_config(idx_dir, mosaic_base="folder", data_dir=_folder(idx_dir)))
