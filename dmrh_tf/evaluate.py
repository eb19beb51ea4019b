"""`python -m dmrh_tf.evaluate`: the paper's results table for trained runs and non-deep baselines.

    python -m dmrh_tf.evaluate --runs runs/n1 runs/n2              # DMRH runs, their own data
    python -m dmrh_tf.evaluate --runs runs/n2 --baselines all      # + LSH, SH, SKLSH, PCAH, ITQ, FSSH
    python -m dmrh_tf.evaluate --baselines itq lsh --bits 16 32 --dataset synthetic

Each run directory (from `python -m dmrh_tf.train`) gives one cell: its model encodes the query
and database images of its data set (progress bars), and the codes are scored. Baselines are fit
on the training split (raw pixels shrunk to `--pixel-side`, or `--features FILE.npz`) at each of
`--bits` (default: the runs' bit lengths). Results accumulate in `--out/results.json` across
invocations (`--fresh` starts over), and every call rewrites the report there: `results.md`,
`results.csv`, `results.json`, `pr_curves.png`, `precision_at_k.png`, `map_vs_regions.png`.
"""

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

from dmrh_tf.evaluation.baselines import BASELINE_NAMES, BASELINES, fit_baseline
from dmrh_tf.evaluation.report import (
    add_result,
    empty_results,
    metrics_to_json,
    read_results,
    table_markdown,
    write_report,
)
from dmrh_tf.evaluation.retrieval import retrieval_summary

log = logging.getLogger("dmrh_tf.evaluate")

DEFAULT_BITS = (24, 48, 64, 128)  # the paper's bit lengths, when there is no run to copy them from
DEFAULT_KS = (1, 10, 50, 100, 200, 500, 1000, 2000, 5000)  # precision@k / recall@k ranks
DEFAULT_PIXEL_SIDE = 32  # baselines on raw pixels: images shrunk to 32×32×3 (CIFAR-10's own size)
DATA_FIELDS = ("dataset", "data_dir", "train_size", "query_size", "seed")  # what picks the data


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--runs", nargs="+", default=[], metavar="RUN_DIR", help="trained runs")
    parser.add_argument(
        "--baselines",
        nargs="+",
        default=[],
        choices=[*sorted(BASELINES), "all"],
        metavar="NAME",
        help=f"non-deep baselines: {', '.join(sorted(BASELINES))} or all",
    )
    parser.add_argument("--bits", nargs="+", type=int, help="baseline code lengths")
    # The data flags (DATA_FIELDS) are absent from `args` unless given: `--train-size none` is given.
    data = dict(default=argparse.SUPPRESS)
    parser.add_argument("--dataset", **data, help="data set (default: the first run's)")
    parser.add_argument("--data-dir", **data, help="where the data set lives (default: the first run's)")
    parser.add_argument("--train-size", **data, type=_optional_int, help="training images (none = all)")
    parser.add_argument("--query-size", **data, type=_optional_int, help="query images (none = all)")
    parser.add_argument("--seed", **data, type=int, help="data and baseline seed (default: the run's)")
    parser.add_argument(
        "--map-k", type=int, help="K of mAP@K (default: the first run's, the table's, or 5000)"
    )
    parser.add_argument("--full-map", action="store_true", help="also the full-ranking mAP")
    parser.add_argument("--pixel-side", type=int, default=DEFAULT_PIXEL_SIDE, help="baseline image side")
    parser.add_argument(
        "--features",
        help="baseline features instead of pixels: .npz with train, query, database [n, d]",
    )
    parser.add_argument("--fit-size", type=int, help="training items the baselines are fit on (default: all)")
    parser.add_argument("--batch-size", type=int, default=128, help="encoding batch size")
    parser.add_argument("--out", default="runs/evaluation", help="report directory")
    parser.add_argument("--fresh", action="store_true", help="ignore an existing results.json")
    args = parser.parse_args(argv)
    if not args.runs and not args.baselines:
        parser.error("nothing to evaluate: pass --runs and/or --baselines")
    if "all" in args.baselines:
        args.baselines = list(BASELINES)
    return args


def evaluate(args: argparse.Namespace) -> dict:
    """Evaluate the runs and baselines of `args`, write the report, return the results dict."""
    from dmrh_tf.training.config import Config  # the model/data side, imported only when needed

    out = Path(args.out)
    runs = [_load_run(run_dir) for run_dir in args.runs]
    base_config = runs[0][1] if runs else Config()
    data_config = baseline_data_config(args, base_config)
    results = None
    if not args.fresh and (out / "results.json").exists():
        results = read_results(out / "results.json")
        log.info("adding to %s (%d methods)", out / "results.json", len(results["methods"]))
    # K of mAP@K: the flag, else the runs' own, else the existing table's, else the paper's 5000.
    map_k = args.map_k or (base_config.map_k if runs else (results or {}).get("map_k", 5000))
    splits_cache: dict = {}
    for run_dir, (model, config) in zip(args.runs, runs, strict=True):
        splits = _splits(config, splits_cache)
        results = _check_table(results, splits, map_k)
        started = time.time()
        query, database = _encode(model, splits, args.batch_size, _database_codes(run_dir, splits))
        metrics = _score(query, database, splits, map_k, args.full_map)
        metrics.update(run_dir=str(run_dir), seconds=round(time.time() - started, 1))
        name, kind = _method_name(config)
        results = add_result(results, name, config.bits, metrics, kind=kind, regions=config.regions)
        log.info("%s, %d bits: mAP@%d = %.4f", name, config.bits, metrics["map_k"], metrics["map"])

    bit_lengths = args.bits or sorted({config.bits for _, config in runs}) or list(DEFAULT_BITS)
    if args.baselines:
        splits = _splits(data_config, splits_cache)
        results = _check_table(results, splits, map_k)
        train, train_labels, query, database = _baseline_features(splits, args)
        for key in args.baselines:
            for bits in bit_lengths:
                started = time.time()
                model = fit_baseline(key, train, bits, seed=data_config.seed, labels=train_labels)
                metrics = _score(model.encode(query), model.encode(database), splits, map_k, args.full_map)
                metrics.update(seconds=round(time.time() - started, 1))
                name = BASELINE_NAMES[key]
                results = add_result(results, name, bits, metrics, kind="baseline")
                log.info("%s, %d bits: mAP@%d = %.4f", name, bits, metrics["map_k"], metrics["map"])

    written = write_report(results, out)
    log.info("results:\n%s", table_markdown(results))
    log.info("wrote %s", ", ".join(str(path) for path in written.values()))
    return results


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    evaluate(parse_args(argv))
    return 0


def baseline_data_config(args: argparse.Namespace, base_config):
    """The config that picks the baselines' data: `base_config` with the data flags given in `args`."""
    from dmrh_tf.training.config import merge

    overrides = {field: getattr(args, field) for field in DATA_FIELDS if hasattr(args, field)}
    return merge(base_config, overrides, "command-line flags")


def _optional_int(text: str) -> int | None:
    return None if text.lower() in ("none", "null", "all") else int(text)


def _load_run(run_dir):
    from dmrh_tf.training.run_dir import load_run

    model, config = load_run(run_dir)
    log.info("run %s: N = %d, %d bits, data set %s", run_dir, config.regions, config.bits, config.dataset)
    return model, config


def _splits(config, cache: dict):
    """`load_splits(config)`, loaded once per distinct data selection."""
    from dmrh_tf.data import load_splits

    key = tuple(getattr(config, field) for field in DATA_FIELDS)
    if key not in cache:
        cache[key] = load_splits(config)
        log.info("data set %s: %s", cache[key].name, cache[key].sizes())
    return cache[key]


def _check_table(results: dict | None, splits, map_k: int) -> dict:
    """Start the table from these splits, or check that they are the table's data set."""
    facts = {"dataset": splits.name, "sizes": splits.sizes(), "map_k": map_k, "radius": 2}
    if results is None:
        return empty_results(**facts)
    for key in ("dataset", "sizes", "map_k"):
        if results.get(key) != facts[key]:
            raise SystemExit(
                f"the table in this --out directory has {key} = {results.get(key)!r}, this "
                f"evaluation {facts[key]!r}: use another --out or --fresh"
            )
    return results


def _method_name(config) -> tuple[str, str]:
    """The table row of a run, e.g. "DMRH (N=2)" or "ADSH (N=1)", and its kind ("dmrh" or "deep")."""
    from dmrh_tf.training.method_registry import method_spec

    display = method_spec(config.method).display_name
    return f"{display} (N={config.regions})", "dmrh" if config.method == "dmrh" else "deep"


def _database_codes(run_dir, splits):
    """The run's own database codes (ADSH's V) when its database is its training split, else None."""
    from dmrh_tf.training.run_dir import read_database_codes

    codes = read_database_codes(run_dir)
    if codes is None:
        return None
    if not splits.database_is_train or len(codes) != len(splits.database):
        log.warning("%s: its database codes are for its training split, not this database", run_dir)
        return None
    log.info("%s: the database is the run's learned codes (%s)", run_dir, codes.shape)
    return codes


def _encode(model, splits, batch_size: int, database_codes=None) -> tuple[np.ndarray, np.ndarray]:
    from dmrh_tf.encode import encode_split

    query = encode_split(model, splits.query, batch_size=batch_size, progress=True)
    if database_codes is not None:
        return query, database_codes
    database = encode_split(model, splits.database, batch_size=batch_size, progress=True)
    return query, database


def _score(query, database, splits, map_k: int, full_map: bool) -> dict:
    n_db = len(database)
    ks = sorted({min(k, n_db) for k in DEFAULT_KS}) if n_db else []
    summary = retrieval_summary(
        query,
        database,
        splits.query.labels,
        splits.database.labels,
        map_k=map_k,
        full_map=full_map,
        ks=ks,
        radius=2,
    )
    return {**metrics_to_json(summary), "n_query": len(query), "n_db": n_db}


def _baseline_features(splits, args) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Train features and labels (possibly a seeded subset of `--fit-size`; the labels are for the
    supervised baselines), query and database features."""
    if args.features:
        with np.load(args.features) as arrays:
            missing = {"train", "query", "database"} - set(arrays.files)
            if missing:
                raise SystemExit(f"{args.features} lacks arrays {sorted(missing)}")
            train, query, database = (arrays[k] for k in ("train", "query", "database"))
        for name, array, split in zip(
            ("train", "query", "database"), (train, query, database), _split_list(splits), strict=True
        ):
            if len(array) != len(split):
                raise SystemExit(f"{args.features}: {name} has {len(array)} rows, the split {len(split)}")
    else:
        train = _pixels(splits.train, args.pixel_side, args.batch_size, "train")
        query = _pixels(splits.query, args.pixel_side, args.batch_size, "query")
        database = (
            train
            if splits.database is splits.train
            else _pixels(splits.database, args.pixel_side, args.batch_size, "database")
        )
    train_labels = splits.train.labels
    if args.fit_size and args.fit_size < len(train):
        rng = np.random.default_rng(getattr(args, "seed", 0))
        rows = np.sort(rng.choice(len(train), args.fit_size, replace=False))
        train, train_labels = train[rows], train_labels[rows]
    return train, train_labels, query, database


def _split_list(splits):
    return splits.train, splits.query, splits.database


def _pixels(split, side: int, batch_size: int, what: str) -> np.ndarray:
    """Raw-pixel features `[n, side·side·3]` in [0, 1]: the data pipeline's resize, flattened."""
    from tqdm.auto import tqdm

    from dmrh_tf.data import inference_dataset

    parts = []
    batches = inference_dataset(split, side, batch_size)
    total = -(-len(split) // batch_size)
    for batch in tqdm(batches, total=total, desc=f"pixels of {len(split)} {what} images"):
        parts.append(batch.numpy().reshape(len(batch), -1) / np.float32(255))
    return np.concatenate(parts) if parts else np.zeros((0, side * side * 3), np.float32)


if __name__ == "__main__":
    sys.exit(main())
