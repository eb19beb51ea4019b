"""Speed-up between two versions of the code from interleaved `train_throughput.py` reports.

    PYTHONPATH=/path/to/old/checkout python benchmarks/train_throughput.py … --out results/x/before_1.json
    python benchmarks/train_throughput.py … --out results/x/after_1.json     # and so on, alternating
    python benchmarks/speedup.py --before results/x/before_*.json --after results/x/after_*.json \
        --out results/x/summary.json

For every (width, N) and measure (training images/s, encoding images/s): each side's median over
its reports and the ratio after / before. On a shared machine single runs move by ±20 %; the
medians of alternating runs are what to compare.
"""

import argparse
import json
import logging
import os

import numpy as np

log = logging.getLogger("speedup")
MEASURES = ("images_per_second", "encode_images_per_second")


def _rows(paths):
    """{(width, regions): {measure: [values, one per report]}}."""
    table = {}
    for path in paths:
        with open(path) as f:
            for row in json.load(f)["results"]:
                cell = table.setdefault((row["width"], row["regions"]), {})
                for measure in MEASURES:
                    if row.get(measure) is not None:
                        cell.setdefault(measure, []).append(row[measure])
    return table


def speedups(before_paths, after_paths):
    """One row per (width, N) with each measure's medians, values and after/before ratio."""
    before, after = _rows(before_paths), _rows(after_paths)
    rows = []
    for key in sorted(set(before) & set(after)):
        row = {"width": key[0], "regions": key[1]}
        for measure in MEASURES:
            if measure in before[key] and measure in after[key]:
                old, new = np.median(before[key][measure]), np.median(after[key][measure])
                row[measure] = {
                    "before_median": round(float(old), 2),
                    "after_median": round(float(new), 2),
                    "speedup": round(float(new / old), 3),
                    "before": before[key][measure],
                    "after": after[key][measure],
                }
        rows.append(row)
    return rows


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--before", nargs="+", required=True, help="train_throughput reports of the old code")
    parser.add_argument("--after", nargs="+", required=True, help="reports of the new code")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rows = speedups(args.before, args.after)
    for row in rows:
        for measure in MEASURES:
            if measure in row:
                cell = row[measure]
                log.info(
                    "width %g N=%d %s: %.1f → %.1f (×%.2f)", row["width"], row["regions"], measure,
                    cell["before_median"], cell["after_median"], cell["speedup"],
                )  # fmt: skip
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"before": args.before, "after": args.after, "results": rows}, f, indent=2)


if __name__ == "__main__":
    main()
