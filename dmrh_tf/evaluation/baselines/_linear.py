"""Pieces shared by the projection baselines: ±1 signs, principal directions, feature checks."""

import numpy as np


def as_features(features, dim: int | None = None) -> np.ndarray:
    """`features` as a float `[n, d]` array: float32 stays float32 (large pixel matrices), any
    other dtype becomes float64. Images `[n, H, W, C]` must go through `pixel_features` first;
    `dim` checks the width against the training features."""
    array = np.asarray(features)
    if array.dtype != np.float32:
        array = array.astype(np.float64)
    if array.ndim != 2:
        raise ValueError(
            f"features must be 2-D [n, d]; got shape {array.shape} "
            "(flatten images with dmrh_tf.evaluation.baselines.pixel_features)"
        )
    if dim is not None and array.shape[1] != dim:
        raise ValueError(f"features have {array.shape[1]} dimensions; the model was fit on {dim}")
    return array


def check_bits(bits: int, limit: int | None = None, reason: str = "") -> int:
    if int(bits) != bits or bits < 1:
        raise ValueError(f"bits must be a positive integer; got {bits!r}")
    if limit is not None and bits > limit:
        raise ValueError(f"{bits} bits need at most {limit} {reason}")
    return int(bits)


def sign_codes(values: np.ndarray) -> np.ndarray:
    """`sign(v)` as int8 ±1 with 0 → −1 (the package's convention, as `BinaryCode`)."""
    return np.where(values > 0, np.int8(1), np.int8(-1))


def principal_directions(centered: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The `count` leading eigenvectors `[d, count]` and eigenvalues of the covariance of
    `centered` `[n, d]`, largest first.

    Each vector's sign is fixed so that its largest-magnitude entry is positive, so a fit does
    not depend on the sign the eigen-solver happens to return.
    """
    covariance = centered.T @ centered / max(len(centered) - 1, 1)
    values, vectors = np.linalg.eigh(covariance)
    order = np.argsort(values, kind="stable")[::-1][:count]
    vectors, values = vectors[:, order], values[order]
    pivots = np.abs(vectors).argmax(axis=0)
    vectors *= np.where(vectors[pivots, np.arange(vectors.shape[1])] < 0, -1.0, 1.0)
    return vectors, values
