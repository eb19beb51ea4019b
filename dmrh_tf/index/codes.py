"""Validate binary codes and pack them into bytes, the form every backend stores.

A code of K bits is accepted as ±1 values (what `dmrh_tf.encode` returns), as 0/1 values (or
bool), or already packed as uint8 bytes in `np.packbits(bits, axis=1)` order. Packing maps +1 and 1
to a set bit, −1 and 0 to a clear bit, so all three forms of the same code give the same bytes.

faiss's binary indexes need whole bytes. A length K that is not a multiple of 8 is padded with zero
bits at the end (what `np.packbits` does); database and queries get the same padding, so Hamming
distances are unchanged.
"""

import numpy as np


def num_bytes(bits):
    """Bytes taken by one packed code of `bits` bits: ⌈bits / 8⌉."""
    return (bits + 7) // 8


def check_bits(bits):
    """Return `bits` as an int after checking it is a positive integer."""
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or bits < 1:
        raise ValueError(f"bits must be a positive integer, got {bits!r}")
    return int(bits)


def pack_codes(codes, bits):
    """Check `codes` and return them packed: a C-contiguous uint8 array [n, ⌈bits/8⌉].

    `codes` is a 2-D array-like, either [n, bits] of ±1 or 0/1 values (any integer, float or bool
    dtype), or [n, ⌈bits/8⌉] uint8 already packed (padding bits, if any, must be zero). For
    `bits` ≤ 8 with a uint8 width equal to `bits`, the array is read as unpacked 0/1 values.

    Raises TypeError for an unsupported dtype and ValueError for a wrong shape, a wrong code length
    or values other than ±1 / 0/1 (including a mix of −1 and 0).
    """
    bits = check_bits(bits)
    nbytes = num_bytes(bits)
    arr = np.asarray(codes)
    if arr.ndim != 2:
        raise ValueError(
            f"codes must be a 2-D array [n, {bits}] (or packed uint8 [n, {nbytes}]), got shape {arr.shape}"
        )
    if arr.dtype == np.uint8 and arr.shape[1] == nbytes and nbytes != bits:
        return _check_packed(arr, bits)
    if arr.shape[1] != bits:
        raise ValueError(
            f"code length mismatch: the index holds {bits}-bit codes "
            f"([n, {bits}] values or packed uint8 [n, {nbytes}]), got width {arr.shape[1]} "
            f"with dtype {arr.dtype}"
        )
    if arr.dtype == np.bool_:
        return np.packbits(arr, axis=1)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(
            f"codes must be ±1 or 0/1 numbers (integer, float or bool) or packed uint8, got dtype {arr.dtype}"
        )
    ones = arr == 1
    minus_ones = arr == -1
    zeros = arr == 0
    valid = ones | minus_ones | zeros
    if not valid.all():
        bad = arr[~valid].flat[0].item()
        raise ValueError(f"code values must be ±1 or 0/1, found {bad!r}")
    if minus_ones.any() and zeros.any():
        raise ValueError("code values mix -1 and 0: use either ±1 or 0/1 codes")
    return np.packbits(ones, axis=1)


def unpack_codes(packed, bits):
    """Inverse of `pack_codes`: uint8 [n, ⌈bits/8⌉] → 0/1 uint8 [n, bits]."""
    return np.unpackbits(np.asarray(packed, np.uint8), axis=1, count=bits)


def _check_packed(arr, bits):
    pad = 8 * num_bytes(bits) - bits
    if pad and np.any(arr[:, -1] & ((1 << pad) - 1)):
        raise ValueError(
            f"packed {bits}-bit codes must have their {pad} padding bits (the low bits of the "
            f"last byte, np.packbits order) set to zero"
        )
    return np.ascontiguousarray(arr)
