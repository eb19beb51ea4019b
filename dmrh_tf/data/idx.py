"""Reader for the IDX format of (Fashion-)MNIST: raw or gzip-compressed, checked for truncation.

Format (http://yann.lecun.com/exdb/mnist/): two zero bytes, a type code, the number of dimensions
d, then d big-endian uint32 sizes, then the values in big-endian C order.
"""

import gzip
import os

import numpy as np

__all__ = ["IDX_NAMES", "find_idx_file", "read_idx"]

# IDX type code → numpy dtype (big-endian where it matters)
_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
# The four files of (Fashion-)MNIST, by the key this package uses.
IDX_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def _read_bytes(path):
    with open(path, "rb") as f:
        head = f.read(2)
    opener = gzip.open if head == b"\x1f\x8b" else open  # by content, not by extension
    try:
        with opener(path, "rb") as f:
            return f.read()
    except (OSError, EOFError) as error:
        raise ValueError(f"{path} is not a readable IDX file (corrupt gzip?): {error}") from error


def read_idx(path):
    """The array stored in IDX file `path` (gzip or raw), in native byte order.

    Raises ValueError, naming the file, when the header is not IDX or the data are truncated.
    """
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {data[:4]!r})")
    dtype, ndim = _DTYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: truncated IDX header")
    shape = tuple(int(x) for x in np.frombuffer(data, ">u4", ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(
            f"{path}: IDX header says shape {shape} ({expected} bytes of data) but the file holds "
            f"{len(data) - header}: the file is truncated or corrupt; fetch it again"
        )
    return np.frombuffer(data, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def find_idx_file(directory, base):
    """The path of IDX file `base` (e.g. "train-images-idx3-ubyte") in `directory`, or None.

    Accepts the usual spellings: `base`, `base.gz`, and the `train-images.idx3-ubyte` variant.
    """
    variants = {base, base.replace("-idx", ".idx")}
    for name in sorted(variants):
        for candidate in (name, name + ".gz"):
            path = os.path.join(directory, candidate)
            if os.path.isfile(path):
                return path
    return None
