"""Undo TensorFlow's glibc malloc setting that halves CPU training speed under `tf.distribute`.

The first `GeneratorDataset` of a process ("Memory patch applied: M_TRIM_THRESHOLD=128 kb was set",
logged by TF's generator_dataset_op.cc) calls `mallopt(M_TRIM_THRESHOLD, 128 KiB)`. Setting any
threshold turns off glibc's dynamic mmap threshold, so every allocation over 128 KiB (each batch's
activations, gradients and the memory-bank product) becomes a fresh `mmap`, zero-filled page by page,
and is unmapped when freed. `tf.distribute` strategies build a `GeneratorDataset` for every
distributed dataset, even MirroredStrategy on one CPU. Measured (width 0.25, N = 1, batch 32, two
AVX2 cores): 61–75 images/s with the setting, 103–134 without, about half of the cores' time in the
kernel before. `restore_malloc_thresholds` raises both thresholds again; it must run after TF's
setting, i.e. after the first distributed iterator exists (the `MallocThresholds` callback does).
"""

import ctypes
import ctypes.util
import functools

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
TRIM_THRESHOLD = 1 << 30  # keep up to 1 GiB of freed heap instead of returning it to the system
# allocations below this come from the heap and are reused; where glibc refuses 1 GiB (its documented
# maximum is HEAP_MAX_SIZE / 2, 32 MiB on 64-bit), 32 MiB
MMAP_THRESHOLDS = (1 << 30, 32 << 20)


@functools.cache  # find_library runs ldconfig: once per process, not on every call
def _libc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        return libc if hasattr(libc, "mallopt") else None
    except OSError:
        return None


def restore_malloc_thresholds():
    """Raise glibc's trim and mmap thresholds (large buffers are reused, not re-mapped every step).

    Returns True where glibc accepted them; False elsewhere (musl, macOS, Windows: nothing to undo).
    Costs microseconds, so it is safe to call again whenever TF may have reset them.
    """
    libc = _libc()
    if libc is None:
        return False
    if not libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD):
        return False
    return any(libc.mallopt(M_MMAP_THRESHOLD, value) for value in MMAP_THRESHOLDS)
