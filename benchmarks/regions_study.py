"""The method's claim at equal wall time: DMRH with N = 1, 2, 3 over several seeds on one data set.

    python benchmarks/regions_study.py      # 2×2 mosaic, 48 bits, `cpu` preset, 3 epochs' minutes,
                                            # 10,000 training images, 2,000 queries, seeds 0 1 2

A larger N means a larger input (192 + 32N px), so an N > 1 step costs more. To compare at equal
wall time each N gets the training steps that take as long as N = 1's `--epochs` passes:

1. **Calibration**: `train_throughput.measure` times `--calibration-steps` training steps at each N
   (the preset's width, batch 32, a memory of n rows, `train`'s strategy): c_N seconds a step. N's
   epoch is round((n / B) · c_1 / c_N) steps, `--epochs` of them, so the learning-rate schedule has
   the same shape at every N. `--budget images` is the control: every N gets N = 1's epochs (the
   same images seen, so N > 1 gets more time), in `n<N>_<weighting>_images_seed<s>/` (N = 1's runs
   are the same under both budgets and shared).
2. **Training**: one `python -m dmrh_tf.train --preset … --regions N --seed s` per cell, in
   `<runs>/n<N>_<weighting>_seed<s>/` (N = 1 once, with magnitude weighting: with one region the
   weightings coincide), then its own evaluation (mAP@K on the run's own splits: a seed
   fixes the data set's draw too, so each seed's N share their data). Resumable: a run with a
   results.json is not trained again.
3. **Record** (`--out`, rewritten after every run): every run's mAP@K and measured training
   seconds (how equal the budgets came out), each (N, weighting)'s mean ± std over seeds, and the
   per-seed paired gain over N = 1; the plot `<plots>/map_vs_regions_seeds.png`.
"""

import argparse
import dataclasses
import json
import logging
import os
import sys
from pathlib import Path

import numpy as np
from common import finish, machine, run_logged

from dmrh_tf.evaluation.curves import plot_map_vs_regions_seeds
from dmrh_tf.training.config import PRESETS, Config

log = logging.getLogger("regions_study")
DATA_DIR = "/usr/share/datasets/fashion-mnist"


def calibrate(width, regions, bits, memory, steps):
    """{N: seconds a training step} at each N, as `train` runs it (strategy, malloc fix)."""
    from train_throughput import measure  # imports TensorFlow: only when calibrating

    costs = {}
    for n in regions:
        row, _ = measure(width, n, bits, 32, steps, memory, False, False, "mirrored", "restore")
        costs[n] = row["seconds"] / row["steps"]
        log.info("N = %d: %.3f s a step", n, costs[n])
    return costs


def steps_per_epoch(costs, regions, train_size, budget="time", batch_size=32):
    """N's epoch in steps: one pass at N = 1 (⌊n / B⌋), scaled by c_1 / c_N under the time budget."""
    full = train_size // batch_size
    return full if budget == "images" else max(1, round(full * costs[1] / costs[regions]))


def run_name(regions, weighting, seed, budget):
    """A run's directory name: N = 1's runs are the same under both budgets."""
    suffix = "_images" if budget == "images" and regions > 1 else ""
    return f"n{regions}_{weighting}{suffix}_seed{seed}"


def train_command(args, regions, weighting, seed, steps, run_dir):
    return [
        sys.executable, "-m", "dmrh_tf.train", "--preset", args.preset, "--dataset", args.dataset,
        "--data-dir", args.data_dir, "--train-size", str(args.train_size),
        "--query-size", str(args.query_size), "--bits", str(args.bits), "--regions", str(regions),
        "--weighting", weighting, "--seed", str(seed), "--epochs", str(args.epochs),
        "--steps-per-epoch", str(steps), "--run-dir", run_dir, "--verbose", "2",
    ]  # fmt: skip


def study_cells(regions, weightings):
    """The (N, weighting) cells in training order. N = 1 is the baseline and runs once, with
    magnitude weighting: with one region every weighting is the identity (a softmax over one
    logit is 1), so a learned N = 1 would repeat it."""
    cells = [(1, "magnitude")] + [(n, w) for w in weightings for n in regions if n > 1]
    return list(dict.fromkeys(cells))


def summarize(runs):
    """Per (N, weighting): mean ± std of mAP@K over seeds and the paired gain over N = 1."""
    by_cell, baseline = {}, {}
    for run in runs:
        by_cell.setdefault((run["regions"], run["weighting"]), []).append(run)
        if run["regions"] == 1 and run["weighting"] == "magnitude":
            baseline[run["seed"]] = run["map_at_k"]
    cells = []
    for (regions, weighting), group in sorted(by_cell.items()):
        maps = np.array([run["map_at_k"] for run in group])
        gains = [run["map_at_k"] - baseline[run["seed"]] for run in group if run["seed"] in baseline]
        cells.append(
            {
                "regions": regions,
                "weighting": weighting,
                "seeds": [run["seed"] for run in group],
                "map_at_k_mean": round(float(maps.mean()), 4),
                "map_at_k_std": round(float(maps.std(ddof=1)), 4) if len(maps) > 1 else None,
                "gain_over_n1_per_seed": [round(g, 4) for g in gains],
                "gain_over_n1_mean": round(float(np.mean(gains)), 4) if gains else None,
                "train_seconds_mean": round(float(np.mean([run["train_seconds"] for run in group])), 1),
            }
        )
    return cells


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", default="mosaic")
    parser.add_argument("--data-dir", default=DATA_DIR)
    parser.add_argument("--preset", default="cpu", choices=sorted(PRESETS))
    parser.add_argument("--bits", type=int, default=48)
    parser.add_argument("--regions", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--weightings", nargs="+", default=["magnitude"], help="magnitude, learned")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=3, help="N = 1's passes: the time budget")
    parser.add_argument("--budget", choices=["time", "images"], default="time", help="equal for every N")
    parser.add_argument("--train-size", type=int, default=10_000)
    parser.add_argument("--query-size", type=int, default=2_000)
    parser.add_argument("--calibration-steps", type=int, default=30)
    parser.add_argument("--runs", default="runs/regions_study")
    parser.add_argument("--plots", default="docs/results/regions_study")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "regions_study.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if 1 not in args.regions:
        parser.error("--regions must include 1: N = 1 sets the time budget")
    info = machine()
    os.makedirs(args.runs, exist_ok=True)
    calibration_path = Path(args.runs, "calibration.json")  # kept: a resumed study keeps its budgets
    if calibration_path.exists():
        costs = {int(n): c for n, c in json.loads(calibration_path.read_text()).items()}
    else:
        width = dataclasses.replace(Config(), **PRESETS[args.preset]).width
        costs = calibrate(width, args.regions, args.bits, args.train_size, args.calibration_steps)
        calibration_path.write_text(json.dumps(costs, indent=2))
    runs = []
    for seed in args.seeds:  # seed-major: a study stopped early still has complete seeds
        for regions, weighting in study_cells(args.regions, args.weightings):
            steps = steps_per_epoch(costs, regions, args.train_size, args.budget)
            run_dir = os.path.join(args.runs, run_name(regions, weighting, seed, args.budget))
            command = train_command(args, regions, weighting, seed, steps, run_dir)
            results_path = os.path.join(run_dir, "results.json")
            if not os.path.exists(results_path):
                run_logged(command, log)
            with open(results_path) as f:
                results = json.load(f)
            runs.append(
                {
                    "regions": regions,
                    "weighting": weighting,
                    "seed": seed,
                    "steps_per_epoch": steps,
                    "k": results["k"],
                    "map_at_k": results["map_at_k"],
                    "train_seconds": results["train_seconds"],
                    "evaluate_seconds": results["evaluate_seconds"],
                    "run_dir": run_dir,
                    "command": " ".join(["python", *command[1:]]),
                }
            )
            write_record(args, info, costs, runs)  # after every run: a stopped study keeps its record
    for cell in summarize(runs):
        log.info("%s", cell)
    log.info("wrote %s", args.out)


def write_record(args, info, costs, runs):
    """The record so far (`--out`) and its plot."""
    budget = "equal wall time" if args.budget == "time" else "equal images seen"
    path = Path(args.plots) / "map_vs_regions_seeds.png"
    plot_map_vs_regions_seeds(runs, path, args.bits, runs[0]["k"], budget)
    settings = {k: v for k, v in vars(args).items() if k not in ("out", "plots")}
    record = {"machine": finish(info), "settings": settings, "step_seconds": costs}
    record.update(cells=summarize(runs), runs=runs)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
