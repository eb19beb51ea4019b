"""Whether TensorFlow runs oneDNN's CPU kernels in this process (some layers pick their path by it).

`dmrh_tf/__init__.py` asks TensorFlow for them (`TF_ENABLE_ONEDNN_OPTS=1` unless the environment
sets it) before anything imports TensorFlow. On Linux, TF turns them on by itself only where the CPU
has AVX512_VNNI, AVX512_BF16, AVX_VNNI or AMX (`DefaultOneDnnPolicy`, tensorflow/core/util/port.cc);
elsewhere it runs its own (Eigen) kernels, which trained DMRH 1.4-1.5x slower at widths 0.25-0.5 on
2 AVX2 cores (docs/results.md, "Speed of a training step").
"""

import functools


@functools.cache
def onednn_enabled() -> bool:
    """Whether this process's TensorFlow runs oneDNN's kernels (imports TensorFlow: call it only
    on the TensorFlow backend)."""
    try:
        from tensorflow.python.util import _pywrap_util_port  # the flag TF itself checks (private)

        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        return False
