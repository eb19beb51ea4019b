"""Time to quality: mAP@K after every epoch of finished runs, against wall-clock minutes.

    python -m dmrh_tf.train --dataset fashion_mnist --data-dir /usr/share/datasets/fashion-mnist \
        --train-size none --query-size none --epochs 5 --run-dir runs/ttq/default48
    python benchmarks/time_to_quality.py --runs runs/ttq/default48 --labels "default" \
        --target 0.90 --plots docs/results/time_to_quality

Each run's per-epoch checkpoints are encoded and scored on the run's own splits (its `splits/`
lists): the point of epoch e is its mAP@K at `minutes` = the run's training wall time up to the
end of e (history.csv's `epoch_seconds`) plus its final evaluation's time (results.json). That is
what the run would have cost had it been stopped after e. Scoring runs after training and is
not part of the time; the last epoch's mAP is the run's own (results.json: the same weights) unless
`--rescore-last`. Resumable: each run's scored epochs are kept in `<run>/epoch_maps.json`.

Writes `<plots>/time_to_quality.png` (mAP against minutes), `<plots>/convergence.png` (the slides'
"convergence analysis": loss and mAP per epoch) and `--out` (JSON: the points, each run's config and
the machine it was scored on). `--add` keeps the runs already in `--out` under other labels, points as
recorded, so a curve measured in another session (whose run directory is gone) stays in the plots.
"""

import argparse
import csv
import dataclasses
import json
import logging
import os
from pathlib import Path

from common import finish, machine

from dmrh_tf.data import load_splits
from dmrh_tf.evaluation.curves import curve_points, plot_convergence, plot_time_to_quality
from dmrh_tf.train import encoder_at_epoch, evaluate_codes
from dmrh_tf.training import run_dir as rd

log = logging.getLogger("time_to_quality")
LEARNED_DATABASE = ("adsh",)  # methods whose database codes are learned, stored for the last epoch only


def _history(run_dir):
    with open(os.path.join(run_dir, rd.HISTORY_FILE)) as f:
        rows = list(csv.DictReader(f))
    by_epoch = {int(row["epoch"]): row for row in rows}  # a rerun epoch's row repeats: keep the last
    return [by_epoch[e] for e in sorted(by_epoch)]


def score_epochs(run_dir, epochs, known=None):
    """{epoch: mAP@K} of the run's checkpoints 1..`epochs` (the scored ones cached in epoch_maps.json);
    `known`: {epoch: mAP@K} already measured (the run's own final evaluation), taken as they are."""
    config = rd.read_config(run_dir)
    if config.method in LEARNED_DATABASE:
        raise ValueError(
            f"{run_dir}: {config.method} learns its database codes, and a run keeps them for its last "
            "epoch only; per-epoch curves are for methods whose database is the network's codes"
        )
    cache_path = os.path.join(run_dir, "epoch_maps.json")
    maps = {}
    if os.path.exists(cache_path):
        with open(cache_path) as f:
            maps = {int(e): v for e, v in json.load(f).items()}
    known = {e: v for e, v in (known or {}).items() if e not in maps}
    splits = load_splits(dataclasses.replace(config, splits_dir=os.path.join(run_dir, rd.SPLITS_DIR)))
    scoring = dataclasses.replace(config, verbose=0)
    for epoch in range(1, epochs + 1):
        if epoch in maps or epoch in known:
            continue
        encoder = encoder_at_epoch(run_dir, epoch, splits.train.labels)
        maps[epoch] = evaluate_codes(encoder, splits, scoring)["map_at_k"]
        log.info("%s epoch %d: mAP@%d %.4f", run_dir, epoch, config.map_k, maps[epoch])
        with open(cache_path + ".tmp", "w") as f:
            json.dump(maps, f, indent=2)
        os.replace(cache_path + ".tmp", cache_path)
    return {**maps, **known}, config


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", nargs="+", required=True, help="finished training runs")
    parser.add_argument("--labels", nargs="+", help="one legend label per run (default: run names)")
    parser.add_argument("--target", type=float, help="an mAP to draw as a dashed line")
    parser.add_argument("--plots", default="docs/results/time_to_quality", help="where the plots go")
    parser.add_argument(
        "--rescore-last", action="store_true", help="score the last epoch's checkpoint too (a check)"
    )
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "time_to_quality.json"))
    parser.add_argument(
        "--add", action="store_true", help="keep --out's runs under other labels (as recorded) beside these"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    labels = args.labels or [Path(run).name for run in args.runs]
    if len(labels) != len(args.runs):
        parser.error("--labels needs one label per run")
    info = machine()
    curves, record = {}, []
    if args.add and os.path.exists(args.out):
        with open(args.out) as f:
            earlier = json.load(f)
        for run in earlier["runs"]:
            if run["label"] not in labels:
                record.append({"machine": earlier["machine"], **run})  # a run's own machine wins
                curves[run["label"]] = run["points"]
    for label, run in zip(labels, args.runs, strict=True):
        results_path = os.path.join(run, rd.RESULTS_FILE)
        if not os.path.exists(results_path):
            parser.error(f"{run} has no {rd.RESULTS_FILE}: finish its training first")
        with open(results_path) as f:
            results = json.load(f)
        if "evaluate_seconds" not in results:
            parser.error(f"{run} was trained before runs timed their evaluation: train it again")
        history = _history(run)
        # The last checkpoint holds the weights results.json scored: its mAP is taken from there
        # (one encoding of the whole protocol, ≈ 4 min at width 0.25, saved per run).
        final = None if args.rescore_last else {len(history): results["map_at_k"]}
        maps, config = score_epochs(run, len(history), final)
        curves[label] = curve_points(history, maps, results["evaluate_seconds"])
        record.append(
            {
                "machine": info,
                "label": label,
                "run_dir": run,
                "config": dataclasses.asdict(config),
                "total_seconds": results["seconds"],
                "final_map_at_k": results["map_at_k"],
                "points": curves[label],
            }
        )
    k = record[0]["config"]["map_k"]
    plot_time_to_quality(curves, Path(args.plots) / "time_to_quality.png", k, args.target)
    plot_convergence(curves, Path(args.plots) / "convergence.png", k)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"machine": finish(info), "runs": record}, f, indent=2)
    log.info("wrote %s and %s", args.plots, args.out)


if __name__ == "__main__":
    main()
