"""Training throughput of DMRH: images/s of whole training steps, achieved GFLOP/s, and encoding.

End to end as in `python -m dmrh_tf.train`: its `tf.distribute` strategy (`--strategy`), the
`tf.data` pipeline (uint8 images resized to 192 + 32N every batch), the forward and backward pass,
the memory-bank loss over `--memory` training outputs, gradient clipping and the SGD update.
`--malloc tf` leaves TensorFlow's malloc setting that train undoes (`dmrh_tf/training/glibc_malloc.py`),
to measure what it costs. Not a test: it measures, it asserts nothing.

    python benchmarks/train_throughput.py                       # widths 1.0, 0.25, 0.125; N = 1..4
    python benchmarks/train_throughput.py --regions 2 --widths 1.0 --steps 30

`--encode N` also times `encode_split` on N uint8 28×28 grey images (Fashion-MNIST's shape: the
resize to 192 + 32N, grey → RGB and the forward pass, as `train` and `evaluate` encode), median of
`--encode-passes` passes, each recorded. `--rounds`
repeats every measurement and records each round and their median: on a shared machine compare
medians of interleaved runs, not single numbers. `--profile-steps P` traces P more steps after the
timed ones with TensorFlow's profiler and records each op type's self time in milliseconds per step
(`op_profile.py`; core-milliseconds, summed over both the step's and the input pipeline's threads).

FLOPs are counted from the layer shapes (2·H·W·k²·Cin·Cout per convolution, forward) and a training
step is taken as 3× the forward pass (backward ≈ 2× forward), the usual convention.
"""

import argparse
import json
import logging
import os
import shutil
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# dmrh_tf before TensorFlow and Keras: it picks TF's CPU kernels (dmrh_tf/__init__.py)
import dmrh_tf  # noqa: F401

# isort: split
import keras
import numpy as np
from common import finish, forward_flops, machine
from op_profile import ProfileSteps, op_self_seconds, per_step_table

from dmrh_tf.data import Split, train_dataset
from dmrh_tf.encode import encode_split
from dmrh_tf.model import input_side
from dmrh_tf.train import build_trainer
from dmrh_tf.training.config import Config
from dmrh_tf.training.distribution import make_strategy

log = logging.getLogger("train_throughput")


class StepClock(keras.callbacks.Callback):
    """The time at the end of every training step (one `fit` call: no re-tracing in the timing)."""

    def __init__(self):
        super().__init__()
        self.times = []

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter())


def measure_encoding(encoder, count, passes=1):
    """Images/s of each of `passes` `encode_split` calls on `count` uint8 28×28×1 images (after one
    warm-up call)."""
    images = np.random.default_rng(1).integers(0, 256, (count, 28, 28, 1), dtype=np.uint8)
    split = Split(np.arange(count).astype(str), np.zeros((count, 1), "float32"), images)
    encode_split(encoder, Split(split.ids[:128], split.labels[:128], images[:128]))
    rates = []
    for _ in range(passes):
        started = time.perf_counter()
        encode_split(encoder, split)
        rates.append(round(count / (time.perf_counter() - started), 2))
    return rates


def measure(
    width, regions, bits, batch_size, steps, memory, jit_compile, mixed_precision, strategy, malloc,
    *, profile_steps=0,
):  # fmt: skip
    keras.backend.clear_session()
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16" if mixed_precision else "float32")
    config = Config(bits=bits, regions=regions, width=width, batch_size=batch_size, jit_compile=jit_compile)
    rng = np.random.default_rng(0)
    labels = np.eye(10, dtype="float32")[rng.integers(0, 10, memory)]
    images = rng.integers(0, 256, (memory, 32, 32, 3), dtype=np.uint8)
    split = Split(np.arange(memory).astype(str), labels, images)
    with make_strategy(strategy).scope():
        trainer = build_trainer(config, labels, steps_per_epoch=steps)
    dataset = train_dataset(split, input_side(regions), batch_size)
    warmup = 3  # tracing and first steps, left out of the timing
    clock = StepClock()
    callbacks = [clock]
    if malloc == "restore":  # imported here: `PYTHONPATH` at an older checkout (speedup.py) lacks it
        from dmrh_tf.training.callbacks import MallocThresholds

        callbacks.append(MallocThresholds())
    profile_dir = tempfile.mkdtemp(prefix="train_throughput_profile_") if profile_steps else None
    if profile_steps:  # after the timed steps: the profiler's overhead stays out of their timing
        callbacks.append(ProfileSteps(profile_dir, warmup + steps, profile_steps))
    trainer.fit(
        dataset, epochs=1, steps_per_epoch=warmup + steps + profile_steps, verbose=0,
        callbacks=callbacks, shuffle=False,
    )  # fmt: skip
    timed = clock.times[warmup - 1 : warmup + steps]
    seconds = timed[-1] - timed[0]
    images_per_second = steps * batch_size / seconds
    flops = forward_flops(trainer.encoder)
    row = {
        "width": width,
        "regions": regions,
        "input_side": input_side(regions),
        "bits": bits,
        "batch_size": batch_size,
        "memory_rows": memory,
        "jit_compile": jit_compile,
        "strategy": strategy,
        "malloc": malloc,
        "precision": "mixed_bfloat16" if mixed_precision else "float32",
        "steps": steps,
        "seconds": round(seconds, 3),
        "median_step_seconds": round(float(np.median(np.diff(timed))), 4),
        "images_per_second": round(images_per_second, 2),
        "forward_gflop_per_image": round(flops / 1e9, 4),
        "achieved_gflop_per_second": round(3 * flops * images_per_second / 1e9, 1),
    }
    if profile_steps:
        profiled = clock.times[warmup + steps - 1 :]
        row["profile_steps"] = profile_steps
        row["profile_step_seconds"] = round((profiled[-1] - profiled[0]) / profile_steps, 4)
        row["profile_ms_per_step"] = per_step_table(op_self_seconds(profile_dir), profile_steps)
        shutil.rmtree(profile_dir)
    return row, trainer.encoder


def measure_rounds(args, width, regions, jit):
    """`args.rounds` measurements of one setting: every round's images/s and their medians."""
    rounds = []
    for _ in range(args.rounds):
        row, encoder = measure(
            width, regions, args.bits, args.batch_size, args.steps, args.memory, jit,
            args.mixed_precision, args.strategy, args.malloc, profile_steps=args.profile_steps,
        )  # fmt: skip
        if args.encode:
            rates = measure_encoding(encoder, args.encode, args.encode_passes)
            row["encode_images"] = args.encode
            row["encode_images_per_second"] = round(float(np.median(rates)), 2)
            if args.encode_passes > 1:
                row["encode_pass_images_per_second"] = rates
        rounds.append(row)
    row = dict(rounds[len(rounds) // 2])
    for key in ("images_per_second", "encode_images_per_second"):
        if key in row:
            row[key] = round(float(np.median([r[key] for r in rounds])), 2)
            row[f"{key}_rounds"] = [r[key] for r in rounds]
    flops = row["forward_gflop_per_image"] * 1e9
    row["achieved_gflop_per_second"] = round(3 * flops * row["images_per_second"] / 1e9, 1)
    row["rounds"] = args.rounds
    return row


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
        "--strategy", choices=["mirrored", "default"], default="mirrored",
        help="mirrored: as `python -m dmrh_tf.train` on one machine; default: no tf.distribute",
    )  # fmt: skip
    parser.add_argument(
        "--malloc", choices=["restore", "tf"], default="restore",
        help="restore: undo TF's malloc trim setting, as train does (glibc_malloc); tf: leave it",
    )  # fmt: skip
    parser.add_argument("--encode", type=int, default=0, help="also time encoding this many images")
    parser.add_argument(
        "--encode-passes", type=int, default=1, help="encode them this many times (each pass recorded)"
    )
    parser.add_argument("--rounds", type=int, default=1, help="measurements per setting (median kept)")
    parser.add_argument(
        "--profile-steps", type=int, default=0,
        help="trace this many more steps after the timed ones: op types' self ms per step (op_profile.py)",
    )  # fmt: skip
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
                row = measure_rounds(args, width, regions, jit)
                log.info(
                    "width %.3g N=%d side %d jit=%s: %.1f images/s, %.1f GFLOP/s; encoding %s images/s",
                    width, regions, row["input_side"], jit, row["images_per_second"],
                    row["achieved_gflop_per_second"], row.get("encode_images_per_second", "-"),
                )  # fmt: skip
                rows.append(row)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"machine": finish(info), "results": rows}, f, indent=2)
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
