"""`tf.data` pipelines from a `Split`: shuffled training batches and ordered inference batches."""

import tensorflow as tf

from dmrh_tf.preprocessing import resize_images


def decode_image_file(path):
    """Read and decode one JPEG/PNG/BMP/GIF file to uint8 [H, W, 3]."""
    return tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)


def _indexed(split, *, shuffle, seed, side):
    """(image float32 [S, S, 3] or uint8 [H, W, C], label, index) elements, optionally shuffled."""
    indices = tf.range(len(split), dtype=tf.int32)
    ds = tf.data.Dataset.from_tensor_slices((split.images, split.labels, indices))
    if shuffle:
        ds = ds.shuffle(len(split), seed=seed, reshuffle_each_iteration=True)
    if split.on_disk:  # files: decode and resize one by one, in parallel, before batching
        ds = ds.map(
            lambda path, y, i: (resize_images(decode_image_file(path), side), y, i),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    return ds


def train_dataset(split, side, batch_size, seed=0):
    """Endless shuffled batches `({"images": [B, S, S, 3] float32, "index": [B] int32}, labels [B, C])`.

    `index` is each image's row in `split`, which the memory-bank loss writes to. Partial batches are
    dropped so every replica sees the same shapes.
    """
    if len(split) < batch_size:
        raise ValueError(
            f"the training split has {len(split)} images, fewer than one batch of {batch_size}: "
            "lower --batch-size or use more training images"
        )
    ds = _indexed(split, shuffle=True, seed=seed, side=side).repeat()
    ds = ds.batch(batch_size, drop_remainder=True)
    if not split.on_disk:  # arrays: resize whole batches at once (vectorised)
        ds = ds.map(lambda x, y, i: (resize_images(x, side), y, i), num_parallel_calls=2)
    ds = ds.map(lambda x, y, i: ({"images": x, "index": i}, y))
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


def inference_dataset(split, side, batch_size):
    """Ordered float32 image batches [B, S, S, 3] of `split` (the last one may be partial)."""
    ds = tf.data.Dataset.from_tensor_slices(split.images)
    if split.on_disk:
        ds = ds.map(
            lambda path: resize_images(decode_image_file(path), side),
            num_parallel_calls=tf.data.AUTOTUNE,
        ).batch(batch_size)
    else:
        ds = ds.batch(batch_size).map(lambda x: resize_images(x, side), num_parallel_calls=2)
    return ds.prefetch(tf.data.AUTOTUNE)
