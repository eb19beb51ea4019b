"""Undoing TF's malloc setting: large buffers come from the heap again (glibc only)."""

import ctypes
import pathlib
import subprocess
import sys
import textwrap

import pytest

from dmrh_tf.training import glibc_malloc
from dmrh_tf.training.callbacks import MallocThresholds

FIELDS = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in FIELDS.split()]


@pytest.fixture
def glibc():
    libc = glibc_malloc._libc()
    if libc is None or not hasattr(libc, "mallinfo2"):
        pytest.skip("needs glibc >= 2.33 (mallinfo2)")


def _prepared(libc):
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


def test_restoring_the_thresholds_serves_large_buffers_from_the_heap(glibc):
    # In a fresh process: a used heap may already hold a free 4 MiB chunk, which malloc reuses anyway.
    script = textwrap.dedent(
        """
        from dmrh_tf.training import glibc_malloc
        from tests.test_glibc_malloc import _mmapped, _prepared
        libc = _prepared(glibc_malloc._libc())
        # the state TF's trim setting leaves where the mmap threshold had not grown: 128 KiB
        libc.mallopt(glibc_malloc.M_TRIM_THRESHOLD, 128 * 1024)
        libc.mallopt(glibc_malloc.M_MMAP_THRESHOLD, 128 * 1024)
        before = _mmapped(libc, 4 << 20)  # a fresh mapping (zero-filled page by page) every time
        restored = glibc_malloc.restore_malloc_thresholds()
        print(before, restored, _mmapped(libc, 4 << 20), glibc_malloc.restore_malloc_thresholds())
        """
    )
    root = pathlib.Path(__file__).parent.parent
    out = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True", "False", "True"]  # mapped, restored, reused, idempotent


def test_the_callback_restores_once_an_epochs_iterator_exists(monkeypatch):
    calls = []
    monkeypatch.setattr("dmrh_tf.training.callbacks.restore_malloc_thresholds", lambda: calls.append(1))
    callback = MallocThresholds()
    callback.on_epoch_begin(0)
    for batch in range(5):
        callback.on_train_batch_end(batch)
    assert len(calls) == 2  # the epoch's start and its first batch, not every batch
