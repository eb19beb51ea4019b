"""tf.data pipelines: element structure; preprocessing equal to `resize_images` run eagerly."""

import os

import numpy as np
import pytest
import tensorflow as tf
from fixtures_data import (
    write_image,
)

from dmrh_tf.data.pipeline import inference_dataset, train_dataset
from dmrh_tf.data.preprocessing import resize_images
from dmrh_tf.data.splits import Split

SIDE = 40


def _memory_split(n=12, channels=1, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 28, 28, channels), dtype=np.uint8)
    labels = np.eye(4, dtype=np.float32)[np.arange(n) % 4]
    return Split(np.array([f"m:{i}" for i in range(n)]), labels, images)


def _file_split(directory, n=10):
    rng = np.random.default_rng(1)
    paths, pixels = [], []
    for i in range(n):
        image = rng.integers(0, 256, (20 + i, 30 - i, 3), dtype=np.uint8)
        paths.append(write_image(os.path.join(directory, f"{i}.png"), image))
        pixels.append(image)
    labels = np.eye(3, dtype=np.float32)[np.arange(n) % 3]
    return Split(np.array(paths), labels, np.array(paths)), pixels


def _eager(image):
    return resize_images(image, SIDE).numpy()


def test_training_elements_have_the_trainer_structure():
    split = _memory_split()
    ds = train_dataset(split, SIDE, 4, seed=0)
    inputs, labels = ds.element_spec
    assert set(inputs) == {"images", "index"}
    assert inputs["images"].shape.as_list() == [4, SIDE, SIDE, 3]
    assert inputs["images"].dtype == tf.float32 and inputs["index"].dtype == tf.int32
    assert labels.shape.as_list() == [4, 4] and labels.dtype == tf.float32


def test_in_memory_batches_equal_eager_preprocessing_and_their_labels():
    split = _memory_split(channels=1)
    for x, y in train_dataset(split, SIDE, 4, seed=3).take(3):
        rows = x["index"].numpy()
        np.testing.assert_array_equal(y.numpy(), split.labels[rows])
        for image, row in zip(x["images"].numpy(), rows):
            np.testing.assert_allclose(image, _eager(split.images[row]), atol=1e-4)
            assert np.array_equal(image[..., 0], image[..., 2])  # grey → RGB
    got = np.concatenate([b.numpy() for b in inference_dataset(split, SIDE, 5)])
    np.testing.assert_allclose(got, np.stack([_eager(x) for x in split.images]), atol=1e-4)
    assert got.min() >= 0 and got.max() <= 255


def test_the_shuffle_is_seeded_and_covers_each_epoch():
    split = _memory_split(n=12)

    def first_epoch(seed):
        batches = train_dataset(split, SIDE, 4, seed=seed).take(3)
        return np.concatenate([x["index"].numpy() for x, _ in batches])

    a, b = first_epoch(7), first_epoch(7)
    np.testing.assert_array_equal(a, b)
    assert sorted(a.tolist()) == list(range(12))
    assert not np.array_equal(a, first_epoch(8))


@pytest.mark.parametrize("cache_bytes", [0, 1 << 30])
def test_file_batches_equal_eager_preprocessing_cached_or_not(tmp_path, cache_bytes):
    split, pixels = _file_split(str(tmp_path))
    x, y = next(iter(train_dataset(split, SIDE, 5, seed=1, cache_bytes=cache_bytes)))
    rows = x["index"].numpy()
    np.testing.assert_array_equal(y.numpy(), split.labels[rows])
    for image, row in zip(x["images"].numpy(), rows):
        np.testing.assert_allclose(image, _eager(pixels[row]), atol=1e-4)
    got = np.concatenate([b.numpy() for b in inference_dataset(split, SIDE, 4)])
    np.testing.assert_allclose(got, np.stack([_eager(p) for p in pixels]), atol=1e-4)


def test_inference_batches_run_without_the_autotuning_thread(tmp_path):
    """Deleting a finished iterator waited ~4.5 s for that thread in a third of the passes."""
    split, _ = _file_split(str(tmp_path))
    for source in (_memory_split(), split):
        assert inference_dataset(source, SIDE, 4).options().autotune.enabled is False
    assert train_dataset(_memory_split(), SIDE, 4).options().autotune.enabled is not False


def test_resize_in_a_graph_equals_eager():
    image = np.random.default_rng(2).integers(0, 256, (2, 33, 17, 3), dtype=np.uint8)
    graph = tf.function(lambda x: resize_images(x, SIDE))(tf.constant(image)).numpy()
    np.testing.assert_allclose(graph, resize_images(image, SIDE).numpy(), atol=1e-5)


@pytest.mark.parametrize("source", [(28, 28), (300, 200)])
def test_a_grey_image_resizes_as_its_rgb_copy(source):
    """Grey is resized first and copied to 3 channels after: the pixels of resizing the RGB copy."""
    grey = np.random.default_rng(4).integers(0, 256, (2, *source, 1), dtype=np.uint8)
    got = resize_images(grey, SIDE).numpy()
    assert got.shape == (2, SIDE, SIDE, 3)
    np.testing.assert_array_equal(got, resize_images(np.repeat(grey, 3, axis=-1), SIDE).numpy())


def test_a_split_smaller_than_a_batch_fails_clearly():
    with pytest.raises(ValueError, match="fewer than one batch"):
        train_dataset(_memory_split(n=3), SIDE, 4)


def test_a_resumed_sequence_continues_where_the_epochs_left_off():
    """Epoch e of a run started at `initial_epoch=e` sees the rows an uninterrupted run sees in epoch e."""
    split = _memory_split(n=12)

    def rows(initial_epoch, batches):
        ds = train_dataset(split, SIDE, 4, seed=5, initial_epoch=initial_epoch).take(batches)
        return np.concatenate([x["index"].numpy() for x, _ in ds])

    uninterrupted = rows(0, 9).reshape(3, 12)  # 3 epochs of 3 batches
    np.testing.assert_array_equal(rows(2, 3), uninterrupted[2])
    np.testing.assert_array_equal(rows(1, 6), uninterrupted[1:].ravel())
    for epoch in uninterrupted:  # each epoch is its own shuffle of the whole split
        assert sorted(epoch.tolist()) == list(range(12))
    assert len({tuple(epoch) for epoch in uninterrupted}) == 3


def test_a_method_sampling_plan_sets_each_epochs_rows_and_ends():
    split = _memory_split(n=12)
    plan = np.array([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]])
    ds = train_dataset(split, SIDE, 2, steps_per_epoch=2, initial_epoch=1, epoch_rows=plan)
    got = np.concatenate([x["index"].numpy() for x, _ in ds])
    np.testing.assert_array_equal(got, plan[1:].ravel())
    with pytest.raises(ValueError, match="epoch_rows must be"):
        train_dataset(split, SIDE, 2, steps_per_epoch=3, epoch_rows=plan)


@pytest.mark.parametrize("source", [(28, 28), (300, 200), (20, 300)])
def test_resize_equals_the_antialiased_resize_static_or_dynamic_shapes(source):
    """Antialiasing runs only where an image shrinks; upsampled pixels are the same without it."""
    image = np.random.default_rng(0).integers(0, 256, (2, *source, 3), dtype=np.uint8)
    want = tf.image.resize(tf.cast(image, tf.float32), (SIDE, SIDE), "bilinear", antialias=True)
    want = np.clip(want.numpy(), 0, 255)
    dynamic = tf.function(
        lambda x: resize_images(x, SIDE), input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)]
    )
    for got in (resize_images(image, SIDE).numpy(), dynamic(image).numpy()):
        np.testing.assert_allclose(got, want, atol=2e-3)
