"""Serving for dmrh_tf: export for TF Serving, a gRPC hashing client, a TF-Serving-compatible server.

- `export_run` / `export_model` (CLI `python -m serving.export`): a run → `BASE/NAME/<version>/`.
- `HashingClient` (CLI `python -m serving.client`): hash images through any TF Serving.
- `ModelServer` (CLI `python -m serving.server`): a local pure-Python server with TF Serving's API.

Names are imported on first use, so that the client does not load Keras or the model code.
"""

import importlib
import os
import sys

# TensorFlow's oneDNN CPU kernels unless the environment says otherwise, before TF is imported: the
# policy of dmrh_tf/__init__.py (why: dmrh_tf/model/cpu_kernels.py), set here too because `serving`
# does not import dmrh_tf up front. Not once TF is imported: dmrh_tf then warns where it ran TF's own.
if "tensorflow" not in sys.modules:
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

_EXPORTS = {
    "HashingClient": "serving.client",
    "ModelServer": "serving.server",
    "ServingError": "serving.errors",
    "export_model": "serving.export",
    "export_run": "serving.export",
    "pack_bits": "serving.serving_graph",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'serving' has no attribute {name!r}")


def __dir__():
    return __all__
