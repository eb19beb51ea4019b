"""`python -m dmrh_tf.index build|query`: index image files with a trained model, then search.

    python -m dmrh_tf.index build --model runs/dmrh --images photos/ --out photos.index
    python -m dmrh_tf.index query --index photos.index --model runs/dmrh query.jpg -k 10

    # Milvus: a local file (Milvus Lite) or http://host:19530; the build resumes if rerun.
    python -m dmrh_tf.index build --model runs/dmrh --images photos/ --backend milvus \\
        --uri photos.db --collection photos
    python -m dmrh_tf.index query --uri photos.db --collection photos \\
        --serving-target localhost:8500 query.jpg -k 10

`build` encodes every image (progress bar on stderr) and writes the index with its id → path table
and the model's fingerprint; with `--backend milvus` it inserts into the collection in batches
instead, skipping images already there. `query` gets the query codes from a model file or from a
server (`--serving-target`, TF Serving or `serving.server`, no model loaded here), refuses a model
other than the index's, then prints, for each query image, a `# QUERY` line followed by
`rank<TAB>distance<TAB>path` lines, nearest first (ties in database order). Status goes to the log
(stderr); results to stdout.
"""

import argparse
import logging
import sys

import grpc

from dmrh_tf.index.backends import BACKENDS, get_backend
from dmrh_tf.index.backends.milvus_backend import INDEX_TYPES, MilvusBackend
from dmrh_tf.index.hamming_index import HammingIndex
from dmrh_tf.index.image_encoder import ImageEncoder
from dmrh_tf.index.image_files import check_files, list_images
from dmrh_tf.index.image_index import build_index, query_index
from dmrh_tf.index.image_ingest import ingest_images
from dmrh_tf.index.serving_encoder import ServingEncoder
from serving import contract
from serving.client import HashingClient

logger = logging.getLogger(__name__)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m dmrh_tf.index", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build", help="encode images and write an index")
    build.add_argument("--model", required=True, help="run directory or .keras model file")
    build.add_argument("--images", required=True, help="directory of images or list file (one path a line)")
    build.add_argument(
        "--out", help="index file to write (replaced atomically); optional with --backend milvus"
    )
    build.add_argument(
        "--backend",
        default="faiss",
        choices=sorted(BACKENDS),
        help="search backend (default: %(default)s, exact)",
    )
    build.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=INT",
        help="backend parameter, e.g. nprobe=64 (repeatable)",
    )
    build.add_argument("--batch-size", type=int, default=64, help="images per model call")
    _add_milvus_args(build)
    build.add_argument(
        "--index-type",
        default="BIN_FLAT",
        choices=INDEX_TYPES,
        help="Milvus index (default: %(default)s, exact; BIN_IVF_FLAT needs a Milvus server)",
    )
    build.add_argument(
        "--insert-batch",
        type=int,
        default=1024,
        help="Milvus: images encoded and inserted per step, what a rerun resumes from (default: %(default)s)",
    )

    query = commands.add_parser("query", help="print the nearest indexed images of query images")
    query.add_argument("--index", help="index file written by `build` (or --uri and --collection)")
    _add_milvus_args(query)
    encoder = query.add_mutually_exclusive_group(required=True)
    encoder.add_argument("--model", help="the run directory or .keras file the index was built with")
    encoder.add_argument(
        "--serving-target",
        metavar="HOST:PORT",
        help="hash the queries on this TF Serving (or serving.server) gRPC address instead of a model",
    )
    query.add_argument(
        "--model-name",
        default=contract.DEFAULT_MODEL_NAME,
        help="served model name (default: %(default)s)",
    )
    query.add_argument("--model-version", type=int, help="pin a served version (default: the latest)")
    query.add_argument(
        "--param", action="append", default=[], metavar="KEY=INT", help="search parameter, e.g. nprobe=64"
    )
    query.add_argument("images", nargs="+", metavar="IMAGE", help="query image files")
    query.add_argument("-k", type=int, default=10, help="neighbours per query (default: %(default)s)")
    query.add_argument("--batch-size", type=int, default=64, help="images per model call or request")
    return parser.parse_args(argv)


def _add_milvus_args(parser):
    parser.add_argument(
        "--uri", help="Milvus: a local .db file (Milvus Lite) or http://host:19530 (token: $MILVUS_TOKEN)"
    )
    parser.add_argument("--collection", help="Milvus collection name")


def parse_params(items):
    """`["nprobe=64", "nlist=none"]` → `{"nprobe": 64, "nlist": None}`."""
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--param takes KEY=VALUE, got {item!r}")
        try:
            params[key] = None if value.lower() == "none" else int(value)
        except ValueError:
            raise ValueError(f"--param {key} must be an integer or none, got {value!r}") from None
    return params


def milvus_params(args):
    """`uri` and `collection` from the flags (ValueError unless both are given)."""
    if not (args.uri and args.collection):
        raise ValueError("the milvus backend needs --uri and --collection")
    return {"uri": args.uri, "collection": args.collection}


def run_build(args):
    paths = list_images(args.images)
    params = parse_params(args.param)
    if not get_backend(args.backend).holds_rows:
        if not args.out:
            raise ValueError(f"backend {args.backend!r} writes an index file: give --out")
        encoder = ImageEncoder.from_path(args.model, batch_size=args.batch_size)
        index = build_index(
            encoder.database, paths, model=encoder.fingerprint, backend=args.backend, **params
        )
        index.save(args.out)
        logger.info("indexed %d images with %d-bit codes in %s", len(index), index.bits, args.out)
        return
    params.update(milvus_params(args), index_type=args.index_type)
    encoder = ImageEncoder.from_path(args.model, batch_size=args.batch_size, progress=False)
    index = HammingIndex(encoder.bits, args.backend, metadata={"model": encoder.fingerprint}, **params)
    ingest_images(index, encoder.database, paths, model=encoder.fingerprint, batch_size=args.insert_batch)
    if args.out:
        index.save(args.out)
    logger.info("%d images with %d-bit codes in %s", len(index), index.bits, args.collection)


def open_index(args):
    """The index of `--index FILE`, or of the Milvus collection `--uri`/`--collection`."""
    if args.index:
        if args.uri or args.collection:
            raise ValueError("give either --index or --uri and --collection, not both")
        return HammingIndex.load(args.index)
    if not (args.uri or args.collection):
        raise ValueError("give the index: --index FILE, or --uri and --collection for Milvus")
    return HammingIndex.connect(MilvusBackend.name, **milvus_params(args))


def run_query(args, out=None):
    out = out or sys.stdout
    check_files(args.images)
    index = open_index(args)
    index.set_search_params(**parse_params(args.param))
    if args.serving_target:
        client = HashingClient(
            args.serving_target, args.model_name, version=args.model_version, batch_size=args.batch_size
        )
        encoder = ServingEncoder(client)
    else:
        client = None
        encoder = ImageEncoder.from_path(args.model, batch_size=args.batch_size, progress=False)
    try:
        results = query_index(index, encoder, args.images, args.k, model=encoder.fingerprint)
    finally:
        if client is not None:
            client.close()
    for path, neighbours in zip(args.images, results, strict=True):
        print(f"# {path}", file=out)
        for rank, neighbour in enumerate(neighbours, start=1):
            print(f"{rank}\t{neighbour.distance}\t{neighbour.path}", file=out)


def main(argv=None):
    """Run the CLI; returns the exit status (0, or 1 with the error logged)."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "build":
            run_build(args)
        else:
            run_query(args)
    except (ValueError, FileNotFoundError) as error:
        logger.error("%s", error)
        return 1
    except grpc.RpcError as error:
        logger.error("the hashing server answered %s: %s", error.code().name, error.details())
        return 1
    return 0
