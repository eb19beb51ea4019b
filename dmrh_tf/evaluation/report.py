"""The paper-style results table (rows = methods, columns = bit lengths) and plots.

Everything here is a pure function of a *results* dict, which is also what `results.json` holds:

    {
      "dataset": "cifar10",                      # free-form facts about the evaluation
      "map_k": 5000,
      "methods": {
        "LSH":        {"kind": "baseline", "regions": null, "bits": {"24": METRICS, ...}},
        "DMRH (N=6)": {"kind": "dmrh",     "regions": 6,    "bits": {"24": METRICS, ...}},
      },
    }

where METRICS is `metrics_to_json(retrieval_summary(...))` (plus any extra facts, e.g. sizes and
seconds): `map`, `map_k`, `precision_within_radius`, `radius`, `ks`, `precision_at_k`,
`recall_at_k`, `pr_curve` {`radius`, `precision`, `recall`}. Bit lengths are JSON keys, hence
strings. Plots use matplotlib's object API (`Figure`, Agg canvas): no pyplot, no global backend.
"""

import copy
import csv
import io
import json
import math
from pathlib import Path

import numpy as np

__all__ = [
    "add_result",
    "empty_results",
    "metric_value",
    "metrics_to_json",
    "panel_figure",
    "plot_map_vs_regions",
    "plot_pr_curves",
    "plot_precision_at_k",
    "read_results",
    "results_table",
    "save_figure",
    "table_csv",
    "table_markdown",
    "write_report",
]

# Row order of the table: the paper's baselines first, in its order, then DMRH by N.
_DEEP_ORDER = ("DSH", "DPSH", "DSDH", "DCH", "DDSH", "ADSH")  # the deep baselines, as on the slides
_BASELINE_ORDER = ("LSH", "SH", "SKLSH", "PCAH", "ITQ", "FSSH")
# Metrics that are one number per (method, bits) and can fill a table; "precision@k" (any k among
# the evaluated `ks`, e.g. "precision@100") and "recall@k" are read from the precision/recall@k lists.
TABLE_METRICS = {
    "map": "mAP@{map_k}",
    "full_map": "mAP (full ranking)",
    "precision_within_radius": "Precision within Hamming radius {radius}",
}
DEFAULT_TABLES = ("map", "precision@100", "precision_within_radius")


def empty_results(**facts) -> dict:
    """A results dict with no methods yet; `facts` (dataset, map_k, sizes …) are kept as-is."""
    return {**facts, "methods": {}}


def metrics_to_json(summary: dict) -> dict:
    """`retrieval_summary(...)` as plain JSON values: arrays → lists, NaN → None."""
    converted = {}
    for key, value in summary.items():
        if hasattr(value, "radius") and hasattr(value, "precision"):  # PRCurve
            value = {"radius": value.radius, "precision": value.precision, "recall": value.recall}
            converted[key] = {name: _plain(array) for name, array in value.items()}
        else:
            converted[key] = _plain(value)
    return converted


def add_result(
    results: dict,
    method: str,
    bits: int,
    metrics: dict,
    *,
    kind: str = "baseline",
    regions: int | None = None,
) -> dict:
    """A copy of `results` with `metrics` stored for (`method`, `bits`); replaces an old entry."""
    updated = copy.deepcopy(results)
    entry = updated.setdefault("methods", {}).setdefault(
        method, {"kind": kind, "regions": regions, "bits": {}}
    )
    entry.update(kind=kind, regions=regions)
    entry["bits"][str(int(bits))] = copy.deepcopy(metrics)
    return updated


def read_results(path) -> dict:
    with open(path) as f:
        return json.load(f)


def results_table(results: dict, metric: str = "map") -> tuple[list[str], list[int], list[list]]:
    """`(methods, bit_lengths, values)`: `values[i][j]` is `metric` of method i at bits j, or None."""
    methods = _ordered_methods(results)
    bit_lengths = sorted({int(b) for name in methods for b in results["methods"][name]["bits"]})
    values = [
        [metric_value(results["methods"][name]["bits"].get(str(bits), {}), metric) for bits in bit_lengths]
        for name in methods
    ]
    return methods, bit_lengths, values


def metric_value(metrics: dict, metric: str):
    """`metric` of one METRICS dict: a key of it, or "precision@k" / "recall@k" at an evaluated k.

    None where it was not evaluated (k not among `ks` included).
    """
    name, at, k = metric.partition("@")
    if not at:
        return metrics.get(metric)
    if name not in ("precision", "recall"):
        raise ValueError(f"unknown metric {metric!r}: use a METRICS key, 'precision@k' or 'recall@k'")
    ks = metrics.get("ks") or []
    return metrics[f"{name}_at_k"][ks.index(int(k))] if int(k) in ks else None


def table_markdown(results: dict, metrics=DEFAULT_TABLES) -> str:
    """One Markdown table per metric (rows = methods, columns = bit lengths), 4 decimals."""
    sections = []
    dataset = results.get("dataset")
    for metric in metrics:
        methods, bit_lengths, values = results_table(results, metric)
        if not any(v is not None for row in values for v in row):
            continue
        title = _metric_title(results, metric) + (f" on {dataset}" if dataset else "")
        header = "| Method | " + " | ".join(f"{b} bits" for b in bit_lengths) + " |"
        rule = "|---|" + "---:|" * len(bit_lengths)
        rows = [
            f"| {name} | " + " | ".join(_format(v) for v in row) + " |"
            for name, row in zip(methods, values, strict=True)
        ]
        sections.append("\n".join([f"### {title}", "", header, rule, *rows]))
    return "\n\n".join(sections) + "\n"


def table_csv(results: dict, metrics=DEFAULT_TABLES) -> str:
    """CSV with columns `method, metric, <bits>...` (empty cell = not evaluated)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    _, all_bits, _ = results_table(results, "map")
    writer.writerow(["method", "metric", *all_bits])
    for metric in metrics:
        methods, bit_lengths, values = results_table(results, metric)
        by_bits = [dict(zip(bit_lengths, row, strict=True)) for row in values]
        for name, row in zip(methods, by_bits, strict=True):
            if all(row.get(b) is None for b in all_bits):
                continue
            cells = ["" if row.get(b) is None else f"{row[b]:.6f}" for b in all_bits]
            writer.writerow([name, metric, *cells])
    return buffer.getvalue()


def plot_pr_curves(results: dict, path) -> Path | None:
    """Precision–recall over Hamming radii, one panel per bit length, one line per method."""
    return _plot_per_bits(
        results,
        path,
        key="pr_curve",
        xy=lambda m: (m["pr_curve"]["recall"], m["pr_curve"]["precision"]),
        labels=("recall", "precision"),
        title="Precision–recall (Hamming radius 0..K)",
    )


def plot_precision_at_k(results: dict, path) -> Path | None:
    """Precision@k against k, one panel per bit length, one line per method."""
    return _plot_per_bits(
        results,
        path,
        key="precision_at_k",
        xy=lambda m: (m["ks"], m["precision_at_k"]),
        labels=("k (retrieved items)", "precision@k"),
        title="Precision@k",
    )


def plot_map_vs_regions(results: dict, path, metric: str = "map") -> Path | None:
    """mAP against the region grid N of the DMRH runs, one line per bit length; None if no runs."""
    points: dict[int, list[tuple[int, float]]] = {}
    for entry in results.get("methods", {}).values():
        if entry.get("regions") is None or entry.get("kind") != "dmrh":  # the other methods' rows
            continue  # are in the tables
        for bits, metrics in entry["bits"].items():
            if metrics.get(metric) is not None:
                points.setdefault(int(bits), []).append((entry["regions"], metrics[metric]))
    if not points:
        return None
    figure, axes = panel_figure(1)
    for bits in sorted(points):
        regions, values = zip(*sorted(points[bits]), strict=True)
        axes[0].plot(regions, values, marker="o", label=f"{bits} bits")
    axes[0].set_xlabel("regions per side N (N² regions)")
    axes[0].set_ylabel(_metric_title(results, metric))
    axes[0].set_title(f"{_metric_title(results, metric)} versus N")
    axes[0].xaxis.get_major_locator().set_params(integer=True)
    axes[0].grid(alpha=0.3)
    axes[0].legend()
    return save_figure(figure, path)


def write_report(results: dict, out_dir) -> dict[str, Path]:
    """Write `results.json`, `results.md`, `results.csv` and the PNG plots into `out_dir`.

    Returns the written paths by name (plots without data are skipped).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {
        "json": _write_text(out_dir / "results.json", json.dumps(results, indent=2) + "\n"),
        "markdown": _write_text(out_dir / "results.md", table_markdown(results)),
        "csv": _write_text(out_dir / "results.csv", table_csv(results)),
    }
    plots = {
        "pr_curves": plot_pr_curves(results, out_dir / "pr_curves.png"),
        "precision_at_k": plot_precision_at_k(results, out_dir / "precision_at_k.png"),
        "map_vs_regions": plot_map_vs_regions(results, out_dir / "map_vs_regions.png"),
    }
    written.update({name: path for name, path in plots.items() if path is not None})
    return written


def _ordered_methods(results: dict) -> list[str]:
    methods = results.get("methods", {})

    def key(item):
        position, (name, entry) = item
        if name in _BASELINE_ORDER:
            return (0, _BASELINE_ORDER.index(name), 0)
        if entry.get("kind") == "baseline":
            return (1, 0, position)
        prefix = name.split(" ")[0]
        if entry.get("kind") == "deep" and prefix in _DEEP_ORDER:  # the slides' order, then by N
            return (2, _DEEP_ORDER.index(prefix), entry.get("regions") or 0)
        return (3, entry.get("regions") or 0, position)

    return [name for _, (name, _) in sorted(enumerate(methods.items()), key=key)]


def _metric_title(results: dict, metric: str) -> str:
    name, at, k = metric.partition("@")
    if at:
        return f"{name.capitalize()}@{k}"
    return TABLE_METRICS.get(metric, metric).format(
        map_k=results.get("map_k", "K"), radius=results.get("radius", 2)
    )


def _format(value) -> str:
    return "–" if value is None else f"{value:.4f}"


def _plain(value):
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _plot_per_bits(results, path, key, xy, labels, title) -> Path | None:
    methods = _ordered_methods(results)
    panels: dict[int, list[tuple[str, dict]]] = {}
    for name in methods:
        for bits, metrics in results["methods"][name]["bits"].items():
            if metrics.get(key) is not None:
                panels.setdefault(int(bits), []).append((name, metrics))
    if not panels:
        return None
    figure, axes = panel_figure(len(panels))
    for axis, bits in zip(axes, sorted(panels), strict=True):
        for name, metrics in panels[bits]:
            x, y = xy(metrics)
            x = np.array([np.nan if v is None else v for v in x], dtype=float)
            y = np.array([np.nan if v is None else v for v in y], dtype=float)
            axis.plot(x, y, marker=".", label=name)
        axis.set_title(f"{bits} bits")
        axis.set_xlabel(labels[0])
        axis.set_ylabel(labels[1])
        axis.grid(alpha=0.3)
        axis.legend(fontsize="small")
    figure.suptitle(title + (f" — {results['dataset']}" if results.get("dataset") else ""))
    return save_figure(figure, path)


def panel_figure(panels: int):
    """A figure of `panels` axes side by side, the layout of every plot here and in `curves`."""
    from matplotlib.figure import Figure  # imported here: the metrics never need matplotlib

    figure = Figure(figsize=(4.5 * panels, 4.0), layout="constrained")
    axes = figure.subplots(1, panels, squeeze=False)[0]
    return figure, list(axes)


def save_figure(figure, path) -> Path:
    """Write `figure` as a PNG to `path`, creating its folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    return path


def _write_text(path: Path, text: str) -> Path:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    temporary.replace(path)
    return path
