"""Split list files: every split of a run written as ids and labels, and splits rebuilt from them.

A split list directory holds `train.tsv`, `query.tsv`, `database.tsv` and `manifest.json`:

    # dmrh_tf split list v1
    # dataset: fashion_mnist
    # split: query
    # count: 10000
    # num_classes: 10
    # columns: id<TAB>positive class indices, space-separated
    fashion_mnist:test:0<TAB>9
    fashion_mnist:test:1<TAB>2

Header lines start with "#" and come first. A data line is `id<TAB>labels`; a line with no tab
(`id` alone) leaves the labels to the data set, so a hand-written list may name ids only. A given
`database.tsv` may be omitted: the database is then the training split (the DMRH protocol).
`manifest.json` records the data set, sizes, class names, the files' sha256 and the provenance
(data source, seed or the list files the split came from).
"""

import dataclasses
import hashlib
import json
import logging
import os

import numpy as np

from dmrh_tf.data.splits import Split, Splits
from dmrh_tf.data.tfds_images import TFDSImages

__all__ = [
    "FORMAT",
    "MANIFEST",
    "SPLIT_NAMES",
    "SplitLists",
    "read_split_lists",
    "select_by_ids",
    "splits_from_lists",
    "write_split_lists",
]

log = logging.getLogger(__name__)

FORMAT = "dmrh_tf split list v1"
MANIFEST = "manifest.json"
SPLIT_NAMES = ("train", "query", "database")


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_atomic(path, text):
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def _check_id(value):
    if "\t" in value or "\n" in value or "\r" in value or value.startswith("#") or not value:
        raise ValueError(f"id {value!r} cannot go in a split list (empty, tab, newline or '#')")
    return value


def write_split_lists(splits, directory):
    """Write `splits` as `train.tsv`, `query.tsv`, `database.tsv`, `manifest.json` in `directory`.

    Returns the manifest (a dict). The trainer calls this with `<run_dir>/splits`, so that every
    run holds the exact lists it used; `splits_from_lists` (config `splits_dir`) reads them back.
    """
    os.makedirs(directory, exist_ok=True)
    files = {}
    for split_name in SPLIT_NAMES:
        split = getattr(splits, split_name)
        header = [
            f"# {FORMAT}",
            f"# dataset: {splits.name}",
            f"# split: {split_name}",
            f"# count: {len(split)}",
            f"# num_classes: {splits.num_classes}",
            "# columns: id<TAB>positive class indices, space-separated",
        ]
        lines = [
            f"{_check_id(str(i))}\t{' '.join(map(str, np.flatnonzero(row)))}"
            for i, row in zip(split.ids, split.labels)
        ]
        path = os.path.join(directory, f"{split_name}.tsv")
        _write_atomic(path, "\n".join(header + lines) + "\n")
        files[split_name] = {
            "file": f"{split_name}.tsv",
            "count": len(split),
            "sha256": _sha256(path),
        }
    manifest = {
        "format": FORMAT,
        "dataset": splits.name,
        "num_classes": int(splits.num_classes),
        "classes": list(splits.classes),
        "sizes": splits.sizes(),
        "database_is_train": splits.database is splits.train,
        "files": files,
        "provenance": splits.provenance,
    }
    _write_atomic(os.path.join(directory, MANIFEST), json.dumps(manifest, indent=2, default=str))
    log.info("split lists written to %s: %s", directory, splits.sizes())
    return manifest


@dataclasses.dataclass(frozen=True)
class SplitLists:
    """Split lists read from a directory.

    lists: split name → (ids [n] str, label index tuples [n] or None where a line gave no labels).
    database is absent from `lists` when the directory has no `database.tsv` (database = train).
    """

    directory: str
    dataset: str | None
    num_classes: int | None
    lists: dict
    manifest: dict

    def describe(self):
        """What a run records about these lists: where they are and their files' sha256."""
        hashes = {name: _sha256(os.path.join(self.directory, f"{name}.tsv")) for name in self.lists}
        return {"directory": os.path.abspath(self.directory), "sha256": hashes}


def _read_list(path):
    header, ids, labels = {}, [], []
    with open(path, encoding="utf-8") as f:
        for number, raw in enumerate(f, 1):
            line = raw.rstrip("\n").rstrip("\r")
            if not ids and line.startswith("#"):
                key, _, value = line[1:].partition(":")
                header[key.strip()] = value.strip()
                continue
            if not line.strip():
                continue
            item, tab, rest = line.partition("\t")
            try:
                labels.append(tuple(int(t) for t in rest.split()) if tab else None)
            except ValueError:
                raise ValueError(
                    f"{path}:{number}: labels must be class indices separated by spaces, got {rest!r}"
                ) from None
            ids.append(item)
    return header, np.array(ids, dtype=str), labels


def read_split_lists(directory):
    """The `SplitLists` in `directory` (`train.tsv`, `query.tsv`; `database.tsv` optional)."""
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            f"split list directory {directory!r} not found: it must hold train.tsv and query.tsv "
            "(optionally database.tsv), as written in <run_dir>/splits by every run"
        )
    lists, headers = {}, {}
    for split_name in SPLIT_NAMES:
        path = os.path.join(directory, f"{split_name}.tsv")
        if not os.path.isfile(path):
            if split_name == "database":
                continue
            raise FileNotFoundError(
                f"{path} not found: a split list directory needs train.tsv and query.tsv "
                "(see docs/datasets.md for the format)"
            )
        header, ids, labels = _read_list(path)
        if not len(ids):
            raise ValueError(f"{path} lists no ids")
        if len(set(ids)) != len(ids):
            raise ValueError(f"{path}: ids repeat; every id may appear once per split")
        headers[split_name], lists[split_name] = header, (ids, labels)
    manifest_path = os.path.join(directory, MANIFEST)
    manifest = {}
    if os.path.isfile(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f)
    dataset = manifest.get("dataset") or headers["train"].get("dataset")
    num_classes = manifest.get("num_classes") or headers["train"].get("num_classes")
    return SplitLists(directory, dataset, int(num_classes) if num_classes else None, lists, manifest)


def _concat(parts):
    if len(parts) == 1:
        return parts[0]
    images = [p.images for p in parts]
    concat = TFDSImages.concat if isinstance(images[0], TFDSImages) else np.concatenate
    joined = concat(images)
    return Split(np.concatenate([p.ids for p in parts]), np.concatenate([p.labels for p in parts]), joined)


def select_by_ids(pools, ids, labels=None, what="split"):
    """The rows of `pools` (a list of `Split`) with these `ids`, checked against `labels`.

    Fails, before any training, when an id is in no pool or when a given label set differs from
    the data's (a list made for another data set or version). Streamed TFDS rows are put in read
    order (logged); other rows keep the list's order.
    """
    where = {}
    for p, pool in enumerate(pools):
        for row, item in enumerate(pool.ids):
            where.setdefault(str(item), (p, row))
    missing = [i for i in ids if i not in where]
    if missing:
        raise ValueError(
            f"{len(missing)} of the {len(ids)} ids of the {what} list are not in the data set, "
            f"e.g. {missing[:3]}: the list belongs to another data set, version or --data-dir"
        )
    located = np.array([where[i] for i in ids], dtype=np.int64).reshape(-1, 2)
    parts = []
    order = []
    for p, pool in enumerate(pools):
        picked = np.flatnonzero(located[:, 0] == p)
        if len(picked):
            rows = located[picked, 1]
            if isinstance(pool.images, TFDSImages):  # keep the read order inside a pool
                sort = np.argsort(pool.images.order_key[rows], kind="stable")
                picked, rows = picked[sort], rows[sort]
            parts.append(pool.take(rows))
            order.append(picked)
    split = _concat(parts)
    order = np.concatenate(order)
    if isinstance(split.images, TFDSImages):
        sort = split.images.sort_order()
        split, order = split.take(sort), order[sort]
        if np.any(order != np.arange(len(order))):
            log.info("the %s list was reordered to the TFDS read order", what)
    else:
        split = split.take(np.argsort(order, kind="stable"))
        order = np.sort(order)
    if labels is not None:
        _check_labels(split, [labels[i] for i in order], what)
    return split


def _check_labels(split, label_sets, what):
    bad = []
    num_classes = split.labels.shape[1]
    for item, row, given in zip(split.ids, split.labels, label_sets):
        if given is None:
            continue
        if any(c < 0 or c >= num_classes for c in given) or set(given) != set(np.flatnonzero(row)):
            bad.append((str(item), list(given), np.flatnonzero(row).tolist()))
    if bad:
        item, given, actual = bad[0]
        raise ValueError(
            f"the {what} list does not match the data: {len(bad)} ids have other labels, e.g. "
            f"{item!r} is listed with classes {given} but the data set gives {actual}"
        )


def splits_from_lists(name, pools, directory, classes=(), provenance=None):
    """`Splits` named `name` of the rows of `pools` named by the split lists in `directory`."""
    lists = read_split_lists(directory)
    if lists.dataset and lists.dataset != name:
        raise ValueError(
            f"the split lists in {directory} were written for data set {lists.dataset!r}, not {name!r}"
        )
    num_classes = pools[0].labels.shape[1]
    if lists.num_classes and lists.num_classes != num_classes:
        raise ValueError(
            f"the split lists in {directory} have {lists.num_classes} classes, the data {num_classes}"
        )
    chosen = {}
    for split_name, (ids, labels) in lists.lists.items():
        chosen[split_name] = select_by_ids(pools, ids, labels, what=split_name)
    train = chosen["train"]
    database = chosen.get("database", train)
    if database is not train and np.array_equal(database.ids, train.ids):
        database = train  # the DMRH protocol: one split, encoded once
    provenance = dict(provenance or {}, split="lists", lists=lists.describe())
    log.info("splits of %s taken from the lists in %s", name, directory)
    return Splits(name, train, chosen["query"], database, tuple(classes), provenance)
