"""A built-in, generated, multi-label image data set in which objects sit in local regions.

Each image is a noisy background with 1–3 coloured shapes, each in its own random cell of a 2×2
grid; its label is the set of shape classes present. Whole-image statistics blur small objects
together, so it rewards region-level codes. Deterministic from a seed; nothing is downloaded.
"""

import numpy as np

from dmrh_tf.data.splits import Split, Splits

NUM_CLASSES = 8
IMAGE_SIDE = 64
# One colour per class (RGB) and one of four shapes, so classes differ in colour and form.
_COLORS = np.array(
    [
        [230, 25, 75],
        [60, 180, 75],
        [255, 225, 25],
        [0, 130, 200],
        [245, 130, 48],
        [145, 30, 180],
        [70, 240, 240],
        [240, 50, 230],
    ],
    dtype=np.float32,
)
_SHAPES = ("square", "disc", "cross", "ring")


def _shape_mask(shape, size):
    yy, xx = np.mgrid[0:size, 0:size] - (size - 1) / 2
    radius = size / 2
    if shape == "square":
        return np.ones((size, size), bool)
    if shape == "disc":
        return yy**2 + xx**2 <= radius**2
    if shape == "cross":
        return (np.abs(yy) < size / 6) | (np.abs(xx) < size / 6)
    return (yy**2 + xx**2 <= radius**2) & (yy**2 + xx**2 >= (radius * 0.55) ** 2)


def generate(count, seed, prefix):
    """A split of `count` images [count, 64, 64, 3] uint8 with multi-hot labels [count, 8]."""
    rng = np.random.default_rng(seed)
    images = rng.normal(110, 25, (count, IMAGE_SIDE, IMAGE_SIDE, 3))
    labels = np.zeros((count, NUM_CLASSES), np.float32)
    cell = IMAGE_SIDE // 2
    for i in range(count):
        num_objects = rng.integers(1, 4)
        classes = rng.choice(NUM_CLASSES, num_objects, replace=False)
        cells = rng.choice(4, num_objects, replace=False)
        for cls, c in zip(classes, cells):
            size = int(rng.integers(12, 24))
            top = (c // 2) * cell + int(rng.integers(0, cell - size + 1))
            left = (c % 2) * cell + int(rng.integers(0, cell - size + 1))
            mask = _shape_mask(_SHAPES[cls % 4], size)
            color = _COLORS[cls] + rng.normal(0, 12, 3)
            patch = images[i, top : top + size, left : left + size]
            patch[mask] = color
            labels[i, cls] = 1.0
    images = np.clip(images, 0, 255).astype(np.uint8)
    ids = np.array([f"{prefix}:{i}" for i in range(count)])
    return Split(ids, labels, images)


def load_synthetic(train_size=2000, query_size=500, seed=0):
    """The generated data set: train = database (`train_size`), `query_size` held-out queries."""
    train = generate(train_size, seed, "synthetic-train")
    query = generate(query_size, seed + 1_000_003, "synthetic-query")
    return Splits("synthetic", train=train, query=query, database=train)
