"""`tf.data` pipelines from a `Split`: shuffled training batches and ordered inference batches.

The only preprocessing outside the model is `dmrh_tf.data.preprocessing.resize_images` (grey → RGB,
float32 in 0..255, resize to the model's side 192 + 32·N); pixel normalisation is the model's own
first layer. Training and serving call the same function. Three kinds of `Split.images`:

- uint8 arrays in memory: the shuffle runs over row numbers, whole batches are gathered and
  resized at once (vectorised), so no image is copied into a shuffle buffer;
- file paths: decoded and resized in parallel; when the resized split fits in `cache_bytes`
  it is decoded once, held in memory and gathered by row;
- `TFDSImages`: the TFDS records are streamed in TFDS's fixed order (already shuffled when TFDS
  wrote them), shuffled in a buffer of `STREAM_SHUFFLE_BUFFER` encoded images, decoded in
  parallel. Only the split's own records are decoded.
"""

import numpy as np
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
    "without_autotuning",
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


def epoch_permutations(seed, epoch, n, count):
    """`count` rows of epoch `epoch`: shuffles of 0..n-1 back to back, a pure function of (seed, epoch).

    Each epoch has its own order, so a run resumed at epoch e sees exactly what an uninterrupted run
    would have seen from e on (tested).
    """
    reps = (count + n - 1) // n
    keys = tf.random.stateless_uniform([reps, n], seed=tf.stack([tf.cast(seed, tf.int64), epoch]))
    return tf.reshape(tf.argsort(keys, axis=1, stable=True), [-1])[:count]


def _row_batches(n, batch_size, seed, steps_per_epoch, initial_epoch, epoch_rows):
    """Batches of rows int32 [B]: `steps_per_epoch` per epoch, from epoch `initial_epoch` on.

    `epoch_rows` (NumPy int [epochs, steps·B], one row per epoch from 0) fixes every epoch's rows,
    e.g. ADSH's sampled subsets; otherwise each epoch is `epoch_permutations` (endless).
    """
    count = steps_per_epoch * batch_size
    if epoch_rows is not None:
        table = np.asarray(epoch_rows, np.int32)[initial_epoch:]
        if table.ndim != 2 or table.shape[1] != count:
            raise ValueError(f"epoch_rows must be [epochs, {count}], got {np.shape(epoch_rows)}")
        rows = tf.data.Dataset.from_tensor_slices(table)
    else:
        epochs = tf.data.Dataset.range(initial_epoch, np.iinfo(np.int64).max)
        rows = epochs.map(lambda e: epoch_permutations(seed, e, n, count))
    return rows.unbatch().batch(batch_size, drop_remainder=True)


def _decoded(split, side):
    """The whole file split decoded and resized, float32 [n, S, S, 3] in memory."""
    return np.concatenate(list(inference_dataset(split, side, 256).as_numpy_iterator()))


def _train_images(split, side, batch_size, cache_bytes, rows):
    """Batches (images float32 [B, S, S, 3], rows int32 [B]) for the row batches `rows`."""
    if split.on_disk:
        if len(split) * side * side * 3 * 4 <= cache_bytes:  # decode once, gather resized pixels
            resized = tf.constant(_decoded(split, side))
            return rows.map(lambda r: (tf.gather(resized, r), r))
        paths = tf.constant(split.images)
        return (
            rows.unbatch()
            .map(
                lambda r: (resize_images(decode_image_file(tf.gather(paths, r)), side), r),
                num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True,
            )
            .batch(batch_size, drop_remainder=True)
        )
    images = tf.constant(split.images)
    return rows.map(
        lambda r: (resize_images(tf.gather(images, r), side), r), num_parallel_calls=tf.data.AUTOTUNE
    )


def _stream_images(split, side, batch_size, seed, skip):
    """TFDS records in a seeded shuffle buffer (no random access), `skip` images in."""
    ds = split.images.records()
    ds = ds.shuffle(min(len(split), STREAM_SHUFFLE_BUFFER), seed=seed, reshuffle_each_iteration=True)
    ds = (
        ds.repeat()
        .skip(skip)
        .map(
            lambda row, data: (resize_images(decode_image_bytes(data), side), row),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    )
    return ds.batch(batch_size, drop_remainder=True)


def train_dataset(
    split,
    side,
    batch_size,
    seed=0,
    cache_bytes=CACHE_BYTES,
    *,
    steps_per_epoch=None,
    initial_epoch=0,
    epoch_rows=None,
):
    """Shuffled `({"images": float32 [B, S, S, 3], "index": int32 [B]}, labels [B, C])` batches.

    `index` is each image's row in `split`, which the memory-bank losses write to; the labels are
    `split.labels[index]`. An epoch is `steps_per_epoch` batches (default: ⌊n / B⌋, partial batches
    dropped, so every replica sees the same shapes) of its own seeded shuffle; `initial_epoch` starts
    the sequence there, as a resumed run needs. `epoch_rows` [epochs, steps·B] sets each epoch's rows
    instead (a method's sampling plan); the dataset then ends after the last epoch. TFDS streams have
    no random access: they shuffle in a buffer and skip what the earlier epochs consumed.
    """
    n = len(split)
    if n < batch_size:
        raise ValueError(
            f"the training split has {n} images, fewer than one batch of {batch_size}: "
            "lower --batch-size or use more training images"
        )
    steps_per_epoch = steps_per_epoch or n // batch_size
    labels = tf.constant(split.labels, tf.float32)
    if isinstance(split.images, TFDSImages):
        if epoch_rows is not None:
            raise ValueError(
                "this method samples training images by row, which a streamed TFDS data set cannot do: "
                "load the data set into memory or as image files (see docs/datasets.md)"
            )
        ds = _stream_images(split, side, batch_size, seed, initial_epoch * steps_per_epoch * batch_size)
    else:
        rows = _row_batches(n, batch_size, seed, steps_per_epoch, initial_epoch, epoch_rows)
        ds = _train_images(split, side, batch_size, cache_bytes, rows)
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
    return without_autotuning(ds.prefetch(tf.data.AUTOTUNE))


def without_autotuning(ds):
    """`ds` without tf.data's autotuning thread, for a pass that ends (encoding, checking files).

    With autotuning on, deleting a finished iterator took 4.4-4.8 s in about a third of the passes
    (2,048 images encoded in 5.6 s, then 4.5 s more; 2 cores, every backend kernel) and 1-2 ms with
    it off: the jumps between levels of the encoding benchmark. Off, `AUTOTUNE` map parallelism is
    the number of cores and prefetching keeps its own (non-model) buffer tuning.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)
