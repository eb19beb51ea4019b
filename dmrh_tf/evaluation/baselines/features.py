"""Raw-pixel features for the non-deep baselines."""

import numpy as np


def pixel_features(images, side: int | None = None) -> np.ndarray:
    """Flatten images `[n, H, W, C]` (uint8 or float) into float32 features `[n, side·side·C]`.

    Pixel values are scaled to [0, 1] for uint8 input. With `side`, images are first shrunk to
    `side × side`: by averaging `H/side × W/side` blocks when the sides divide, otherwise by
    nearest-neighbour sampling (enough for a baseline, and keeps PCA affordable on large images).
    """
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4:
        raise ValueError(f"images must be [n, H, W, C] or [n, H, W]; got shape {images.shape}")
    scale = 1.0 / 255.0 if images.dtype == np.uint8 else 1.0
    n, height, width, channels = images.shape
    if side is not None and (side, side) != (height, width):
        if height % side == 0 and width % side == 0:
            blocks = images.reshape(n, side, height // side, side, width // side, channels)
            images = blocks.mean(axis=(2, 4), dtype=np.float32)
        else:
            rows = ((np.arange(side) + 0.5) * height / side).astype(int)
            columns = ((np.arange(side) + 0.5) * width / side).astype(int)
            images = images[:, rows][:, :, columns]
    return images.reshape(n, -1).astype(np.float32) * np.float32(scale)
