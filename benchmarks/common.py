"""What every benchmark records: the machine it ran on and, for the network, its counted FLOPs;
and how the suites run their training commands."""

import os
import platform
import subprocess
import sys
import time

import numpy as np


def run_logged(command, log):
    """Run `command` (a list), failing on a non-zero exit; `log` (a logger) gets it and its seconds."""
    log.info("$ %s", " ".join(command))
    started = time.time()
    subprocess.run(command, check=True)
    log.info("%.0f s", time.time() - started)


def machine(**extra) -> dict:
    """Platform, CPUs, load average, Python and NumPy versions, plus `extra` facts.

    Where Keras is imported: its version, backend and the backend's devices (accelerator names, e.g.
    "NVIDIA H200", under `accelerators`). On a shared machine the load average says how far to trust
    timings: `finish(facts)` adds the load at the end.
    """
    facts = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        **_cpu_model(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cpu_count": os.cpu_count(),
        "cpus_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average": _load_average(),
    }
    if "keras" in sys.modules:
        facts.update(_keras_facts())
    return {**facts, **extra}


def finish(facts: dict) -> dict:
    """`facts` with the load average at the end of the run added."""
    return {**facts, "load_average_end": _load_average()}


def forward_flops(model) -> int:
    """2 × multiply-adds of every convolution of `model` (built, fixed input size) for one image."""
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            _, height, width, out_channels = layer.output.shape
            kh, kw, in_channels, _ = layer.kernel.shape
            total += 2 * height * width * kh * kw * in_channels * out_channels
    return total


def _cpu_model() -> dict:
    """The CPU's model name and its vector extensions (from /proc/cpuinfo, where there is one): the
    machines this project runs on change between sessions, and AVX-512 against AVX2 alone moves
    every timing 2–4×."""
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return {}
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    flags = set(fields.get("flags", "").split())
    # avx512_bf16 on: what makes TensorFlow turn its oneDNN kernels on by itself (see `onednn`)
    wanted = (
        "avx2",
        "fma",
        "avx512f",
        "avx512_bf16",
        "avx512_vnni",
        "avx_vnni",
        "amx_bf16",
        "amx_tile",
        "amx_int8",
    )
    return {"cpu_model": fields.get("model name"), "cpu_flags": [f for f in wanted if f in flags]}


def _load_average():
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def _keras_facts() -> dict:
    import keras

    backend = keras.backend.backend()
    facts = {"keras": keras.__version__, "backend": backend}
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        names = [tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name) for gpu in gpus]
        facts.update(tensorflow=tf.__version__, accelerators=names, onednn=_onednn_enabled())
    elif backend == "jax":
        import jax

        names = [device.device_kind for device in jax.devices() if device.platform != "cpu"]
        facts.update(jax=jax.__version__, accelerators=names)
    elif backend == "torch":
        import torch

        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        facts.update(torch=torch.__version__, accelerators=names)
    return facts


def _onednn_enabled():
    """Whether TensorFlow runs oneDNN's CPU kernels (read from TF, not from dmrh_tf, so that a
    benchmark run with `PYTHONPATH` at an older checkout records it too)."""
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:
        return None
    return bool(_pywrap_util_port.IsMklEnabled())
