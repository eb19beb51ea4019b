"""Stop the graph of a request whose client is gone (cancelled, or past its deadline).

TensorFlow runs a function call under a `CancellationManager` when one is active
(`tensorflow.python.eager.cancellation`); `start_cancel()` then aborts its loops and kernels
with CANCELLED. TensorFlow keeps the active manager in one process-wide variable, which
concurrent requests would overwrite, so this module makes it per thread: `cancellable(context)`
activates a manager for the calling thread only and cancels it when the RPC terminates early.
"""

import contextlib
import threading

from tensorflow.python.eager import cancellation

_local = threading.local()
_process_wide = cancellation.context


def _thread_context():
    manager = getattr(_local, "manager", None)
    return manager if manager is not None else _process_wide()


# TensorFlow's `context.call_function` looks the active manager up through this module attribute.
cancellation.context = _thread_context


@contextlib.contextmanager
def cancellable(rpc_context=None):
    """Run the block's TensorFlow function calls under a manager cancelled with `rpc_context`.

    gRPC calls `rpc_context`'s callbacks when the RPC terminates: on cancellation, on an expired
    deadline, and after a normal answer (when cancelling finished work is a no-op). Yields the
    manager (None without a context, e.g. a warm-up request).
    """
    if rpc_context is None:
        yield None
        return
    manager = cancellation.CancellationManager()
    if not rpc_context.add_callback(manager.start_cancel):  # already terminated
        manager.start_cancel()
    previous, _local.manager = getattr(_local, "manager", None), manager
    try:
        yield manager
    finally:
        _local.manager = previous
