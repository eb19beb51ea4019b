"""The search summary, read back from a KerasTuner project directory, and the best trial's config.

Everything comes from the files the search leaves (`trial_<id>/trial.json` from KerasTuner,
`trial_<id>/dmrh_trial.json` from `tuning.tuners`), so a summary can be printed by the chief of a
distributed search, by a later rerun, or after the fact, without the tuner's live state.
"""

import dataclasses
import glob
import json
import math
import os
import re

from tuning.hypermodel import OBJECTIVE
from tuning.space import config_for
from tuning.tuners import TIMING_FILE

__all__ = ["TrialRow", "best_trial", "failure_line", "format_table", "read_trials", "write_best_config"]

_HEADINGS = {"eta": "eta", "regions": "N", "bits": "K", "learning_rate": "lr", "tuner/epochs": "epochs"}


@dataclasses.dataclass(frozen=True)
class TrialRow:
    """One trial: its hyper-parameter values, objective, KerasTuner status and wall time."""

    trial_id: str
    values: dict
    val_map: float | None  # None unless COMPLETED
    status: str  # RUNNING (or interrupted), COMPLETED, INVALID (to be retried), FAILED, …
    seconds: float | None  # wall time of its last run, None when unknown (e.g. never finished)
    reason: str = ""  # why it failed, one line


# An exception line of a traceback: "pkg.mod.SomeError: message" (or the bare class name), unindented.
_EXCEPTION_LINE = re.compile(
    r"^(?:[A-Za-z_]\w*\.)*([A-Za-z_]\w*(?:Error|Exception|Interrupt|Exit))(?::\s*(.*))?$"
)


def failure_line(message):
    """The exception of a KerasTuner trial message (a traceback), as "SomeError: first line".

    The last unindented "pkg.SomeError: …" line is the exception that failed the trial (TensorFlow
    errors continue over several lines; those are skipped). Falls back to the last line.
    """
    lines = [line.rstrip() for line in (message or "").splitlines() if line.strip()]
    for line in reversed(lines):
        match = _EXCEPTION_LINE.match(line)
        if match:
            name, text = match.groups()
            return f"{name}: {text}" if text else name
    return lines[-1].strip() if lines else ""


def _load(path):
    with open(path) as f:
        return json.load(f)


def read_trials(project_dir):
    """Every trial of the project, in trial-id order."""
    rows = []
    for path in glob.glob(os.path.join(project_dir, "trial_*", "trial.json")):
        state = _load(path)
        timing_path = os.path.join(os.path.dirname(path), TIMING_FILE)
        timing = _load(timing_path) if os.path.exists(timing_path) else {}
        status = state.get("status", "?")
        score = state.get("score")
        completed = status == "COMPLETED" and score is not None and math.isfinite(score)
        rows.append(
            TrialRow(
                trial_id=state["trial_id"],
                values=state.get("hyperparameters", {}).get("values", {}),
                val_map=float(score) if completed else None,
                status=status,
                seconds=timing.get("seconds"),
                reason="" if completed else failure_line(state.get("message")),
            )
        )
    return sorted(rows, key=_trial_order)


def _trial_order(row):
    # ids are zero-padded to the width of max_trials, which may grow when a search is resumed
    return (int(row.trial_id) if row.trial_id.isdigit() else -1, row.trial_id)


def best_trial(rows):
    """The completed trial with the highest validation mAP (the earliest on ties), or None."""
    done = [row for row in rows if row.val_map is not None]
    return max(done, key=lambda row: row.val_map) if done else None


def _cell(name, value):
    if value is None:
        return "-"
    if name in ("eta", "learning_rate"):
        return f"{value:.4g}"
    return str(value)


def format_table(rows, names):
    """A plain-text table: trial, the hyper-parameters `names`, val mAP, status, seconds, reason."""
    names = list(names)
    if any("tuner/epochs" in row.values for row in rows):
        names.append("tuner/epochs")
    header = ["trial", *(_HEADINGS.get(n, n) for n in names), OBJECTIVE, "status", "seconds", "reason"]
    body = [
        [
            row.trial_id,
            *(_cell(n, row.values.get(n)) for n in names),
            "-" if row.val_map is None else f"{row.val_map:.4f}",
            row.status,
            "-" if row.seconds is None else f"{row.seconds:.1f}",
            row.reason[:100],
        ]
        for row in rows
    ]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in [header, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_best_config(path, base, row, **overrides):
    """Write `base` with the trial's values (and `overrides`) as JSON Config keys; return the Config.

    `python -m dmrh_tf.train --config PATH` retrains it.
    """
    config = config_for(base, {**row.values, **overrides})
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        f.write(config.to_json())
    os.replace(path + ".tmp", path)
    return config
