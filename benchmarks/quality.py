"""The quality suite of docs/results.md: DMRH with N = 1, 2, 3 at 24 and 48 bits against ITQ, PCAH
and LSH, on Fashion-MNIST (train = database = 60,000; queries = the 10,000 test images) and on its
2×2 mosaic multi-label variant, all with one fixed training budget.

    python benchmarks/quality.py --width 0.125 --epochs 1      # ~1 hour on 2 CPU cores

Resumable: a run whose results.json exists is not trained again. Writes runs/quality/<data>_k<bits>_n<N>/
(one training run each), docs/results/<data>/ (the tables and plots of `python -m dmrh_tf.evaluate`)
and benchmarks/results/quality.json (the commands and the time each took).
"""

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import time

log = logging.getLogger("quality")
DATA_DIR = "/usr/share/datasets/fashion-mnist"


def run(command):
    log.info("$ %s", " ".join(command))
    started = time.time()
    subprocess.run(command, check=True)
    return round(time.time() - started, 1)


def main():
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--datasets", nargs="+", default=["fashion_mnist", "mosaic"])
    parser.add_argument("--bits", type=int, nargs="+", default=[24, 48])
    parser.add_argument("--regions", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--width", default="0.125")
    parser.add_argument("--epochs", default="1")
    parser.add_argument("--data-dir", default=DATA_DIR)
    parser.add_argument("--runs", default="runs/quality")
    parser.add_argument("--out", default="docs/results")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    python = sys.executable
    record = {"machine": {"platform": platform.platform(), "cpu_count": os.cpu_count()}, "steps": []}
    for dataset in args.datasets:
        run_dirs = []
        for bits in args.bits:
            for regions in args.regions:
                run_dir = os.path.join(args.runs, f"{dataset}_k{bits}_n{regions}")
                run_dirs.append(run_dir)
                command = [
                    python, "-m", "dmrh_tf.train", "--dataset", dataset, "--data-dir", args.data_dir,
                    "--train-size", "none", "--query-size", "none", "--bits", str(bits),
                    "--regions", str(regions), "--width", args.width, "--epochs", args.epochs,
                    "--run-dir", run_dir, "--verbose", "2",
                ]  # fmt: skip
                if os.path.exists(os.path.join(run_dir, "results.json")):
                    log.info("%s done already", run_dir)
                    continue
                record["steps"].append({"command": " ".join(command[1:]), "seconds": run(command)})
        command = [
            python, "-m", "dmrh_tf.evaluate", "--runs", *run_dirs, "--baselines", "itq", "pcah", "lsh",
            "--bits", *map(str, args.bits), "--out", os.path.join(args.out, dataset), "--fresh",
        ]  # fmt: skip
        record["steps"].append({"command": " ".join(command[1:]), "seconds": run(command)})
    os.makedirs("benchmarks/results", exist_ok=True)
    with open("benchmarks/results/quality.json", "w") as f:
        json.dump(record, f, indent=2)


if __name__ == "__main__":
    main()
