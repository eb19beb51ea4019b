"""Label files of a user's own images: image path → one or more labels, three spellings.

- CSV (a `.csv` file, or commas in the lines): `path,label1|label2` — labels are class *names*,
  separated by `|` (or `;`); an optional header row starts with `path`, `image`, `file` or
  `filename`. Quote a path that holds a comma. Classes are sorted (numerically when all numbers).
- Indices (whitespace-separated): `path 3 17` — labels are class indices 0..C-1.
- Multi-hot (whitespace-separated): `path 0 1 0 0 1` — one 0/1 per class. Recognised when all
  values are 0/1 and some line repeats a value (a list of indices never does); every line must
  then have the same number C of values, and a line that does not fails, naming it.

A line `# form: multi-hot` (or `indices`, `csv`) before the first image line states the form
instead of detecting it. It is needed in the one case detection cannot settle, every line being
`path 1 0` or `path 0 1`: multi-hot over two classes, or the indices 0 and 1 (every image in
both). Such a file without it fails.

Blank lines and other lines starting with `#` are ignored. Paths are relative to the data folder
(or absolute); in the whitespace forms they cannot contain spaces (use CSV).
"""

import collections
import csv
import dataclasses
import io
import os
import re

import numpy as np

__all__ = ["FORMS", "LabelFile", "read_label_file"]

_HEADER_NAMES = {"path", "image", "file", "filename", "image_path"}
FORMS = ("csv", "indices", "multi-hot")
_FORM_LINE = re.compile(r"#\s*form\s*:\s*(\S*)\s*", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class LabelFile:
    """What a label file says: `paths` [n] str, `labels` [n, C] float32, `classes` and `form`."""

    paths: np.ndarray
    labels: np.ndarray
    classes: tuple
    form: str  # "csv", "indices" or "multi-hot"


def _lines(path):
    """The image lines as (line number, text), and the form a `# form: ...` line before them states
    (or None)."""
    with open(path, encoding="utf-8-sig") as f:
        numbered = [(number, line.rstrip("\r\n")) for number, line in enumerate(f, 1) if line.strip()]
    declared, lines = None, []
    for number, line in numbered:
        match = _FORM_LINE.fullmatch(line.strip())
        if match and (lines or declared):
            raise ValueError(f"{path}:{number}: `# form: ...` must come once, before the first image line")
        if match:
            declared = match.group(1).lower()
            if declared not in FORMS:
                raise ValueError(
                    f"{path}:{number}: unknown form {match.group(1)!r}; write "
                    + ", ".join(f"`# form: {form}`" for form in FORMS[:-1])
                    + f" or `# form: {FORMS[-1]}`"
                )
        elif not line.lstrip().startswith("#"):
            lines.append((number, line))
    return declared, lines


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


def _read_whitespace(path, lines, declared=None):
    paths, tokens, numbers = [], [], []
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
        numbers.append(number)
    form = declared or _detect(path, tokens)
    if form == "multi-hot":
        labels = _multi_hot(path, numbers, tokens, detected=declared is None)
    else:
        labels = np.zeros((len(paths), 1 + max((max(t) for t in tokens if t), default=-1)), np.float32)
        for row, values in enumerate(tokens):
            labels[row, values] = 1.0
    classes = [str(i) for i in range(labels.shape[1])]
    return LabelFile(np.array(paths, dtype=str), labels, tuple(classes), form)


def _detect(path, tokens):
    """The form of whitespace lines: multi-hot when some line repeats a 0/1 value (a list of indices
    never does), else indices; fails when every line is `1 0` or `0 1`, which can be either."""
    if not all(v in (0, 1) for t in tokens for v in t):
        return "indices"
    if any(len(set(t)) < len(t) for t in tokens):
        return "multi-hot"
    if {len(t) for t in tokens} == {2}:
        raise ValueError(
            f"{path}: every line is `path 1 0` or `path 0 1`, which reads as multi-hot over two "
            "classes (one class per image) or as the class indices 0 and 1 (every image in both). "
            "Say which: make the first line `# form: multi-hot` or `# form: indices`."
        )
    return "indices"


def _multi_hot(path, numbers, tokens, detected):
    width = collections.Counter(len(t) for t in tokens).most_common(1)[0][0]
    for number, values in zip(numbers, tokens):
        if len(values) != width or any(v not in (0, 1) for v in values):
            why = (
                " (read as multi-hot because lines repeat a 0/1 value, which a list of class indices "
                "never does; if they are class indices, make the first line `# form: indices`)"
            )
            raise ValueError(
                f"{path}:{number}: multi-hot lines hold one 0/1 per class ({width} on most lines), "
                f"got {len(values)}: {values}" + (why if detected else "")
            )
    return np.array(tokens, np.float32).reshape(len(tokens), width)


def read_label_file(path):
    """The `LabelFile` at `path` (form stated by its first line or detected, as the module docstring
    says)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"label file {path!r} not found")
    declared, lines = _lines(path)
    if not lines:
        raise ValueError(f"{path} lists no images")
    if declared == "csv" or (declared is None and (path.lower().endswith(".csv") or "," in lines[0][1])):
        return _read_csv(path, lines)
    return _read_whitespace(path, lines, declared)
