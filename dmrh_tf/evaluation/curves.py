"""Quality of training runs: mAP against wall-clock minutes, the slides' convergence figure, and
mAP against the region grid N over seeds.

A *curve* is a list of points, one per finished epoch of a run:

    {"epoch": 3, "minutes": 14.2, "map_at_k": 0.871, "loss": 0.41, ...}

where `minutes` is the wall time the run would have taken had it stopped after that epoch: its
training time so far (history.csv's `epoch_seconds`, summed) plus its final evaluation's time.
"""

from pathlib import Path

from dmrh_tf.evaluation.report import panel_figure, save_figure

__all__ = ["curve_points", "plot_convergence", "plot_map_vs_regions_seeds", "plot_time_to_quality"]


def curve_points(history, maps, evaluate_seconds):
    """Points from history rows (dicts with `epoch_seconds` and the loss terms, in epoch order),
    `maps` {epoch (1-based): mAP} and the seconds a final evaluation takes."""
    points, elapsed = [], 0.0
    for epoch, row in enumerate(history, start=1):
        if row.get("epoch_seconds") is None:
            raise ValueError(
                f"history row {epoch} has no epoch_seconds: the run was trained before epochs "
                "were timed; train it again to draw its curve"
            )
        elapsed += float(row["epoch_seconds"])
        if epoch in maps:
            losses = {k: _number(v) for k, v in row.items() if k not in ("epoch", "epoch_seconds")}
            losses = {k: v for k, v in losses.items() if v is not None}  # CSVLogger's "NA" left out
            minutes = (elapsed + evaluate_seconds) / 60
            points.append({"epoch": epoch, "minutes": round(minutes, 2), "map_at_k": maps[epoch], **losses})
    return points


def _number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def plot_time_to_quality(curves: dict, path, k: int, target: float | None = None) -> Path:
    """mAP@k against wall-clock minutes, one line per labelled curve (and the target, dashed)."""
    figure, (axis,) = panel_figure(1)
    for label, points in curves.items():
        axis.plot([p["minutes"] for p in points], [p["map_at_k"] for p in points], marker="o", label=label)
    if target is not None:
        axis.axhline(target, linestyle="--", color="grey", label=f"target {target}")
    axis.set_xlabel("wall-clock minutes (training + final evaluation)")
    axis.set_ylabel(f"mAP@{k}")
    axis.set_title("Time to quality")
    axis.grid(alpha=0.3)
    axis.legend(fontsize="small")
    return save_figure(figure, path)


def plot_convergence(curves: dict, path, k: int) -> Path:
    """The slides' "convergence analysis": training loss and mAP@k per epoch, one line per curve."""
    figure, (loss_axis, map_axis) = panel_figure(2)
    for label, points in curves.items():
        epochs = [p["epoch"] for p in points]
        loss_axis.plot(epochs, [p["loss"] for p in points], marker="o", label=label)
        map_axis.plot(epochs, [p["map_at_k"] for p in points], marker="o", label=label)
    for axis, name in ((loss_axis, "training loss"), (map_axis, f"mAP@{k}")):
        axis.set_xlabel("epoch")
        axis.set_ylabel(name)
        axis.xaxis.get_major_locator().set_params(integer=True)
        axis.grid(alpha=0.3)
        axis.legend(fontsize="small")
    figure.suptitle("Convergence")
    return save_figure(figure, path)


def plot_map_vs_regions_seeds(runs: list, path, bits: int, k: int, budget: str = "equal wall time") -> Path:
    """mAP against N from runs ({"regions", "weighting", "seed", "map_at_k"}): every seed as a dot,
    the mean ± standard deviation over seeds as a line with error bars, one line per weighting;
    `budget` says what was held equal across N (the title)."""
    import numpy as np

    figure, (axis,) = panel_figure(1)
    for weighting in sorted({run["weighting"] for run in runs}):
        group = [run for run in runs if run["weighting"] == weighting]
        regions = sorted({run["regions"] for run in group})
        values = [[run["map_at_k"] for run in group if run["regions"] == n] for n in regions]
        line = axis.errorbar(
            regions,
            [np.mean(v) for v in values],
            yerr=[np.std(v, ddof=1) if len(v) > 1 else 0.0 for v in values],
            marker="o",
            capsize=4,
            label=f"{weighting} weighting (mean ± std)",
        )
        for n, v in zip(regions, values, strict=True):
            axis.scatter([n] * len(v), v, color=line[0].get_color(), alpha=0.35, s=14)
    axis.set_xlabel("regions per side N (N² regions)")
    axis.set_ylabel(f"mAP@{k}")
    axis.set_title(f"mAP@{k} versus N at {budget}, {bits} bits")
    axis.xaxis.get_major_locator().set_params(integer=True)
    axis.grid(alpha=0.3)
    axis.legend(fontsize="small")
    return save_figure(figure, path)
