"""Label files of a user's own images: image path → one or more labels, three spellings.

- CSV (a `.csv` file, or commas in the lines): `path,label1|label2` — labels are class *names*,
  separated by `|` (or `;`); an optional header row starts with `path`, `image`, `file` or
  `filename`. Quote a path that holds a comma. Classes are sorted (numerically when all numbers).
- Indices (whitespace-separated): `path 3 17` — labels are class indices 0..C-1.
- Multi-hot (whitespace-separated): `path 0 1 0 0 1` — one 0/1 per class. Recognised when every
  line has the same number C >= 2 of 0/1 values and some line repeats a value (a list of
  indices never does).

Blank lines and lines starting with `#` are ignored. Paths are relative to the data folder
(or absolute); in the whitespace forms they cannot contain spaces (use CSV).
"""

import csv
import dataclasses
import io
import os

import numpy as np

__all__ = ["LabelFile", "read_label_file"]

_HEADER_NAMES = {"path", "image", "file", "filename", "image_path"}


@dataclasses.dataclass(frozen=True)
class LabelFile:
    """What a label file says: `paths` [n] str, `labels` [n, C] float32, `classes` and `form`."""

    paths: np.ndarray
    labels: np.ndarray
    classes: tuple
    form: str  # "csv", "indices" or "multi-hot"


def _lines(path):
    with open(path, encoding="utf-8-sig") as f:
        return [
            (number, line.rstrip("\r\n"))
            for number, line in enumerate(f, 1)
            if line.strip() and not line.lstrip().startswith("#")
        ]


def _sorted_names(names):
    if all(n.lstrip("-").isdigit() for n in names):
        return sorted(names, key=int)
    return sorted(names)


def _read_csv(path, lines):
    rows = list(csv.reader(io.StringIO("\n".join(line for _, line in lines))))
    numbers = [n for n, _ in lines]
    if rows and rows[0] and rows[0][0].strip().lower() in _HEADER_NAMES:
        rows, numbers = rows[1:], numbers[1:]
    paths, label_sets = [], []
    for number, row in zip(numbers, rows):
        if len(row) < 1 or not row[0].strip():
            raise ValueError(f"{path}:{number}: expected `path,label1|label2`, got {row!r}")
        if len(row) > 2:
            raise ValueError(
                f"{path}:{number}: {len(row)} fields; expected `path,labels` with labels "
                "separated by | (quote a path that contains a comma)"
            )
        cell = row[1] if len(row) > 1 else ""
        names = [t.strip() for t in cell.replace(";", "|").split("|") if t.strip()]
        paths.append(row[0].strip())
        label_sets.append(names)
    classes = _sorted_names({n for names in label_sets for n in names})
    column = {name: i for i, name in enumerate(classes)}
    labels = np.zeros((len(paths), len(classes)), np.float32)
    for row, names in enumerate(label_sets):
        labels[row, [column[n] for n in names]] = 1.0
    return LabelFile(np.array(paths, dtype=str), labels, tuple(classes), "csv")


def _read_whitespace(path, lines):
    paths, tokens = [], []
    for number, line in lines:
        fields = line.split()
        try:
            values = [int(t) for t in fields[1:]]
        except ValueError:
            raise ValueError(
                f"{path}:{number}: expected `path idx idx ...` (class indices) or "
                f"`path 0 1 0 ...` (multi-hot), got {line!r}; use CSV for class names"
            ) from None
        if any(v < 0 for v in values):
            raise ValueError(f"{path}:{number}: negative class index in {line!r}")
        paths.append(fields[0])
        tokens.append(values)
    widths = {len(t) for t in tokens}
    binary = all(v in (0, 1) for t in tokens for v in t)
    repeats = any(len(set(t)) < len(t) for t in tokens)
    if len(widths) == 1 and widths.pop() >= 2 and binary and repeats:
        labels = np.array(tokens, np.float32)
        form = "multi-hot"
    else:
        num_classes = 1 + max((max(t) for t in tokens if t), default=-1)
        labels = np.zeros((len(paths), num_classes), np.float32)
        for row, values in enumerate(tokens):
            labels[row, values] = 1.0
        form = "indices"
    classes = [str(i) for i in range(labels.shape[1])]
    return LabelFile(np.array(paths, dtype=str), labels, tuple(classes), form)


def read_label_file(path):
    """The `LabelFile` at `path` (format detected as the module docstring says)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"label file {path!r} not found")
    lines = _lines(path)
    if not lines:
        raise ValueError(f"{path} lists no images")
    if path.lower().endswith(".csv") or "," in lines[0][1]:
        return _read_csv(path, lines)
    return _read_whitespace(path, lines)
