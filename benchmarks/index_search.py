"""Benchmark of the `HammingIndex` backends: build and top-k search time, memory, recall.

    .venv/bin/python benchmarks/index_search.py            # 1,000,000 × 64-bit codes, 1,000 queries
    .venv/bin/python benchmarks/index_search.py --n 100000 # smaller, quicker

Two databases of `--n` codes: *uniform* random bits, the worst case for the sublinear backends
(no structure to exploit; all pairwise distances ≈ bits/2), and *clustered* codes, each a random
centre (one of `--centres`) with every bit flipped with probability `--flip`, which is what hash
codes of real images look like (codes of one class sit close together). Queries come from the
same distribution. Every backend is timed through the public `HammingIndex` API, including its
result re-sort; the NumPy backend only on the first `--numpy-queries` queries (it is the
reference, O(n) Python-level work per query), its per-query time scaled up.

Recall of the approximate backends against exact search (faiss `IndexBinaryFlat`), averaged over
queries:
- `recall`: |returned ids ∩ exact top-k ids| / k, the usual recall@k. Where several codes tie at
  the k-th distance, the exact top-k holds an arbitrary subset of them, so this understates.
- `tie_aware_recall`: the multiset overlap of the returned and exact distance lists / k, i.e. a
  returned code counts if an exact-top-k code at the same distance is matched to it.

Milvus rows (`backend: milvus`): the same codes inserted through `HammingIndex(bits, "milvus")` into
Milvus Lite in a temporary file (or `--milvus-uri http://host:19530`, a server): `insert_s` and
`inserts_per_s` (the add, id-uniqueness check included), `flush_s`, search time, recall, and
`index_s` (after the flush: until Milvus has built the index of every row, plus a release and
reload of the collection, so that every segment is searched through its index; until then
Milvus searches unindexed segments by brute force) and `disk_mb` (the growth of the Lite
database directory; on a server on this machine, of its binlogs and index files under
`--milvus-data-dir`, its `data/` storage directory; else null). BIN_FLAT must agree with faiss
id for id (`agrees_with_faiss`, ties included). BIN_IVF_FLAT (nprobe sweep) needs a server:
Milvus Lite 2.5 builds only BIN_FLAT, so on Lite its row says `skipped`.

Memory: `index_file_mb` / `bytes_per_code` is the saved index file (codes, search structure, int64
ids), which is what the index holds in memory once built. (The RSS growth of one build inside this
process is not a usable measure: glibc serves it from memory freed by earlier steps, so it often
reads 0.) `peak_rss_mb` is the whole run's peak resident memory, data and TensorFlow (imported by
`dmrh_tf`) included.
No timing is asserted anywhere; results go to benchmarks/results/index_search.json, which each run
overwrites whole: the server run (`--milvus-uri http://127.0.0.1:19530 --milvus-data-dir …`) went to
`--out benchmarks/results/index_search_milvus_server.json` instead.
"""

import argparse
import json
import logging
import os
import resource
import tempfile
import time

import faiss
import numpy as np
from common import finish, machine

from dmrh_tf.index import HammingIndex
from dmrh_tf.index.backends.milvus_collection import connect, is_local

logger = logging.getLogger("index_search")

# Searches faster than this (seconds) are repeated and the best time kept.
_REPEAT_BELOW_S = 5.0
# Search settings swept for the approximate backends (build parameters are their defaults).
SWEEPS = {
    "faiss_ivf": [{"nprobe": p} for p in (8, 32, 128)],
    "faiss_mih": [{"nflip": f} for f in (0, 1, 2)],
}
MILVUS_NPROBES = (8, 32, 128)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="database codes")
    parser.add_argument("--queries", type=int, default=1000, help="query codes")
    parser.add_argument("--bits", type=int, default=64, help="code length")
    parser.add_argument("--k", type=int, default=100, help="neighbours per query")
    parser.add_argument("--centres", type=int, default=500, help="clusters of the clustered codes")
    parser.add_argument("--flip", type=float, default=0.1, help="bit-flip probability around a centre")
    parser.add_argument("--numpy-queries", type=int, default=100, help="queries timed on NumPy")
    parser.add_argument(
        "--threads", type=int, default=None, help="faiss OpenMP threads (default: faiss's, all cores)"
    )
    parser.add_argument(
        "--milvus-uri",
        default=None,
        help="Milvus for the milvus rows (default: Milvus Lite in a temporary file, BIN_FLAT only)",
    )
    parser.add_argument(
        "--milvus-data-dir",
        default=None,
        help="a Milvus server's local storage directory (its `data/`), for the server rows' disk_mb",
    )
    parser.add_argument("--no-milvus", action="store_true", help="skip the milvus rows")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", default=os.path.join(os.path.dirname(__file__), "results", "index_search.json")
    )
    return parser.parse_args(argv)


def uniform_codes(rng, n, bits):
    return rng.integers(0, 2, (n, bits), dtype=np.uint8)


def clustered_codes(rng, centres, n, flip):
    bits = centres.shape[1]
    noise = rng.random((n, bits), dtype=np.float32) < flip
    return centres[rng.integers(0, len(centres), n)] ^ noise.astype(np.uint8)


def recalls(ids, distances, exact_ids, exact_distances, k):
    """(recall@k, tie-aware recall@k) of one result set against the exact one, query means."""
    id_hits, distance_hits = 0, 0
    for row_ids, row_d, exact_row_ids, exact_row_d in zip(
        ids, distances, exact_ids, exact_distances, strict=True
    ):
        found = row_d >= 0
        id_hits += np.intersect1d(row_ids[found], exact_row_ids).size
        got = np.bincount(row_d[found], minlength=exact_row_d.max() + 1)
        want = np.bincount(exact_row_d, minlength=got.size)
        distance_hits += np.minimum(got[: want.size], want[: got.size]).sum()
    total = k * len(ids)
    return id_hits / total, distance_hits / total


def build(backend, bits, packed, **params):
    start = time.perf_counter()
    index = HammingIndex(bits, backend, **params)
    index.add(packed)
    if backend == "faiss_ivf":  # IVF trains on the first search; time that as part of the build
        index.search(packed[:1], 1)
    seconds = time.perf_counter() - start
    size = _file_size(index)
    return index, {
        "build_s": round(seconds, 3),
        "index_file_mb": round(size / 2**20, 1),
        "bytes_per_code": round(size / len(index), 1),
        "backend_params": index.backend_params,
    }


def _file_size(index):
    """Bytes of the saved index file (codes, search structure and int64 ids)."""
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "index")
        index.save(path)
        return os.path.getsize(path)


def timed_search(index, queries, k):
    """Search once; if that took under `_REPEAT_BELOW_S`, twice more. Returns the fastest time.

    The best of several runs filters out other processes on a shared machine.
    """
    start = time.perf_counter()
    distances, ids = index.search(queries, k)
    seconds = time.perf_counter() - start
    if seconds < _REPEAT_BELOW_S:
        for _ in range(2):
            start = time.perf_counter()
            index.search(queries, k)
            seconds = min(seconds, time.perf_counter() - start)
    return distances, ids, seconds


def run_dataset(name, db, queries, args):
    """All backends on one database; returns the result rows."""
    k, bits = args.k, args.bits
    packed_db, packed_q = np.packbits(db, axis=1), np.packbits(queries, axis=1)
    rows = []

    index, row = build("faiss", bits, packed_db)
    exact_d, exact_ids, seconds = timed_search(index, packed_q, k)
    row.update(_search_row(seconds, len(queries)), recall=1.0, tie_aware_recall=1.0)
    rows.append({"backend": "faiss", **row})
    logger.info("%s faiss: %s", name, row)
    del index

    index, row = build("numpy", bits, packed_db)
    m = min(args.numpy_queries, len(queries))
    d, ids, seconds = timed_search(index, packed_q[:m], k)
    row.update(_search_row(seconds, m))
    row["agrees_with_faiss"] = bool((ids == exact_ids[:m]).all() and (d == exact_d[:m]).all())
    rows.append({"backend": "numpy", **row})
    logger.info("%s numpy: %s", name, row)
    del index

    for backend, settings in SWEEPS.items():
        index, build_row = build(backend, bits, packed_db)
        for setting in settings:
            index.set_search_params(**setting)
            d, ids, seconds = timed_search(index, packed_q, k)
            recall, tie_aware = recalls(ids, d, exact_ids, exact_d, k)
            row = {**build_row, "backend_params": index.backend_params}
            row.update(_search_row(seconds, len(queries)))
            row.update(recall=round(float(recall), 4), tie_aware_recall=round(float(tie_aware), 4))
            row["missing_fraction"] = round(float((d < 0).mean()), 4)
            rows.append({"backend": backend, **row})
            logger.info("%s %s: %s", name, backend, row)
        del index
    if not args.no_milvus:
        rows += run_milvus(name, packed_db, packed_q, exact_d, exact_ids, args)
    return rows


def run_milvus(name, packed_db, packed_q, exact_d, exact_ids, args):
    """BIN_FLAT and BIN_IVF_FLAT (nprobe sweep) rows; each collection is dropped afterwards."""
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        uri = args.milvus_uri or os.path.join(directory, "index_search.db")
        for index_type in ("BIN_FLAT", "BIN_IVF_FLAT"):
            if index_type == "BIN_IVF_FLAT" and is_local(uri):
                rows.append(
                    {
                        "backend": "milvus",
                        "backend_params": {"index_type": index_type},
                        "skipped": "Milvus Lite 2.5 builds only BIN_FLAT: give --milvus-uri of a server",
                    }
                )
                continue
            collection = f"index_search_{name}_{index_type.lower()}_{os.getpid()}"
            params = {"uri": uri, "collection": collection, "index_type": index_type}
            stored_before = _stored_bytes(uri, directory, args.milvus_data_dir)
            start = time.perf_counter()
            index = HammingIndex(args.bits, "milvus", **params)
            index.add(packed_db)
            insert_s = time.perf_counter() - start
            start = time.perf_counter()
            index.save(os.path.join(directory, "pointer.index"))  # flushes the collection
            flush_s = time.perf_counter() - start
            start = time.perf_counter()
            _wait_indexed_and_reload(uri, collection, len(packed_db))
            index_s = time.perf_counter() - start
            stored = _stored_bytes(uri, directory, args.milvus_data_dir)
            build_row = {
                "insert_s": round(insert_s, 3),
                "inserts_per_s": round(len(packed_db) / insert_s),
                "flush_s": round(flush_s, 3),
                "index_s": round(index_s, 3),
                "disk_mb": None if stored is None else round((stored - stored_before) / 2**20, 1),
            }
            settings = [{}] if index_type == "BIN_FLAT" else [{"nprobe": p} for p in MILVUS_NPROBES]
            for setting in settings:
                index.set_search_params(**setting)
                d, ids, seconds = timed_search(index, packed_q, args.k)
                recall, tie_aware = recalls(ids, d, exact_ids, exact_d, args.k)
                row = {**build_row, "backend_params": index.backend_params}
                row["backend_params"].pop("uri")
                row["backend_params"].pop("collection")
                row.update(_search_row(seconds, len(packed_q)))
                row.update(recall=round(float(recall), 4), tie_aware_recall=round(float(tie_aware), 4))
                if index.exact:
                    row["agrees_with_faiss"] = bool((ids == exact_ids).all() and (d == exact_d).all())
                rows.append({"backend": "milvus", **row})
                logger.info("%s milvus: %s", name, row)
            connect(uri).drop_collection(collection)
    return rows


def _wait_indexed_and_reload(uri, collection, n, timeout_s=3600):
    """Wait until Milvus has built the index of every flushed row, then release and load the
    collection, so the timed searches go through the index of every (sealed) segment.

    Milvus builds indexes in the background after a flush; until a segment's index is built and
    handed to the query node, the segment is searched by brute force (exact: a BIN_IVF_FLAT row
    timed then would read recall 1.0). Milvus Lite reports no indexed rows (it builds in-process):
    nothing to wait for.
    """
    if is_local(uri):
        return
    client = connect(uri)
    deadline = time.monotonic() + timeout_s
    while True:
        info = client.describe_index(collection, "code")
        if int(info.get("indexed_rows", 0)) >= n and int(info.get("pending_index_rows", 0)) == 0:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"Milvus indexed {info.get('indexed_rows')} of {n} rows in {timeout_s} s")
        time.sleep(1.0)
    client.release_collection(collection)
    client.load_collection(collection)


def _stored_bytes(uri, directory, server_data_dir):
    """Bytes stored: the Lite database directory, or a local server's binlogs and index files
    (under its storage directory: insert_log, stats_log, delta_log, index_files; not its WAL,
    rocksmq); None for a server without `--milvus-data-dir`."""
    if is_local(uri):
        return _tree_size(directory)
    if server_data_dir is None:
        return None
    parts = ("insert_log", "stats_log", "delta_log", "index_files")
    return sum(_tree_size(os.path.join(server_data_dir, part)) for part in parts)


def _tree_size(directory):
    return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(directory) for f in files)


def _search_row(seconds, nq):
    return {"search_s": round(seconds, 3), "timed_queries": nq, "ms_per_query": round(1000 * seconds / nq, 4)}


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("dmrh_tf").setLevel(logging.WARNING)  # no "saved index" lines
    if args.threads:
        # On a CPU shared with other busy processes, OpenMP threads wait for each other at every
        # barrier and 2 threads can be several times slower than 1: pin the count to compare.
        faiss.omp_set_num_threads(args.threads)
    facts = machine(faiss=faiss.__version__, faiss_threads=faiss.omp_get_max_threads())
    if args.milvus_uri and not args.no_milvus and not is_local(args.milvus_uri):
        facts["milvus_server"] = connect(args.milvus_uri).get_server_version()
    logger.info("machine: %s", facts)
    rng = np.random.default_rng(args.seed)
    centres = uniform_codes(rng, args.centres, args.bits)
    datasets = {
        "uniform": (uniform_codes(rng, args.n, args.bits), uniform_codes(rng, args.queries, args.bits)),
        "clustered": (
            clustered_codes(rng, centres, args.n, args.flip),
            clustered_codes(rng, centres, args.queries, args.flip),
        ),
    }
    results = {
        "machine": facts,
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "notes": (
            "search_s: seconds for timed_queries queries in one batch (ms_per_query = "
            "1000·search_s/timed_queries); uniform random codes are the worst case for "
            "faiss_ivf/faiss_mih, clustered codes resemble real hash codes"
        ),
        "results": {name: run_dataset(name, db, q, args) for name, (db, q) in datasets.items()},
    }
    # Other processes share the CPUs on some machines: the load shows how far to trust timings.
    results["machine"] = finish(facts)
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    logger.info("wrote %s", args.out)
    _print_table(results)


def _print_table(results):
    print(
        f"{'data':10} {'backend':10} {'params':28} {'build s':>8} {'ms/query':>9} "
        f"{'recall':>7} {'tie-rec':>7} {'file MB':>8} {'B/code':>7}"
    )
    for name, rows in results["results"].items():
        for row in rows:
            if "skipped" in row:
                print(
                    f"{name:10} {row['backend']:10} {row['backend_params']['index_type']:28} {row['skipped']}"
                )
                continue
            params = ",".join(f"{k}={v}" for k, v in row["backend_params"].items())
            size_mb = row.get("index_file_mb", row.get("disk_mb")) or 0
            print(
                f"{name:10} {row['backend']:10} {params:28} {row.get('build_s', row.get('insert_s')):8.2f} "
                f"{row['ms_per_query']:9.3f} {row.get('recall', 1.0):7.3f} "
                f"{row.get('tie_aware_recall', 1.0):7.3f} {size_mb:8.1f} "
                f"{row.get('bytes_per_code', 0):7.1f}"
            )


if __name__ == "__main__":
    main()
