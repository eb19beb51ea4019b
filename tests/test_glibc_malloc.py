"""Undoing TF's malloc setting: large buffers come from the heap again (glibc only)."""

import ctypes

import pytest

from dmrh_tf.training import glibc_malloc
from dmrh_tf.training.callbacks import MallocThresholds

MIB = 1 << 20


FIELDS = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in FIELDS.split()]


@pytest.fixture
def libc():
    libc = glibc_malloc._libc()
    if libc is None or not hasattr(libc, "mallinfo2"):
        pytest.skip("needs glibc >= 2.33 (mallinfo2)")
    libc.mallinfo2.restype = _Mallinfo2
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    return libc


def _mmapped(libc, size):
    """Whether a `size`-byte malloc is served by its own mmap (glibc counts those in `hblks`)."""
    before = libc.mallinfo2().hblks
    pointer = libc.malloc(size)
    mapped = libc.mallinfo2().hblks - before
    libc.free(pointer)
    return mapped == 1


def test_restoring_the_thresholds_serves_large_buffers_from_the_heap(libc):
    # the state TF's trim setting leaves where the mmap threshold had not grown: 128 KiB
    libc.mallopt(glibc_malloc.M_TRIM_THRESHOLD, 128 * 1024)
    libc.mallopt(glibc_malloc.M_MMAP_THRESHOLD, 128 * 1024)
    assert _mmapped(libc, 4 * MIB)  # a fresh mapping (zero-filled page by page) every time
    assert glibc_malloc.restore_malloc_thresholds()
    assert not _mmapped(libc, 4 * MIB)  # reused heap memory
    assert glibc_malloc.restore_malloc_thresholds()  # idempotent


def test_the_callback_restores_once_an_epochs_iterator_exists(monkeypatch):
    calls = []
    monkeypatch.setattr("dmrh_tf.training.callbacks.restore_malloc_thresholds", lambda: calls.append(1))
    callback = MallocThresholds()
    callback.on_epoch_begin(0)
    for batch in range(5):
        callback.on_train_batch_end(batch)
    assert len(calls) == 2  # the epoch's start and its first batch, not every batch
