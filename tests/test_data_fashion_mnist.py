"""Fashion-MNIST: generated IDX files, TFDS mock data, and the real Debian files when installed."""

import os

import numpy as np
import pytest
from fixtures_data import (
    fake_config,
    write_fashion_idx,
    write_idx,
)

from dmrh_tf.data import load_splits
from dmrh_tf.data.fashion_mnist import DEBIAN_DIR, load_fashion_mnist


@pytest.mark.parametrize("gz", [True, False])
def test_idx_files_give_the_protocol(tmp_path, gz):
    arrays = write_fashion_idx(str(tmp_path), n_train=40, n_test=20, gz=gz)
    splits = load_fashion_mnist(fake_config(data_dir=str(tmp_path)))
    assert splits.sizes() == {"train": 40, "query": 20, "database": 40}
    assert splits.database is splits.train and splits.num_classes == 10
    assert splits.classes[0] == "T-shirt/top" and splits.provenance["source"] == "idx"
    np.testing.assert_array_equal(splits.train.images[..., 0], arrays["train-images-idx3-ubyte"])
    assert splits.train.images.dtype == np.uint8 and splits.train.images.shape[1:] == (28, 28, 1)
    assert splits.query.labels.argmax(1).tolist() == (np.arange(20) % 10).tolist()
    assert splits.train.ids[3] == "fashion_mnist:train:3"
    assert splits.query.ids[0] == "fashion_mnist:test:0"


def test_sizes_take_seeded_class_stratified_subsets(tmp_path):
    write_fashion_idx(str(tmp_path), n_train=40, n_test=20)
    config = fake_config(data_dir=str(tmp_path), train_size=20, query_size=10, seed=4)
    splits = load_fashion_mnist(config)
    assert splits.sizes() == {"train": 20, "query": 10, "database": 20}
    assert splits.train.labels.sum(0).tolist() == [2] * 10
    assert splits.query.labels.sum(0).tolist() == [1] * 10
    assert "class-stratified" in splits.provenance["subsets"]["train"]
    again = load_fashion_mnist(config)
    np.testing.assert_array_equal(splits.train.ids, again.train.ids)


def test_missing_files_say_what_to_install(tmp_path):
    write_fashion_idx(str(tmp_path))
    os.remove(tmp_path / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(FileNotFoundError, match=r"t10k-labels-idx1-ubyte.*apt-get install"):
        load_fashion_mnist(fake_config(data_dir=str(tmp_path)))
    with pytest.raises(FileNotFoundError, match="not a folder"):
        load_fashion_mnist(fake_config(data_dir=str(tmp_path / "absent")))


def test_labels_that_do_not_match_the_images_fail(tmp_path):
    write_fashion_idx(str(tmp_path), n_train=40)
    write_idx(str(tmp_path / "train-labels-idx1-ubyte.gz"), np.zeros(39, np.uint8))
    with pytest.raises(ValueError, match="same n"):
        load_fashion_mnist(fake_config(data_dir=str(tmp_path)))


def test_tfds_route_when_the_folder_has_no_idx_files(tmp_path):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=12):
        splits = load_fashion_mnist(fake_config(data_dir=str(tmp_path), train_size=10))
    assert splits.sizes() == {"train": 10, "query": 12, "database": 10}
    assert splits.provenance["source"] == "tfds"
    assert splits.train.ids[0].startswith("fashion_mnist/tfds:train:")
    assert splits.train.images.shape[1:] == (28, 28, 1)


@pytest.mark.skipif(not os.path.isdir(DEBIAN_DIR), reason="dataset-fashion-mnist not installed")
def test_real_debian_files_give_60000_and_10000():
    splits = load_splits(
        fake_config(dataset="fashion_mnist", data_dir=DEBIAN_DIR, train_size=None, query_size=None)
    )
    assert splits.sizes() == {"train": 60000, "query": 10000, "database": 60000}
    assert splits.train.labels.sum(0).tolist() == [6000] * 10
    assert splits.query.labels.sum(0).tolist() == [1000] * 10
