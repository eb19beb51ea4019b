"""Speed and memory of `dmrh_tf.evaluation.map_at_k` against per-query loops.

    python benchmarks/evaluation_speed.py                     # the issue's size, ~1-2 minutes
    python benchmarks/evaluation_speed.py --loop-queries 0    # every query through the loops too

Default problem: 10,000 queries × 50,000 database items × 64-bit ±1 codes, 10 classes
(CIFAR-10's protocol), mAP@5000. Four implementations, same definition and tie-breaking:

- `chunked`: `map_at_k` (popcount distances, radix argsort of uint8 distances, query chunks);
- `spec loop`: `dmrh_tf.evaluation.map_at_k_loop`, the release's `CalcTopMap` with a stable sort;
- `lean loop`: a tighter per-query loop (float32 inner products, stable argsort, label compare);
- `radix loop`: a per-query loop with `map_at_k`'s own tricks (popcount, radix argsort of uint8).
  It runs at about the chunked speed: the gain over the plain loops comes from integer distances
  and the radix sort; the chunking adds vectorised metrics and bounded memory, not speed.

The loops are timed on the first `--loop-queries` queries and extrapolated linearly to all of
them (their cost per query is constant); the chunked one is timed on all queries (best of
`--repeats`), and its peak of traced NumPy memory is measured in a separate run; so is
`retrieval_summary` (every metric the CLI reports, one pass). All mAPs on the
loop subset are reported; they must agree to ~1e-12. Writes JSON (default
`benchmarks/results/evaluation_speed.json`) with the machine it ran on. Timings on a shared
machine vary with its load: the load average at the start and end is recorded too.
"""

import argparse
import json
import logging
import time
import tracemalloc
from pathlib import Path

import numpy as np
from common import finish, machine

from dmrh_tf.evaluation import map_at_k, map_at_k_loop, pack_codes, retrieval_summary

log = logging.getLogger("evaluation_speed")
DEFAULT_OUT = Path(__file__).parent / "results" / "evaluation_speed.json"


def lean_loop(query_codes, db_codes, query_labels, db_labels, k):
    """mAP@K, one query at a time, without chunking (single-label class vectors only)."""
    query = np.asarray(query_codes, dtype=np.float32)
    database = np.asarray(db_codes, dtype=np.float32)
    n_bits = query.shape[1]
    total = 0.0
    for i in range(len(query)):
        distances = (n_bits - database @ query[i]) * 0.5
        order = np.argsort(distances, kind="stable")[:k]
        relevant = db_labels[order] == query_labels[i]
        hits = np.cumsum(relevant)
        if hits[-1]:
            total += np.sum(hits[relevant] / (np.flatnonzero(relevant) + 1.0)) / hits[-1]
    return total / len(query)


def radix_loop(query_codes, db_codes, query_labels, db_labels, k):
    """mAP@K one query at a time with `map_at_k`'s tricks: popcount distances (uint8) and a
    stable radix argsort. Single-label class vectors only."""
    query_words, db_words = pack_codes(query_codes), pack_codes(db_codes)
    total = 0.0
    for i in range(len(query_words)):
        distances = np.bitwise_count(db_words ^ query_words[i]).sum(axis=1, dtype=np.uint8)
        order = np.argsort(distances, kind="stable")[:k]
        relevant = db_labels[order] == query_labels[i]
        hits = np.cumsum(relevant)
        if hits[-1]:
            total += np.sum(hits[relevant] / (np.flatnonzero(relevant) + 1.0)) / hits[-1]
    return total / len(query_words)


def timed(function, *args, repeats=1):
    best, value = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        value = function(*args)
        best = min(best, time.perf_counter() - started)
    return best, value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--database", type=int, default=50_000)
    parser.add_argument("--bits", type=int, default=64)
    parser.add_argument("--k", type=int, default=5000)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--loop-queries", type=int, default=1000, help="0 = all queries")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    info = machine()
    log.info(f"machine: {info['platform']}, {info['cpu_count']} CPUs ({info['processor']})")
    log.info(f"load average: {info['load_average']}")
    rng = np.random.default_rng(args.seed)
    query = rng.choice(np.array([-1, 1], np.int8), (args.queries, args.bits))
    database = rng.choice(np.array([-1, 1], np.int8), (args.database, args.bits))
    query_labels = rng.integers(0, args.classes, args.queries)
    db_labels = rng.integers(0, args.classes, args.database)
    inputs = (query, database, query_labels, db_labels, args.k)

    chunked_seconds, chunked_map = timed(map_at_k, *inputs, repeats=args.repeats)
    log.info(f"chunked map_at_k: {chunked_seconds:.2f} s, mAP@{args.k} = {chunked_map:.6f}")
    tracemalloc.start()
    map_at_k(*inputs)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    log.info(f"chunked map_at_k: peak traced NumPy memory {peak / 2**20:.1f} MiB")

    summary_seconds, _ = timed(lambda: retrieval_summary(*inputs[:4], map_k=args.k))
    log.info(f"retrieval_summary (mAP@{args.k}, P@k, R@k, PR curve, P@r≤2): {summary_seconds:.2f} s")

    n_loop = args.loop_queries or args.queries
    subset = (query[:n_loop], database, query_labels[:n_loop], db_labels, args.k)
    subset_map = map_at_k(*subset)
    loops = {}
    for name, function in (
        ("spec_loop", map_at_k_loop),
        ("lean_loop", lean_loop),
        ("radix_loop", radix_loop),
    ):
        seconds, value = timed(function, *subset)
        projected = seconds * args.queries / n_loop
        loops[name] = {
            "seconds_measured": round(seconds, 3),
            "queries_measured": n_loop,
            "seconds_all_queries": round(projected, 2),
            "map_on_measured_queries": value,
            "abs_difference_to_chunked": abs(value - subset_map),
            "chunked_time_ratio": round(chunked_seconds / projected, 4),
            "speedup": round(projected / chunked_seconds, 1),
        }
        log.info(
            f"{name}: {seconds:.2f} s for {n_loop} queries → {projected:.1f} s for all; "
            f"chunked/loop = {chunked_seconds / projected:.3f} ({projected / chunked_seconds:.0f}× "
            f"faster); |ΔmAP| = {abs(value - subset_map):.1e}"
        )

    info = finish(info)
    report = {
        "machine": info,
        "problem": {
            "queries": args.queries,
            "database": args.database,
            "bits": args.bits,
            "k": args.k,
            "classes": args.classes,
            "seed": args.seed,
        },
        "chunked": {
            "seconds": round(chunked_seconds, 3),
            "repeats": args.repeats,
            "map": chunked_map,
            "peak_traced_memory_mib": round(peak / 2**20, 1),
            "dense_distance_matrix_mib": round(args.queries * args.database * 4 / 2**20, 1),
            "retrieval_summary_seconds": round(summary_seconds, 3),
        },
        "loops": loops,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    log.info(f"wrote {args.out}")


if __name__ == "__main__":
    main()
