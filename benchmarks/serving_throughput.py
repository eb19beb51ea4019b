"""Hashing throughput through gRPC (local TF-Serving-compatible server) versus in-process inference.

    python benchmarks/serving_throughput.py                  # width 1.0, N = 2, 48 bits, ~2-4 minutes
    python benchmarks/serving_throughput.py --width 0.25     # a smaller network, faster

A random-weight model (throughput does not depend on the weights) is exported with
`serving.export`, served by `python -m serving.server` in a separate process on 127.0.0.1, and
hashed with `HashingClient` (uint8 images at the model's input side, `serving_default`, codes
only). The in-process baseline runs the same exported signature, loaded with
`tf.saved_model.load` in this process, on the same images. For each batch size (1 and 32) each
path runs for about `--seconds` in total, split into `--rounds` rounds that alternate between the
two paths (the machine's load drifts); after `--warmup` calls, at most `--max-calls` calls a round.
images/s = images hashed / wall time; the best round is reported (and the median). The gap is the
cost of gRPC, serialisation and the server's Python.

Writes JSON (default `benchmarks/results/serving_throughput.json`) with the machine it ran on.
Timings on a shared machine vary with its load: the load average at the start and end is recorded.
"""

import argparse
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# dmrh_tf before TensorFlow and Keras: it picks TF's CPU kernels (dmrh_tf/__init__.py)
import dmrh_tf

# isort: split
import numpy as np
import tensorflow as tf
from common import finish, machine

from serving.client import HashingClient
from serving.export import export_model

log = logging.getLogger("serving_throughput")
DEFAULT_OUT = Path(__file__).parent / "results" / "serving_throughput.json"
REPO = Path(__file__).resolve().parent.parent


def throughput(hash_batch, batch, seconds, warmup, max_calls):
    """Images/s of `hash_batch(batch)` called repeatedly for ~`seconds` (bounded by `max_calls`)."""
    for _ in range(warmup):
        hash_batch(batch)
    calls, started = 0, time.perf_counter()
    while calls < max_calls and (calls == 0 or time.perf_counter() - started < seconds):
        hash_batch(batch)
        calls += 1
    elapsed = time.perf_counter() - started
    return {
        "calls": calls,
        "images": calls * len(batch),
        "seconds": round(elapsed, 3),
        "images_per_second": round(calls * len(batch) / elapsed, 2),
    }


def start_server(model_dir, model_name, *flags):
    """`python -m serving.server` (with `flags`) on a free port of 127.0.0.1; returns (process, address)."""
    command = [
        sys.executable,
        "-m",
        "serving.server",
        "--model_name",
        model_name,
        "--model_base_path",
        str(model_dir),
        "--port",
        "0",
        "--host",
        "127.0.0.1",
        *flags,
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(command, cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
    for line in process.stderr:  # ends when the server exits
        match = re.search(r"Running gRPC ModelServer at (\S+) \.\.\.", line)
        if match:
            return process, match.group(1)
    raise RuntimeError(f"the server exited with {process.wait()} before serving")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bits", type=int, default=48)
    parser.add_argument("--regions", type=int, default=2)
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--seconds", type=float, default=10.0, help="measuring time per batch size and path")
    parser.add_argument("--rounds", type=int, default=3, help="alternating measurements per path (best kept)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--max-calls", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    facts = {"machine": machine()}
    log.info("machine: %s", facts["machine"])

    side = dmrh_tf.input_side(args.regions)
    model = dmrh_tf.build_model(args.bits, args.regions, args.width)
    config = dmrh_tf.Config(bits=args.bits, regions=args.regions, width=args.width)
    images = np.random.RandomState(0).randint(0, 256, (max(args.batch_sizes), side, side, 3)).astype(np.uint8)
    facts["model"] = {
        "bits": args.bits,
        "regions": args.regions,
        "width": args.width,
        "input_side": side,
        "parameters": int(model.count_params()),
        "weights": "random",
    }
    results = []
    with tempfile.TemporaryDirectory() as base:
        path = export_model(model, config, base, "dmrh")
        signature = tf.saved_model.load(path).signatures["serving_default"]

        def in_process(batch):
            return signature(images=tf.constant(batch))["codes"].numpy()

        process, address = start_server(Path(base) / "dmrh", "dmrh")
        try:
            with HashingClient(address, "dmrh", batch_size=max(args.batch_sizes), timeout=600) as client:
                np.testing.assert_array_equal(client.hash_images(images[:2]), in_process(images[:2]))
                for batch_size in args.batch_sizes:
                    batch = images[:batch_size]
                    paths = {"in_process": in_process, "grpc": client.hash_images}
                    rounds = {name: [] for name in paths}
                    for round_index in range(args.rounds):  # alternate the paths: the load drifts
                        for name, hash_batch in paths.items():
                            warmup = args.warmup if round_index == 0 else 0
                            seconds = args.seconds / args.rounds
                            rounds[name].append(
                                throughput(hash_batch, batch, seconds, warmup, args.max_calls)
                            )
                    for name, measured in rounds.items():
                        rates = [r["images_per_second"] for r in measured]
                        results.append(
                            {
                                "path": name,
                                "batch_size": batch_size,
                                "images_per_second": max(rates),
                                "median_images_per_second": float(np.median(rates)),
                                "rounds": measured,
                            }
                        )
                        log.info(
                            "%-10s batch %3d: %8.2f images/s (best of %d)",
                            name,
                            batch_size,
                            max(rates),
                            len(rates),
                        )
        finally:
            process.terminate()
            process.wait(timeout=60)
    for batch_size in args.batch_sizes:
        rates = {r["path"]: r["images_per_second"] for r in results if r["batch_size"] == batch_size}
        log.info("batch %3d: gRPC / in-process = %.2f", batch_size, rates["grpc"] / rates["in_process"])
    facts["results"] = results
    facts["machine"] = finish(facts["machine"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(facts, indent=2) + "\n")
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
