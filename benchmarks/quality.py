"""The quality suite of docs/results.md: the paper's 13 methods at 24 and 48 bits — DMRH with
N = 1, 2, 3, the six deep baselines (DSH, DPSH, DSDH, DCH, DDSH, ADSH) on the same backbone at
N = 1, and the six non-deep ones (LSH, SH, SKLSH, PCAH, ITQ, FSSH) — on Fashion-MNIST (train =
database = 60,000; queries = the 10,000 test images) and on its 2×2 mosaic multi-label variant.

    python benchmarks/quality.py --width 0.125 --epochs 1      # ~1 hour a data set on 2 CPU cores

One budget for every deep method: `--epochs` passes' worth of training images (epochs × n image
passes). Methods whose epoch is not a pass over the training set get as many epochs as make the
same number of image passes: ADSH's epoch is `adsh_inner_epochs` passes over |Ω| images, so it gets
epochs × n / (3 × 2000) outer iterations (10 for one epoch of Fashion-MNIST). Every deep method uses
one optimiser recipe: the package's default (SGD, momentum 0.9, lr 0.05 after a warm-up, clip-norm
1), or a preset's with `--preset` (e.g. `cpu`: Adam 1e-3, cosine decay, dropout 0; the flags the
suite sets — width, epochs, sizes, N — override the preset's).

`--add` extends a data set's report and record by other bit lengths (e.g. `--bits 24` beside an
earlier 48), keeping what is there. Resumable: a run whose results.json exists is not trained again,
and a data set's report is not rebuilt while it is newer than all its runs. Writes
runs/quality/<data>_k<bits>_n<N>/ (one training run each), docs/results/<data>/ (the tables and
plots of `python -m dmrh_tf.evaluate`) and benchmarks/results/quality.json: every row of the tables
with mAP@5000, precision@100, the seconds it took (training, and encoding + scoring) and the command
that reproduces it.
"""

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from common import finish, machine, run_logged

from dmrh_tf.evaluation.report import metric_value
from dmrh_tf.training.config import METHODS, PRESETS, Config

log = logging.getLogger("quality")
DATA_DIR = "/usr/share/datasets/fashion-mnist"
OUT = Path(__file__).parent / "results" / "quality.json"


FULL_TRAIN_SIZE = 60_000  # Fashion-MNIST's (and its mosaic's) training split


def method_epochs(method, epochs, train_size):
    """Epochs of `method` that make `epochs` passes' worth of training images (the equal budget)."""
    if method == "adsh":
        defaults = Config()
        per_epoch = defaults.adsh_inner_epochs * min(defaults.adsh_omega, train_size)
        return max(1, round(float(epochs) * train_size / per_epoch))
    return int(epochs)


def _size(text):
    return None if text == "none" else int(text)


def train_command(args, dataset, method, bits, regions, run_dir):
    return [
        "python", "-m", "dmrh_tf.train", "--dataset", dataset, "--data-dir", args.data_dir,
        "--train-size", args.train_size, "--query-size", args.query_size, "--method", method,
        "--bits", str(bits), "--regions", str(regions), "--width", args.width,
        "--epochs", str(method_epochs(method, args.epochs, _size(args.train_size) or FULL_TRAIN_SIZE)),
        "--run-dir", run_dir, "--verbose", "2", *(["--preset", args.preset] if args.preset else []),
    ]  # fmt: skip


def evaluate_command(args, dataset, run_dirs):
    return [
        "python", "-m", "dmrh_tf.evaluate", "--runs", *run_dirs, "--baselines", *args.baselines,
        "--train-size", args.train_size, "--query-size", args.query_size,
        "--bits", *map(str, args.bits), "--out", os.path.join(args.out, dataset),
        *([] if args.add else ["--fresh"]),
    ]  # fmt: skip


def grid(args):
    """(method, N) of every training run: DMRH at each N, the deep baselines at N = 1."""
    cells = [("dmrh", regions) for regions in args.regions]
    return cells + [(method, 1) for method in args.methods if method != "dmrh"]


def summary(report_path, train_commands, evaluate, bit_lengths):
    """The rows of one data set's report at `bit_lengths`: metrics, seconds and the commands behind
    each cell."""
    with open(report_path) as f:
        report = json.load(f)
    rows = []
    for method, entry in report["methods"].items():
        for bits, metrics in sorted(entry["bits"].items(), key=lambda item: int(item[0])):
            if int(bits) not in bit_lengths:
                continue
            row = {
                "method": method,
                "bits": int(bits),
                f"map@{metrics['map_k']}": metrics["map"],
                "precision@100": metric_value(metrics, "precision@100"),
                "evaluation_seconds": metrics.get("seconds"),
            }
            run_dir = metrics.get("run_dir")
            if run_dir:
                with open(os.path.join(run_dir, "results.json")) as f:
                    row["training_seconds"] = json.load(f)["seconds"]  # training + its own encoding
                row["train_command"] = " ".join(train_commands[run_dir])
            row["evaluate_command"] = " ".join(evaluate)
            rows.append(row)
    return {"sizes": report.get("sizes"), "rows": rows}


def main():
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--datasets", nargs="+", default=["fashion_mnist", "mosaic"])
    parser.add_argument("--bits", type=int, nargs="+", default=[24, 48])
    parser.add_argument("--regions", type=int, nargs="+", default=[1, 2, 3], help="DMRH's N")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), help="deep methods")
    parser.add_argument("--baselines", nargs="+", default=["lsh", "sh", "sklsh", "pcah", "itq", "fssh"])
    parser.add_argument("--preset", choices=sorted(PRESETS), help="the recipe (default: the default's)")
    parser.add_argument("--width", default="0.125")
    parser.add_argument("--epochs", default="1")
    parser.add_argument("--data-dir", default=DATA_DIR)
    parser.add_argument("--train-size", default="none", help="training (= database) images; none = all")
    parser.add_argument("--query-size", default="none", help="query images; none = all 10,000")
    parser.add_argument("--runs", default="runs/quality")
    parser.add_argument("--out", default="docs/results")
    parser.add_argument("--record", type=Path, default=OUT, help="the JSON summary")
    parser.add_argument(
        "--add",
        action="store_true",
        help="add --bits to a data set's report and record, keeping its other bit lengths (whose runs "
        "may be gone); the same sizes are checked",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    record = json.loads(args.record.read_text()) if args.record.exists() else {}
    settings = {
        "preset": args.preset,
        "width": args.width,
        "epochs": args.epochs,
        "budget": "epochs × n image passes per deep method",
    }
    record.update(machine=machine(), settings=settings)
    record.setdefault("datasets", {})
    for dataset in args.datasets:
        commands = {}
        for bits in args.bits:
            for method, regions in grid(args):
                run_dir = os.path.join(args.runs, f"{dataset}_{method}_k{bits}_n{regions}")
                commands[run_dir] = train_command(args, dataset, method, bits, regions, run_dir)
                if os.path.exists(os.path.join(run_dir, "results.json")):
                    log.info("%s done already", run_dir)
                    continue
                run_logged([sys.executable, *commands[run_dir][1:]], log)
        evaluate = evaluate_command(args, dataset, list(commands))
        report = Path(args.out, dataset, "results.json")
        newest_run = max(os.path.getmtime(os.path.join(d, "results.json")) for d in commands)
        if report.exists() and report.stat().st_mtime > newest_run:
            log.info("%s is newer than its runs: not evaluated again", report)
        else:
            run_logged([sys.executable, *evaluate[1:]], log)
        entry = summary(report, commands, evaluate, args.bits)
        if args.add and dataset in record["datasets"]:
            kept = [row for row in record["datasets"][dataset]["rows"] if row["bits"] not in args.bits]
            entry["rows"] = sorted(kept + entry["rows"], key=lambda row: row["bits"])
        record["datasets"][dataset] = entry
        args.record.parent.mkdir(parents=True, exist_ok=True)
        args.record.write_text(json.dumps({**record, "machine": finish(record["machine"])}, indent=2) + "\n")
        log.info("wrote %s", args.record)


if __name__ == "__main__":
    main()
