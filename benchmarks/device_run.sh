#!/usr/bin/env bash
# The network's throughput on a GPU machine without TensorFlow (the `device` tool's H200: JAX, no
# TensorFlow, no Keras). Here, once, from the repository root (.whl/ is git-ignored):
#
#     python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#         --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
#         -d .whl keras==3.15.1 namex optree
#
# then call the device tool's `run` with carry [".whl"], timeout_s 420 and the command
# `bash benchmarks/device_run.sh`. The JSON comes back under $OUT: copy it to benchmarks/results/.
set -euo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax PYTHONUNBUFFERED=1
out=${OUT:-benchmarks/results}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
for precision in mixed_bfloat16 float32; do
    python3 benchmarks/model_throughput.py --precision "$precision" --widths 1.0 --regions 1 2 3 4 \
        --train-batch 128 --infer-batch 256 --steps 20 --rounds 3 --warmup 3 \
        --out "$out/model_throughput_gpu_$precision.json"
done
