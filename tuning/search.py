"""`python -m tuning.search`: search η, N (and optionally K, learning rate) with KerasTuner.

    python -m tuning.search --preset smoke --max-trials 3 --directory runs/tuning
    python -m tuning.search --dataset fashion_mnist --data-dir /usr/share/datasets/fashion-mnist \\
        --train-size 2000 --tuner bayesian --max-trials 8 --regions-choices 1,2 --eta-range 1e-3,1
    python -m dmrh_tf.train --config runs/tuning/dmrh/best_config.json   # retrain the best trial

Search flags are listed below; every other flag is a `Config` override, parsed exactly as
`python -m dmrh_tf.train` parses it (`--preset`, `--config FILE`, `--epochs 2`, …). Trials run under
the training strategy (`make_strategy(config.strategy)`), hold out `--val-fraction` of the training
split as validation queries (the test queries are never used) and maximise their mAP@K.

Rerunning the same command resumes the search: finished trials are kept, an interrupted trial is
retried; raise `--max-trials` to add trials. Distributed tuning: start the same command with
`KERASTUNER_TUNER_ID=chief` (serves the oracle only) and with `tuner0`, `tuner1`, … on the workers,
all with `KERASTUNER_ORACLE_IP` and `KERASTUNER_ORACLE_PORT` of the chief (docs/tuning.md).
"""

import argparse
import logging
import os
import sys
import time

import keras
import tensorflow as tf

from dmrh_tf.training.config import parse_args
from dmrh_tf.training.distribution import make_strategy
from tuning.hypermodel import DMRHHyperModel
from tuning.space import SearchSpace, parse_choices, parse_range
from tuning.summary import best_trial, format_table, read_trials, write_best_config
from tuning.tuners import TUNERS, make_tuner

__all__ = ["BEST_CONFIG_FILE", "main", "parse_search_args", "role", "run_search"]

log = logging.getLogger("tuning.search")

BEST_CONFIG_FILE = "best_config.json"  # in the project directory, unless --best-config says otherwise


def _search_parser():
    parser = argparse.ArgumentParser(
        prog="python -m tuning.search",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,
        allow_abbrev=False,  # "--bits" is a Config flag, not short for "--bits-choices"
    )
    add = parser.add_argument
    add("-h", "--help", action="store_true", help="show the search flags, then the Config flags")
    add("--tuner", choices=sorted(TUNERS), default="random", help="search algorithm (default random)")
    add("--max-trials", type=int, default=10, help="trials in all, over reruns (default 10)")
    add("--directory", default="runs/tuning", help="KerasTuner directory (default runs/tuning)")
    add("--project-name", help="project inside --directory (default: the --method, e.g. dmrh)")
    add("--eta-range", type=parse_range, default=(1e-3, 1.0), help="η, log-uniform (default 1e-3,1)")
    add("--regions-choices", type=parse_choices, default=(1, 2, 3), help="N choices (default 1,2,3)")
    add("--bits-choices", type=parse_choices, help="K choices, e.g. 16,32,48 (default: --bits only)")
    add("--learning-rate-range", type=parse_range, help="lr, log-uniform, e.g. 1e-3,1e-1 (default: fixed)")
    add("--val-fraction", type=float, default=0.2, help="training images held out as queries (0.2)")
    add("--max-retries", type=int, default=0, help="retries of a crashed trial (default 0)")
    add(
        "--max-consecutive-failures",
        type=int,
        default=5,
        help="stop the search after this many failed trials in a row (default 5)",
    )
    add("--hyperband-factor", type=int, default=3, help="Hyperband's reduction factor (default 3)")
    add("--best-config", help=f"best config JSON (default DIRECTORY/PROJECT/{BEST_CONFIG_FILE})")
    return parser


def parse_search_args(argv=None):
    """(search options, `Config`) from the command line; unknown flags go to the `Config` parser."""
    parser = _search_parser()
    options, rest = parser.parse_known_args(argv)
    if options.help:
        parser.print_help()
        print("\nConfig flags (as python -m dmrh_tf.train):\n")
        parse_args(["--help"])  # exits
    if options.max_trials < 1 or not 0 < options.val_fraction < 1:
        parser.error("--max-trials must be >= 1 and 0 < --val-fraction < 1")
    options.run_dir_given = any(arg == "--run-dir" or arg.startswith("--run-dir=") for arg in rest)
    config = parse_args(rest, description="Config overrides of python -m tuning.search")
    options.project_name = options.project_name or config.method
    return options, config


def role():
    """ "chief" (serves the oracle), "worker" (runs trials for a chief) or "local" (both)."""
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return "local"
    return "chief" if "chief" in os.environ.get("KERASTUNER_TUNER_ID", "") else "worker"


def _strategy(config, this_role):
    if this_role == "chief":
        return None  # the chief trains nothing: leave the accelerators to the workers
    strategy = make_strategy(config.strategy)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        raise SystemExit(
            "tuning runs trials with Model.fit, which Keras 3 does not support under "
            "MultiWorkerMirroredStrategy: unset TF_CONFIG (or pass --strategy mirrored) and spread "
            "trials over machines with KerasTuner's chief/worker mode instead (docs/tuning.md)"
        )
    return strategy


def run_search(options, config):
    """Run (or resume) the search; return (tuner, error or None). Trials that fail do not stop it."""
    keras.mixed_precision.set_dtype_policy(
        "float32" if config.mixed_precision == "off" else config.mixed_precision
    )
    space = SearchSpace.for_method(
        config.method,
        eta_range=options.eta_range,
        regions_choices=options.regions_choices,
        bits_choices=options.bits_choices,
        learning_rate_range=options.learning_rate_range,
    )
    hypermodel = DMRHHyperModel(config, space, val_fraction=options.val_fraction)
    if role() != "chief":
        hypermodel.load_data()  # now: a data error fails the run at once, not trial after trial
    tuner = make_tuner(
        options.tuner,
        hypermodel,
        options.directory,
        project_name=options.project_name,
        max_trials=options.max_trials,
        strategy=_strategy(config, role()),
        seed=config.seed,
        max_retries_per_trial=options.max_retries,
        max_consecutive_failed_trials=options.max_consecutive_failures,
        hyperband_factor=options.hyperband_factor,
    )
    try:
        tuner.search(verbose=config.verbose)
    except RuntimeError as error:  # KerasTuner's "Number of consecutive failures exceeded the limit"
        log.error("search stopped: %s", str(error).splitlines()[0])
        return tuner, error
    return tuner, None


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    options, config = parse_search_args(argv)
    started = time.time()
    this_role = role()
    log.info("%s search (%s tuner) in %s", this_role, options.tuner, options.directory)
    try:
        tuner, error = run_search(options, config)
    except ImportError as missing:  # BayesianOptimization needs scikit-learn (keras-tuner[bayesian])
        log.error("%s", missing)
        return 2
    seconds = time.time() - started
    if this_role == "worker":
        log.info("worker %s done in %.1f s; the chief prints the summary", tuner.tuner_id, seconds)
        return 1 if error else 0
    rows = read_trials(tuner.project_dir)
    print(format_table(rows, tuner.hypermodel.space.names()), flush=True)
    log.info("%d trial(s) in %s; this run took %.1f s", len(rows), tuner.project_dir, seconds)
    best = best_trial(rows)
    if best is None:
        log.error("no trial completed: nothing to retrain")
        return 1
    path = options.best_config or os.path.join(tuner.project_dir, BEST_CONFIG_FILE)
    overrides = {} if options.run_dir_given else {"run_dir": os.path.join(tuner.project_dir, "best_run")}
    write_best_config(path, config, best, **overrides)
    log.info(
        "best: trial %s, val mAP %.4f; retrain with: python -m dmrh_tf.train --config %s",
        best.trial_id,
        best.val_map,
        path,
    )
    return 1 if error else 0


if __name__ == "__main__":
    sys.exit(main())
