"""Mosaic: a multi-label data set composed from a single-label one, where regions matter.

Each mosaic is a g×g grid of cells (default 2×2 over Fashion-MNIST: 56×56 images). It fills
k cells, k uniform in 1..g², with images drawn uniformly from the base split (the other cells
stay black, 0); its labels are the union of its items' labels. A global descriptor blurs the
items together, region codes can keep them apart: this is the package's local-detail benchmark.

Training mosaics (= database) are made only of base training images, query mosaics only of base
query images, so no item is shared. Deterministic from `seed`; `train_size` / `query_size` are the
numbers of mosaics (default: as many as the base split has images). An id names its cells:
`mosaic2x2:<base id>|-|<base id>|<base id>` ("-" = empty), so split lists rebuild the mosaics
exactly (`splits_dir`). Config: `mosaic_base` (default "fashion_mnist"), `mosaic_grid` (2).
"""

import dataclasses
import logging

import numpy as np

from dmrh_tf.data.sampling import rng_for
from dmrh_tf.data.split_lists import read_split_lists, splits_from_lists
from dmrh_tf.data.splits import Split, Splits

__all__ = ["compose_mosaics", "load_mosaic", "mosaic_id", "parse_mosaic_id"]

log = logging.getLogger(__name__)

EMPTY = "-"


def mosaic_id(grid, cell_ids):
    """The id of a mosaic whose cells hold `cell_ids` (None for an empty cell)."""
    return f"mosaic{grid}x{grid}:" + "|".join(EMPTY if c is None else str(c) for c in cell_ids)


def parse_mosaic_id(value):
    """(grid, [base id or None per cell]) of a mosaic id."""
    prefix, _, cells = value.partition(":")
    sides = prefix.removeprefix("mosaic").split("x")
    if not prefix.startswith("mosaic") or len(sides) != 2 or sides[0] != sides[1] or not sides[0].isdigit():
        raise ValueError(f"{value!r} is not a mosaic id (mosaicGxG:<id>|<id>|...)")
    grid = int(sides[0])
    parts = [None if c == EMPTY else c for c in cells.split("|")]
    if len(parts) != grid * grid:
        raise ValueError(f"mosaic id {value!r} names {len(parts)} cells, not {grid * grid}")
    return grid, parts


def compose_mosaics(base, cells, grid):
    """`Split` of the mosaics whose cells hold rows `cells` [m, g²] of `base` (-1 = empty)."""
    images = np.asarray(base.images)
    m, (h, w, c) = len(cells), images.shape[1:]
    filled = cells >= 0
    tiles = images[np.where(filled, cells, 0)] * filled[..., None, None, None].astype(images.dtype)
    tiles = tiles.reshape(m, grid, grid, h, w, c).transpose(0, 1, 3, 2, 4, 5)
    labels = (base.labels[np.where(filled, cells, 0)] * filled[..., None]).max(axis=1)
    ids = np.array([mosaic_id(grid, [base.ids[j] if j >= 0 else None for j in row]) for row in cells])
    return Split(ids, labels.astype(np.float32), tiles.reshape(m, grid * h, grid * w, c))


def _random_cells(size, count, grid, rng):
    """[count, g²] distinct rows of base row numbers (-1 = empty), k ~ U{1..g²} filled cells."""
    if count > (size + 1) ** (grid * grid) - 1:
        raise ValueError(f"cannot make {count} distinct {grid}x{grid} mosaics of {size} images")
    cells = np.full((count, grid * grid), -1, np.int64)
    todo = np.arange(count)
    while len(todo):  # redraw repeated mosaics (likely among one-item ones) so ids stay unique
        cells[todo] = -1
        for row in todo:
            k = rng.integers(1, grid * grid + 1)
            cells[row, rng.choice(grid * grid, k, replace=False)] = rng.integers(0, size, k)
        _, first = np.unique(cells, axis=0, return_index=True)
        todo = np.setdiff1d(np.arange(count), first)
    return cells


def _check_base(base, name):
    for split in (base.train, base.query):
        if split.on_disk or np.asarray(split.images).dtype != np.uint8:
            raise ValueError(
                f"mosaic needs a base data set held in memory as uint8 arrays of one size "
                f"(fashion_mnist, cifar10, synthetic); {name!r} reads its images from disk"
            )
    if not np.all(np.count_nonzero(base.train.labels, axis=1) == 1):
        log.warning("mosaic base %s is multi-label: a mosaic's labels are still the union", name)


def _base_config(config, base_name):
    return dataclasses.replace(config, dataset=base_name, train_size=None, query_size=None, splits_dir=None)


def _from_lists(base, grid, directory, classes, provenance):
    """The mosaics named in the split lists of `directory`, rebuilt from their ids."""
    lists = read_split_lists(directory)
    both = Split(
        np.concatenate([base.train.ids, base.query.ids]),
        np.concatenate([base.train.labels, base.query.labels]),
        np.concatenate([base.train.images, base.query.images]),
    )
    index = {}
    for row, item in enumerate(both.ids):
        index.setdefault(str(item), row)
    wanted = sorted({str(i) for ids, _ in lists.lists.values() for i in ids})
    cells = []
    for value in wanted:
        id_grid, parts = parse_mosaic_id(value)
        if id_grid != grid:
            raise ValueError(f"{directory}: {value!r} is a {id_grid}x{id_grid} mosaic; mosaic_grid is {grid}")
        unknown = [p for p in parts if p is not None and p not in index]
        if unknown:
            raise ValueError(f"{directory}: {value!r} uses {unknown[0]!r}, not in the base data set")
        cells.append([-1 if p is None else index[p] for p in parts])
    pool = compose_mosaics(both, np.array(cells, np.int64).reshape(-1, grid * grid), grid)
    return splits_from_lists("mosaic", [pool], directory, classes, provenance)


def load_mosaic(config):
    """Mosaic `Splits` over `mosaic_base` (see the module docstring)."""
    from dmrh_tf.data import DATASETS  # the registry (imported here: it imports this module)

    base_name = config.mosaic_base
    grid = int(config.mosaic_grid)
    if base_name == "mosaic" or base_name not in DATASETS:
        raise ValueError(
            f"mosaic_base must be one of {sorted(set(DATASETS) - {'mosaic'})}, got {base_name!r}"
        )
    if not 1 <= grid <= 8:
        raise ValueError(f"mosaic_grid must be in 1..8, got {grid}")
    base = DATASETS[base_name](_base_config(config, base_name))
    _check_base(base, base_name)
    seed = config.seed
    provenance = {
        "source": f"mosaic {grid}x{grid} of {base_name}",
        "base": base.provenance,
        "composition": f"k ~ U{{1..{grid * grid}}} filled cells, items uniform from the base split",
    }
    classes = base.classes
    if config.splits_dir:
        return _from_lists(base, grid, config.splits_dir, classes, provenance)
    sizes = {
        "train": config.train_size or len(base.train),
        "query": config.query_size or len(base.query),
    }
    made = {}
    for part, source in (("train", base.train), ("query", base.query)):
        cells = _random_cells(len(source), sizes[part], grid, rng_for(seed, f"mosaic_{part}"))
        made[part] = compose_mosaics(source, cells, grid)
    provenance.update(split="seed", seed=seed, sizes=sizes)
    log.info("mosaic %dx%d of %s: %s", grid, grid, base_name, sizes)
    return Splits("mosaic", made["train"], made["query"], made["train"], classes, provenance)
