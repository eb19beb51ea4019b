"""Image preprocessing shared by training, evaluation and the exported serving graph.

The model normalises pixels itself (its `pixel_normalization` layer), so preprocessing is only:
grey → RGB, cast to float32 in the 0..255 scale, and bilinear resize to the model's input side.
"""

import tensorflow as tf


def resize_images(images, side):
    """uint8 or float images [H, W, C] or [B, H, W, C] with C ∈ {1, 3} → float32 [..., side, side, 3].

    Pixel values stay in 0..255. Works eagerly and inside `tf.data`/`tf.function` (tested both ways).
    """
    images = tf.convert_to_tensor(images)
    if images.shape.rank not in (3, 4):
        raise ValueError(f"images must be [H, W, C] or [B, H, W, C], got shape {images.shape}")
    channels = images.shape[-1]
    if channels is not None and channels not in (1, 3):
        raise ValueError(f"images must have 1 or 3 channels, got {channels}")
    images = tf.clip_by_value(_bilinear(tf.cast(images, tf.float32), side), 0.0, 255.0)
    # Grey to RGB after the resize: the same pixels (channels resize independently), a third of the work.
    return tf.repeat(images, 3, axis=-1) if channels == 1 else images


def _bilinear(images, side):
    """Bilinear resize, antialiased where it shrinks. Upsampling (28-px Fashion-MNIST to 224–288)
    gives the same pixels either way (to 1e-3) and TF's antialiased kernel takes 2–2.5× as long
    (measured: 128 images 28 → 256 px, 350 against 155 ms on 2 cores), so it runs only to shrink."""

    def resize(antialias):
        return tf.image.resize(images, (side, side), method="bilinear", antialias=antialias)

    height, width = images.shape[-3], images.shape[-2]
    if height is not None and width is not None:
        return resize(antialias=height > side or width > side)
    shape = tf.shape(images)
    shrinks = tf.logical_or(shape[-3] > side, shape[-2] > side)
    return tf.cond(shrinks, lambda: resize(True), lambda: resize(False))
