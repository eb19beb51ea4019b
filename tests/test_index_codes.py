"""Code validation and packing: ±1, 0/1 and packed forms agree; bad input is refused clearly."""

import numpy as np
import pytest

from dmrh_tf.index import pack_codes, unpack_codes


def test_all_forms_pack_to_the_same_bytes():
    for bits in (1, 5, 8, 12, 64, 70):
        bit_values = np.random.default_rng(bits).integers(0, 2, (7, bits)).astype(np.uint8)
        packed = np.packbits(bit_values, axis=1)
        signs = (2 * bit_values.astype(np.int8) - 1).astype(np.int8)
        forms = [bit_values, bit_values.astype(bool), signs, signs.astype(np.float32), 1.0 * bit_values]
        if bits != 1:  # 1 bit: a uint8 [n, 1] array is read as 0/1 values, not as packed bytes
            forms.append(packed)
        for form in forms:
            np.testing.assert_array_equal(pack_codes(form, bits), packed, err_msg=f"{bits} bits")
        np.testing.assert_array_equal(unpack_codes(packed, bits), bit_values)


def test_padding_keeps_hamming_distances():
    """12-bit codes padded to 16 bits: the 4 zero padding bits add nothing to any distance."""
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 2, (2, 50, 12)).astype(np.uint8)
    xor = np.bitwise_xor(pack_codes(a, 12), pack_codes(b, 12))
    np.testing.assert_array_equal(np.unpackbits(xor, axis=1).sum(1), (a != b).sum(1))


BAD_CODES = [
    (np.ones((3, 9), np.int8), ValueError, "code length mismatch"),
    (np.ones((3, 2), np.uint8) * 255, ValueError, "padding bits"),  # 12 bits packed
    (np.ones(12, np.int8), ValueError, "2-D"),
    (np.full((2, 12), 2, np.int8), ValueError, r"±1 or 0/1, found 2"),
    (np.full((2, 12), 0.5), ValueError, r"±1 or 0/1"),
    (np.full((2, 12), np.nan), ValueError, r"±1 or 0/1"),
    (np.array([[-1, 0] * 6]), ValueError, "mix -1 and 0"),
    (np.full((2, 12), "1"), TypeError, "dtype"),
    (np.ones((2, 12), np.complex64), TypeError, "dtype"),
]


def test_bad_codes_are_refused():
    for codes, error, match in BAD_CODES:
        with pytest.raises(error, match=match):
            pack_codes(codes, 12)


def test_bad_bits_are_refused():
    for bits in (0, -3, 2.0, True, "8"):
        with pytest.raises(ValueError, match="bits must be a positive integer"):
            pack_codes(np.ones((1, 8)), bits)


def test_empty_batch_packs_to_zero_rows():
    assert pack_codes(np.zeros((0, 12), np.int8), 12).shape == (0, 2)
