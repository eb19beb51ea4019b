"""Binary codes in, canonical bit forms out: validation, ±1 ⇄ {0,1}, and bit packing.

Every evaluation function accepts codes as a 2-D array `[n, K]` of either form:

- ±1 codes (the package's own: `dmrh_tf.encode` returns int8 ±1), any integer, float or bool dtype;
- {0,1} codes (bits), any integer, float or bool dtype.

Bit `1` ⇔ code `+1`, bit `0` ⇔ code `−1`; an array of only 1s means the same in both forms, so
the two forms can be mixed between queries and database. A 0 inside ±1 codes (values {−1, 0, 1})
is ambiguous and rejected, as is any other value.
"""

import numpy as np

__all__ = ["pack_codes", "to_bits", "to_signed"]

# Distances are sorted as uint8 (one radix pass) when they fit, else uint16.
_UINT8_MAX_BITS = 255


def to_bits(codes) -> np.ndarray:
    """Return `codes` `[n, K]` (±1 or {0,1}) as a bool array of bits, `bit = (code > 0)`."""
    array = np.asarray(codes)
    if array.ndim != 2:
        raise ValueError(f"codes must be a 2-D array [n, K]; got shape {array.shape}")
    if array.dtype == bool:
        return array
    if array.size == 0:
        return np.zeros(array.shape, dtype=bool)
    is_signed = bool(np.all((array == 1) | (array == -1)))
    if not (is_signed or np.all((array == 0) | (array == 1))):
        values = np.unique(array)[:5]
        raise ValueError(
            "codes must be ±1 or {0,1} (a 0 inside ±1 codes is ambiguous); "
            f"found values such as {values.tolist()}"
        )
    return array > 0


def to_signed(codes) -> np.ndarray:
    """Return `codes` `[n, K]` (±1 or {0,1}) as int8 ±1 codes, `code = 2·bit − 1`."""
    bits = to_bits(codes)
    return np.where(bits, np.int8(1), np.int8(-1))


def pack_codes(codes) -> np.ndarray:
    """Pack codes `[n, K]` into uint64 words `[n, ⌈K/64⌉]` (bit j of a code → bit j of the words).

    The padding bits of the last word are 0 for every code, so `popcount(a XOR b)` summed over
    the words is the Hamming distance of two codes. The byte order inside a word does not matter
    for that, so the packing is only meant for XOR/popcount, not for reading bits back.
    """
    bits = to_bits(codes)
    n, n_bits = bits.shape
    n_words = max(1, -(-n_bits // 64))
    packed = np.zeros((n, n_words * 8), dtype=np.uint8)
    packed[:, : -(-n_bits // 8)] = np.packbits(bits, axis=1)
    return packed.view(np.uint64)


def popcount(words: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Number of set bits of each uint64 in `words`, as uint8 (`np.bitwise_count` on NumPy ≥ 2)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(words, out=out)
    counts = _BYTE_POPCOUNT[words.view(np.uint8)].reshape(*words.shape, 8).sum(-1, dtype=np.uint8)
    if out is None:
        return counts
    out[...] = counts
    return out


def distance_dtype(n_bits: int) -> np.dtype:
    """The smallest unsigned dtype that holds Hamming distances 0..n_bits."""
    return np.dtype(np.uint8 if n_bits <= _UINT8_MAX_BITS else np.uint16)


_BYTE_POPCOUNT = np.array([bin(value).count("1") for value in range(256)], dtype=np.uint8)
