"""TFDS-backed sets offline: CIFAR-10 and MS-COCO on mock data, NUS-WIDE built from a tiny copy."""

import glob
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from fixtures_data import (
    fake_config,
    write_nus_wide,
)

from dmrh_tf.data import load_splits, write_split_lists
from dmrh_tf.data import tfds_source as tfds_source_module
from dmrh_tf.data.coco2014 import load_coco2014, multi_hot
from dmrh_tf.data.nus_wide_files import most_frequent
from dmrh_tf.data.nuswide import load_nuswide
from dmrh_tf.data.pipeline import inference_dataset, train_dataset
from dmrh_tf.data.preprocessing import resize_images
from dmrh_tf.data.tfds_images import TFDSImages


def test_cifar10_protocol_on_mock_data(tmp_path):
    with tfds.testing.mock_data(num_examples=30):
        splits = load_splits(fake_config(dataset="cifar10", data_dir=str(tmp_path), query_size=10))
    assert splits.sizes() == {"train": 30, "query": 10, "database": 30}
    assert splits.train.images.shape[1:] == (32, 32, 3) and splits.num_classes == 10
    assert np.all(splits.train.labels.sum(1) == 1)
    assert splits.train.ids[0] == "cifar10:train:0" and splits.query.ids[0].startswith("cifar10:test:")
    assert splits.provenance["tfds"].startswith("cifar10 ")


def test_multi_hot_uses_bincount_and_gives_zeros_without_objects():
    np.testing.assert_array_equal(multi_hot(tf.constant([], tf.int64)).numpy(), np.zeros(80))
    row = multi_hot(tf.constant([3, 3, 79], tf.int64)).numpy()
    assert row.dtype == np.float32 and np.flatnonzero(row).tolist() == [3, 79]


@pytest.fixture
def coco(tmp_path):
    with tfds.testing.mock_data(num_examples=10):
        yield load_coco2014(fake_config(data_dir=str(tmp_path), train_size=6))


def test_coco_multi_hot_80_and_streamed_images(coco):
    assert coco.sizes() == {"train": 6, "query": 10, "database": 6}
    assert coco.train.labels.shape == (6, 80) and coco.train.labels.max() == 1
    assert isinstance(coco.train.images, TFDSImages) and coco.train.on_disk
    assert "simple random" in coco.provenance["subsets"]["train"]
    assert coco.train.ids[0].startswith("coco2014:train:")


def _encoded_records(data_dir):
    """The mock coco/2014 train images, read the way `TFDSImages` reads them (mock data differ
    with the decoders), decoded eagerly."""
    builder = tfds.builder("coco/2014", data_dir=data_dir)
    decoders = tfds.decode.PartialDecoding({"image": True}, decoders={"image": tfds.decode.SkipDecoding()})
    ds = builder.as_dataset(split="train", shuffle_files=False, decoders=decoders)
    return [tf.io.decode_image(ex["image"], channels=3) for ex in ds]


def test_coco_streams_in_split_order_with_matching_labels(tmp_path):
    with tfds.testing.mock_data(num_examples=10):
        splits = load_coco2014(fake_config(data_dir=str(tmp_path), train_size=6))
        records = _encoded_records(str(tmp_path))
        positions = splits.train.images.position
        got = next(iter(inference_dataset(splits.train, 64, 6))).numpy()
        for image, p in zip(got, positions):  # eager preprocessing = the tf.data pipeline's
            np.testing.assert_allclose(image, resize_images(records[p], 64).numpy(), atol=1e-4)
        x, y = next(iter(train_dataset(splits.train, 64, 4, seed=1)))
    rows = x["index"].numpy()
    assert len(set(rows)) == 4
    np.testing.assert_array_equal(y.numpy(), splits.train.labels[rows])
    for image, row in zip(x["images"].numpy(), rows):
        want = resize_images(records[positions[row]], 64).numpy()
        np.testing.assert_allclose(image, want, atol=1e-4)


def test_coco_drops_images_without_labels(tmp_path, monkeypatch):
    labels = np.zeros((5, 80), np.float32)
    labels[[0, 2, 3], [1, 5, 7]] = 1

    def fake_columns(builder, split, features, fn, tag):
        return {"labels": labels}

    monkeypatch.setattr(tfds_source_module, "read_columns", fake_columns)
    with tfds.testing.mock_data(num_examples=5):
        splits = load_coco2014(fake_config(data_dir=str(tmp_path)))
    assert splits.sizes() == {"train": 3, "query": 3, "database": 3}
    assert splits.train.images.position.tolist() == [0, 2, 3]
    assert splits.provenance["dropped_without_labels"] == {"train": 2, "validation": 2}


@pytest.fixture(scope="module")
def nus_copy(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("nus"))
    relative, labels = write_nus_wide(root, num_images=30, missing=(3,), corrupt=(5,))
    return root, relative, labels


def test_nuswide_builder_keeps_the_21_most_frequent_concepts(nus_copy):
    root, relative, labels = nus_copy
    splits = load_nuswide(fake_config(data_dir=root, query_size=5))
    top = most_frequent([f"c{j:02d}" for j in range(labels.shape[1])], labels)
    assert splits.classes == tuple(f"c{j:02d}" for j in top)
    # 30 listed, image 0 has no concept, 3 is missing and 5 corrupt: 27 kept, 5 of them queries
    assert splits.sizes() == {"train": 22, "query": 5, "database": 22}
    build = splits.provenance["build"]
    assert (build["missing"], build["corrupt"], build["without_concepts"]) == (1, 1, 1)
    by_path = {p: labels[i][top] for i, p in enumerate(relative)}
    for item, row in zip(splits.train.ids, splits.train.labels):
        np.testing.assert_array_equal(row, by_path[item.removeprefix("nuswide:")])


def test_nuswide_streams_the_images_of_its_ids(nus_copy):
    root = nus_copy[0]
    splits = load_nuswide(fake_config(data_dir=root, query_size=5))
    got = np.concatenate([b.numpy() for b in inference_dataset(splits.query, 32, 2)])
    for image, item in zip(got, splits.query.ids):
        data = tf.io.read_file(os.path.join(root, item.removeprefix("nuswide:")))
        want = resize_images(tf.io.decode_jpeg(data, channels=3), 32).numpy()
        np.testing.assert_allclose(image, want, atol=1e-3)


def test_nuswide_labels_are_cached_beside_the_records(nus_copy, caplog):
    root = nus_copy[0]
    load_nuswide(fake_config(data_dir=root, query_size=5))
    cached = glob.glob(os.path.join(root, "nus_wide21", "1.0.0", "dmrh_tf-columns-train-*.npz"))
    assert len(cached) == 1
    with caplog.at_level("INFO", logger="dmrh_tf.data.tfds_source"):
        load_nuswide(fake_config(data_dir=root, query_size=5))
    assert "from the cache" in caplog.text


def test_nuswide_split_lists_round_trip(nus_copy, tmp_path):
    root = nus_copy[0]
    first = load_nuswide(fake_config(data_dir=root, query_size=5, seed=1))
    write_split_lists(first, str(tmp_path))
    again = load_nuswide(fake_config(data_dir=root, splits_dir=str(tmp_path)))
    np.testing.assert_array_equal(first.query.ids, again.query.ids)
    np.testing.assert_array_equal(first.train.labels, again.train.labels)


def test_nuswide_without_files_explains_the_manual_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="cannot be downloaded automatically"):
        load_nuswide(fake_config(data_dir=str(tmp_path)))


def test_nuswide_fails_on_corrupt_images_when_asked(tmp_path):
    write_nus_wide(str(tmp_path), num_images=12, corrupt=(4,))
    with pytest.raises(ValueError, match="do not decode"):
        load_nuswide(fake_config(data_dir=str(tmp_path), query_size=2, skip_corrupt=False))


def test_nuswide_label_files_must_match_the_image_list(tmp_path):
    write_nus_wide(str(tmp_path), num_images=12)
    label_file = tmp_path / "Groundtruth" / "AllLabels" / "Labels_c02.txt"
    label_file.write_text("1\n" * 11)
    with pytest.raises(ValueError, match="do not match the image list"):
        load_nuswide(fake_config(data_dir=str(tmp_path), query_size=2))
