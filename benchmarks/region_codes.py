"""Do a trained model's region codes see their own part of the image? A probe of mosaic runs.

    python benchmarks/region_codes.py --runs runs/regions_study/n1_magnitude_seed0 \
        runs/regions_study/n2_magnitude_seed0 runs/regions_study/n3_magnitude_seed0

Per run (a finished `train` run on the mosaic; its own splits, no training): the region outputs
u [n, N, N, K] of its queries and the fused codes of its database. Two measures:

1. **Agreement**: the fraction of equal bits between the sign codes of two regions of one image,
   over all region pairs and queries (1 = every region gives the image's code). For scale: the
   same between the fused codes of two different queries (`agreement_between_images`).
2. **Localisation**: each mosaic cell's nearest region — the grid's corner region on that cell's
   side — used as the query code against the database's fused codes, scored (mAP@K) with
   relevance "the database mosaic holds the label of that cell" (`own`) and, separately, "holds
   the label of the diagonally opposite cell" (`opposite`), over the queries whose two cells hold
   different labels. `own − opposite > 0`: the region's code carries its own cell more than the
   far one. At N = 1 the one region is the whole image and the two are symmetric: the control.

For a run with `--weighting learned`, also the fusion's learned weights: the softmax over regions
of its logits, averaged over bits per region, and the largest weight per bit averaged over bits
(1/N² = the plain mean the weighting starts from).

Writes `--out` (JSON: the measures per run, with its N, weighting, seed and mAP@K).
"""

import argparse
import dataclasses
import json
import logging
import os
from pathlib import Path

import numpy as np
from common import finish, machine

log = logging.getLogger("region_codes")


def region_agreement(region_codes):
    """Mean fraction of equal bits between two regions' ±1 codes of one image, over all pairs of
    distinct regions: `region_codes` [n, N, N, K]; None with one region."""
    n, rows, cols, bits = region_codes.shape
    flat = region_codes.reshape(n, rows * cols, bits).astype(np.float32)
    regions = rows * cols
    if regions == 1:
        return None
    inner = np.einsum("nrk,nsk->rs", flat, flat) / n  # mean <b_r, b_s> over images
    pairs = inner[~np.eye(regions, dtype=bool)]
    return float(np.mean((pairs / bits + 1) / 2))  # <b_r, b_s> = K - 2·(differing bits)


def corner_regions(regions, grid=2):
    """{cell index: (row, col) of its nearest region}: a 2×2 mosaic's cell (i, j) is nearest the
    grid's corner region (i·(N-1), j·(N-1)) (the one whole region at N = 1)."""
    if grid != 2:
        raise ValueError(f"the localisation probe is for 2x2 mosaics, got mosaic_grid {grid}")
    return {2 * i + j: (i * (regions - 1), j * (regions - 1)) for i in range(2) for j in range(2)}


def localisation(region_codes, db_codes, cell_labels, db_labels, k):
    """Per cell c: mAP@k of c's nearest region's codes against `db_codes` with the labels of cell
    c ("own") and of the opposite cell 3 - c ("opposite") as the queries' labels, over queries
    whose two cells hold different labels. `cell_labels` [n, 4, C] (zeros: an empty cell)."""
    from dmrh_tf.evaluation.retrieval import map_at_k

    rows = []
    for cell, (r, c) in corner_regions(region_codes.shape[1]).items():
        own, opposite = cell_labels[:, cell], cell_labels[:, 3 - cell]
        keep = own.any(axis=1) & opposite.any(axis=1) & (own != opposite).any(axis=1)
        codes = region_codes[keep, r, c]
        scores = {
            name: map_at_k(codes, db_codes, labels[keep], db_labels, k)
            for name, labels in (("own", own), ("opposite", opposite))
        }
        rows.append({"cell": cell, "region": [r, c], "queries": int(keep.sum()), **scores})
    gaps = [row["own"] - row["opposite"] for row in rows]
    return {"cells": rows, "own_minus_opposite": round(float(np.mean(gaps)), 4)}


def learned_weights(logits):
    """Summary of a learned fusion's logits [N², K]: the mean softmax weight of each region over
    bits, and the mean over bits of the largest region weight (1/N² for the plain mean)."""
    weights = np.exp(logits - logits.max(axis=0))
    weights /= weights.sum(axis=0)
    return {
        "mean_weight_per_region": np.round(weights.mean(axis=1), 4).tolist(),
        "mean_largest_weight": round(float(weights.max(axis=0).mean()), 4),
        "uniform_weight": round(1 / len(logits), 4),
    }


def cell_labels_of(ids, base_labels):
    """[n, 4, C] labels of each 2×2 mosaic's cells from its id (zeros for an empty cell);
    `base_labels`: {base image id: [C] labels}."""
    from dmrh_tf.data.mosaic import parse_mosaic_id

    width = len(next(iter(base_labels.values())))
    out = np.zeros((len(ids), 4, width), np.float32)
    for row, value in enumerate(ids):
        grid, parts = parse_mosaic_id(str(value))
        if grid != 2:
            raise ValueError(f"the localisation probe is for 2x2 mosaics, got {value!r}")
        for cell, part in enumerate(parts):
            if part is not None:
                out[row, cell] = base_labels[part]
    return out


def probe(run_dir):
    """Both measures for the finished mosaic run in `run_dir`."""
    from dmrh_tf.data import DATASETS, load_splits
    from dmrh_tf.encode import encode_split
    from dmrh_tf.training import run_dir as rd

    model, config = rd.load_run(run_dir)
    if config.dataset != "mosaic":
        raise ValueError(f"{run_dir}: trained on {config.dataset!r}; the probe needs a mosaic run")
    splits = load_splits(dataclasses.replace(config, splits_dir=os.path.join(run_dir, rd.SPLITS_DIR)))
    base_config = dataclasses.replace(
        config, dataset=config.mosaic_base, train_size=None, query_size=None, splits_dir=None
    )
    base = DATASETS[config.mosaic_base](base_config)
    base_labels = {}
    for split in (base.train, base.query):
        base_labels.update(zip(map(str, split.ids), split.labels, strict=True))
    outputs = encode_split(model, splits.query, output="region_outputs")
    region_codes = np.where(outputs > 0, 1, -1).astype(np.int8)  # as the model's `codes` layer
    fusion = model.get_layer("fusion")
    query_codes = np.where(np.asarray(fusion(outputs)) > 0, 1, -1).astype(np.int8)  # one encoding
    db_codes = encode_split(model, splits.database)
    rng = np.random.default_rng(0)
    shuffled = query_codes[rng.permutation(len(query_codes))]
    between = float(np.mean(query_codes == shuffled))
    located = localisation(
        region_codes, db_codes, cell_labels_of(splits.query.ids, base_labels), splits.database.labels,
        config.map_k,
    )  # fmt: skip
    with open(os.path.join(run_dir, rd.RESULTS_FILE)) as f:
        results = json.load(f)
    weights = learned_weights(np.asarray(fusion.region_logits)) if config.weighting == "learned" else None
    return {
        "run_dir": run_dir,
        "regions": config.regions,
        "weighting": config.weighting,
        "seed": config.seed,
        "bits": config.bits,
        "map_at_k": results["map_at_k"],
        "agreement_between_regions": region_agreement(region_codes),
        "agreement_between_images": round(between, 4),
        "localisation": located,
        "learned_weights": weights,
    }


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", nargs="+", required=True, help="finished mosaic runs")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "region_codes.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    info = machine()
    probes = []
    for run_dir in args.runs:
        probes.append(probe(run_dir))
        located = probes[-1]["localisation"]
        log.info(
            "%s: agreement between regions %s, own - opposite %.4f",
            run_dir, probes[-1]["agreement_between_regions"], located["own_minus_opposite"],
        )  # fmt: skip
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    record = {"machine": finish(info), "runs": probes}
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
