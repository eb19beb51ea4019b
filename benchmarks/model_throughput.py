"""Inference and training-step throughput of the DMRH network on any Keras backend.

The network alone, fed float images already at its input side from memory: no `tf.data`, no
resizing, so it runs where TensorFlow is missing (JAX on a GPU machine). Inference is the forward
pass in inference mode (region outputs, fusion, codes). A training step is forward, backward and
an SGD update of the fused output `h` under DMRH's loss in its in-batch form
(`DMRHLoss(mode="batch")`; the memory mode adds one [B, n]·K product, negligible beside the
convolutions). For the whole TensorFlow training step, data pipeline and memory bank included, see
`train_throughput.py`. Not a test: it measures, it asserts nothing.

    python benchmarks/model_throughput.py           # TensorFlow; widths 1.0, 0.25, 0.125; N = 1..4
    KERAS_BACKEND=jax python benchmarks/model_throughput.py --precision mixed_bfloat16 \\
        --train-batch 256 --infer-batch 256 --out benchmarks/results/model_throughput_gpu.json

FLOPs are counted from the layer shapes (`common.forward_flops`); a training step counts 3× the
forward pass (backward ≈ 2× forward). Each timing is the best of `--rounds` runs of at least
`--steps` steps and `--min-seconds`, after warm-up steps that compile; every step waits for its
result (losses and codes come back to the host), so asynchronous dispatch cannot flatter the numbers.
"""

import argparse
import json
import logging
import math
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# dmrh_tf before TensorFlow and Keras: it picks TF's CPU kernels (dmrh_tf/__init__.py)
import dmrh_tf  # noqa: F401

# isort: split
import keras
import numpy as np
from common import finish, forward_flops, machine

from dmrh_tf.methods import DMRHLoss
from dmrh_tf.model import build_model, input_side

log = logging.getLogger("model_throughput")
DEFAULT_OUT = Path(__file__).parent / "results" / "model_throughput.json"


def best_rate(step, batch, steps, min_seconds, rounds):
    """Images/s of the fastest of `rounds` timings of `step` (other processes share the CPU).

    Each timing runs at least `steps` calls and, judged by one timed call, at least `min_seconds`.
    """
    started = time.perf_counter()
    step()
    steps = max(steps, math.ceil(min_seconds / (time.perf_counter() - started)))
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(steps):
            step()
        best = min(best, time.perf_counter() - started)
    return steps * batch / best


def measure(width, regions, bits, train_batch, infer_batch, steps, min_seconds, warmup, rounds, precision):
    keras.backend.clear_session()
    keras.mixed_precision.set_dtype_policy(precision)
    keras.utils.set_random_seed(0)
    side = input_side(regions)
    encoder = build_model(bits, regions, width)
    flops = forward_flops(encoder)
    rng = np.random.default_rng(0)
    row = {
        "width": width,
        "regions": regions,
        "input_side": side,
        "bits": bits,
        "precision": precision,
        "parameters": int(encoder.count_params()),
        "forward_gflop_per_image": round(flops / 1e9, 4),
    }

    images = rng.uniform(0, 255, (infer_batch, side, side, 3)).astype("float32")
    infer = lambda: encoder.predict_on_batch(images)  # noqa: E731 — returns NumPy: synchronous
    for _ in range(warmup):
        infer()
    rate = best_rate(infer, infer_batch, steps, min_seconds, rounds)
    row["inference"] = {
        "batch_size": infer_batch,
        "images_per_second": round(rate, 2),
        "achieved_gflop_per_second": round(flops * rate / 1e9, 1),
    }

    trainee = keras.Model(encoder.input, encoder.output["h"])
    trainee.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss=DMRHLoss(mode="batch"))
    images = rng.uniform(0, 255, (train_batch, side, side, 3)).astype("float32")
    labels = np.eye(10, dtype="float32")[rng.integers(0, 10, train_batch)]
    train = lambda: trainee.train_on_batch(images, labels)  # noqa: E731 — returns a float: synchronous
    for _ in range(warmup):
        loss = train()
    rate = best_rate(train, train_batch, steps, min_seconds, rounds)
    row["training"] = {
        "batch_size": train_batch,
        "images_per_second": round(rate, 2),
        "achieved_gflop_per_second": round(3 * flops * rate / 1e9, 1),
        "loss_after_warmup": round(float(loss), 4),
    }
    return row


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--widths", type=float, nargs="+", default=[1.0, 0.25, 0.125])
    parser.add_argument("--regions", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--bits", type=int, default=48)
    parser.add_argument("--train-batch", type=int, default=32)
    parser.add_argument("--infer-batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per round, at least")
    parser.add_argument("--min-seconds", type=float, default=3.0, help="seconds per round, at least")
    parser.add_argument("--rounds", type=int, default=2, help="timings per measurement; the best is kept")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (compilation)")
    precisions = ["float32", "mixed_bfloat16", "mixed_float16"]
    parser.add_argument("--precision", choices=precisions, default="float32", help="Keras dtype policy")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    facts = machine()
    log.info("machine: %s", json.dumps(facts))
    rows = []
    for width in args.widths:
        for regions in args.regions:
            row = measure(
                width, regions, args.bits, args.train_batch, args.infer_batch,
                args.steps, args.min_seconds, args.warmup, args.rounds, args.precision,
            )  # fmt: skip
            log.info(
                "width %.3g N=%d side %d %s: inference %.1f images/s (%.1f GFLOP/s), "
                "training %.1f images/s (%.1f GFLOP/s)",
                width, regions, row["input_side"], args.precision,
                row["inference"]["images_per_second"], row["inference"]["achieved_gflop_per_second"],
                row["training"]["images_per_second"], row["training"]["achieved_gflop_per_second"],
            )  # fmt: skip
            rows.append(row)
    settings = {k: v for k, v in vars(args).items() if k != "out"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {"machine": finish(facts), "settings": settings, "results": rows}
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
