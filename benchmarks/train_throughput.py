"""Training throughput of DMRH: images/s of whole training steps, and achieved GFLOP/s.

End to end as in `python -m dmrh_tf.train`: the `tf.data` pipeline (uint8 images resized to
192 + 32N every batch), the forward and backward pass, the memory-bank loss over `--memory` training
outputs, gradient clipping and the SGD update. Not a test: it measures, it asserts nothing.

    python benchmarks/train_throughput.py                       # widths 1.0, 0.25, 0.125; N = 1..4
    python benchmarks/train_throughput.py --regions 2 --widths 1.0 --steps 30

FLOPs are counted from the layer shapes (2·H·W·k²·Cin·Cout per convolution, forward) and a training
step is taken as 3× the forward pass (backward ≈ 2× forward), the usual convention.
"""

import argparse
import json
import logging
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
from common import finish, forward_flops, machine

from dmrh_tf.data import Split, train_dataset
from dmrh_tf.model import input_side
from dmrh_tf.train import build_trainer
from dmrh_tf.training.config import Config

log = logging.getLogger("train_throughput")


class StepClock(keras.callbacks.Callback):
    """The time at the end of every training step (one `fit` call: no re-tracing in the timing)."""

    def __init__(self):
        super().__init__()
        self.times = []

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter())


def measure(width, regions, bits, batch_size, steps, memory, jit_compile, mixed_precision):
    keras.backend.clear_session()
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16" if mixed_precision else "float32")
    config = Config(bits=bits, regions=regions, width=width, batch_size=batch_size, jit_compile=jit_compile)
    rng = np.random.default_rng(0)
    labels = np.eye(10, dtype="float32")[rng.integers(0, 10, memory)]
    images = rng.integers(0, 256, (memory, 32, 32, 3), dtype=np.uint8)
    split = Split(np.arange(memory).astype(str), labels, images)
    trainer = build_trainer(config, labels, steps_per_epoch=steps)
    dataset = train_dataset(split, input_side(regions), batch_size)
    warmup = 3  # tracing and first steps, left out of the timing
    clock = StepClock()
    trainer.fit(
        dataset, epochs=1, steps_per_epoch=warmup + steps, verbose=0, callbacks=[clock], shuffle=False
    )
    seconds = clock.times[-1] - clock.times[warmup - 1]
    images_per_second = steps * batch_size / seconds
    flops = forward_flops(trainer.encoder)
    return {
        "width": width,
        "regions": regions,
        "input_side": input_side(regions),
        "bits": bits,
        "batch_size": batch_size,
        "memory_rows": memory,
        "jit_compile": jit_compile,
        "precision": "mixed_bfloat16" if mixed_precision else "float32",
        "steps": steps,
        "seconds": round(seconds, 3),
        "median_step_seconds": round(float(np.median(np.diff(clock.times[warmup - 1 :]))), 4),
        "images_per_second": round(images_per_second, 2),
        "forward_gflop_per_image": round(flops / 1e9, 4),
        "achieved_gflop_per_second": round(3 * flops * images_per_second / 1e9, 1),
    }


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--widths", type=float, nargs="+", default=[1.0, 0.25, 0.125])
    parser.add_argument("--regions", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--bits", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--memory", type=int, default=10000, help="training outputs in the memory bank")
    parser.add_argument("--jit", choices=["off", "on", "both"], default="off")
    parser.add_argument("--mixed-precision", action="store_true", help="mixed_bfloat16")
    parser.add_argument(
        "--out", default=os.path.join(os.path.dirname(__file__), "results", "train_throughput.json")
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    info = machine()
    log.info("machine: %s", json.dumps(info))
    jits = {"off": [False], "on": [True], "both": [False, True]}[args.jit]
    rows = []
    for width in args.widths:
        for regions in args.regions:
            for jit in jits:
                row = measure(
                    width,
                    regions,
                    args.bits,
                    args.batch_size,
                    args.steps,
                    args.memory,
                    jit,
                    args.mixed_precision,
                )
                log.info(
                    "width %.3g N=%d side %d jit=%s: %.1f images/s, %.1f GFLOP/s",
                    width, regions, row["input_side"], jit, row["images_per_second"],
                    row["achieved_gflop_per_second"],
                )  # fmt: skip
                rows.append(row)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"machine": finish(info), "results": rows}, f, indent=2)
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
