"""`tf.data` pipelines from a `Split`: shuffled training batches and ordered inference batches.

The only preprocessing outside the model is `dmrh_tf.data.preprocessing.resize_images` (grey → RGB,
float32 in 0..255, resize to the model's side 192 + 32·N); pixel normalisation is the model's own
first layer. Training and serving call the same function. Three kinds of `Split.images`:

- uint8 arrays in memory: the shuffle runs over row numbers, whole batches are gathered and
  resized at once (vectorised), so no image is copied into a shuffle buffer;
- file paths: decoded and resized in parallel; when the resized split fits in `cache_bytes`
  it is decoded once and cached in memory;
- `TFDSImages`: the TFDS records are streamed in TFDS's fixed order (already shuffled when TFDS
  wrote them), shuffled in a buffer of `STREAM_SHUFFLE_BUFFER` encoded images, decoded in
  parallel. Only the split's own records are decoded.
"""

import tensorflow as tf

from dmrh_tf.data.preprocessing import resize_images
from dmrh_tf.data.tfds_images import TFDSImages

__all__ = [
    "CACHE_BYTES",
    "STREAM_SHUFFLE_BUFFER",
    "decode_image_bytes",
    "decode_image_file",
    "inference_dataset",
    "train_dataset",
]

CACHE_BYTES = 1 << 30  # cache a file split's resized float32 images up to this size (the
# shuffle buffer then holds as much again)
STREAM_SHUFFLE_BUFFER = 4096  # encoded images held to shuffle a TFDS stream (COCO: ~0.6 GB)


def decode_image_bytes(data):
    """Decode one encoded JPEG/PNG/BMP/GIF (first frame) to uint8 [H, W, 3]."""
    return tf.io.decode_image(data, channels=3, expand_animations=False)


def decode_image_file(path):
    """Read and decode one JPEG/PNG/BMP/GIF file to uint8 [H, W, 3]."""
    return decode_image_bytes(tf.io.read_file(path))


def _file_rows(split):
    rows = tf.range(len(split), dtype=tf.int32)
    return tf.data.Dataset.from_tensor_slices((split.images, rows))


def _train_images(split, side, batch_size, seed, cache_bytes):
    """Endless shuffled batches (images float32 [B, S, S, 3], rows int32 [B])."""
    n = len(split)
    if isinstance(split.images, TFDSImages):
        ds = split.images.records()
        ds = ds.shuffle(min(n, STREAM_SHUFFLE_BUFFER), seed=seed, reshuffle_each_iteration=True)
        ds = ds.repeat().map(
            lambda row, data: (resize_images(decode_image_bytes(data), side), row),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        return ds.batch(batch_size, drop_remainder=True)
    if split.on_disk:
        ds = _file_rows(split)

        def load(path, row):
            return resize_images(decode_image_file(path), side), row

        if n * side * side * 3 * 4 <= cache_bytes:  # decode once, then shuffle the cached pixels
            ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE).cache()
            ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True).repeat()
        else:  # shuffle the paths, decode every epoch
            ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True).repeat()
            ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE)
        return ds.batch(batch_size, drop_remainder=True)
    images = tf.constant(split.images)
    ds = tf.data.Dataset.range(n).shuffle(n, seed=seed, reshuffle_each_iteration=True).repeat()
    ds = ds.batch(batch_size, drop_remainder=True)
    return ds.map(
        lambda rows: (resize_images(tf.gather(images, rows), side), tf.cast(rows, tf.int32)),
        num_parallel_calls=tf.data.AUTOTUNE,
    )


def train_dataset(split, side, batch_size, seed=0, cache_bytes=CACHE_BYTES):
    """Endless shuffled `({"images": float32 [B, S, S, 3], "index": int32 [B]}, labels [B, C])`.

    `index` is each image's row in `split`, which the memory-bank loss writes to; the labels are
    `split.labels[index]`. Partial batches are dropped so every replica sees the same shapes.
    The order is fixed by `seed` (and, for file splits, the parallel decode is deterministic).
    """
    if len(split) < batch_size:
        raise ValueError(
            f"the training split has {len(split)} images, fewer than one batch of {batch_size}: "
            "lower --batch-size or use more training images"
        )
    labels = tf.constant(split.labels, tf.float32)
    ds = _train_images(split, side, batch_size, seed, cache_bytes)
    ds = ds.map(lambda x, i: ({"images": x, "index": i}, tf.gather(labels, i)))
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


def inference_dataset(split, side, batch_size):
    """Ordered float32 image batches [B, S, S, 3] of `split` (the last one may be partial)."""
    if isinstance(split.images, TFDSImages):
        ds = split.images.records().map(
            lambda _, data: resize_images(decode_image_bytes(data), side),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        ds = ds.batch(batch_size)
    elif split.on_disk:
        ds = tf.data.Dataset.from_tensor_slices(split.images).map(
            lambda path: resize_images(decode_image_file(path), side),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        ds = ds.batch(batch_size)
    else:
        ds = tf.data.Dataset.from_tensor_slices(split.images).batch(batch_size)
        ds = ds.map(lambda x: resize_images(x, side), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
