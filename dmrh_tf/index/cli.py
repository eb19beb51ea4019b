"""`python -m dmrh_tf.index build|query`: index image files with a trained model, then search.

    python -m dmrh_tf.index build --model runs/dmrh --images photos/ --out photos.index
    python -m dmrh_tf.index query --index photos.index --model runs/dmrh query.jpg -k 10

`build` encodes every image (progress bar on stderr) and writes the index with its id → path table
and the model's fingerprint. `query` refuses a model other than the index's, then prints, for each
query image, a `# QUERY` line followed by `rank<TAB>distance<TAB>path` lines, nearest first (ties
in database order). Status goes to the log (stderr); results to stdout.
"""

import argparse
import logging
import sys

from dmrh_tf.index.backends import BACKENDS
from dmrh_tf.index.hamming_index import HammingIndex
from dmrh_tf.index.image_encoder import ImageEncoder
from dmrh_tf.index.image_files import check_files, list_images
from dmrh_tf.index.image_index import build_index, query_index

logger = logging.getLogger(__name__)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m dmrh_tf.index", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build", help="encode images and write an index")
    build.add_argument("--model", required=True, help="run directory or .keras model file")
    build.add_argument("--images", required=True, help="directory of images or list file (one path a line)")
    build.add_argument("--out", required=True, help="index file to write (replaced atomically)")
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

    query = commands.add_parser("query", help="print the nearest indexed images of query images")
    query.add_argument("--index", required=True, help="index file written by `build`")
    query.add_argument(
        "--model", required=True, help="the run directory or .keras file the index was built with"
    )
    query.add_argument("images", nargs="+", metavar="IMAGE", help="query image files")
    query.add_argument("-k", type=int, default=10, help="neighbours per query (default: %(default)s)")
    query.add_argument("--batch-size", type=int, default=64, help="images per model call")
    return parser.parse_args(argv)


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


def run_build(args):
    paths = list_images(args.images)
    encoder = ImageEncoder.from_path(args.model, batch_size=args.batch_size)
    index = build_index(
        encoder, paths, model=encoder.fingerprint, backend=args.backend, **parse_params(args.param)
    )
    index.save(args.out)
    logger.info("indexed %d images with %d-bit codes in %s", len(index), index.bits, args.out)


def run_query(args, out=None):
    out = out or sys.stdout
    check_files(args.images)
    index = HammingIndex.load(args.index)
    encoder = ImageEncoder.from_path(args.model, batch_size=args.batch_size, progress=False)
    results = query_index(index, encoder, args.images, args.k, model=encoder.fingerprint)
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
    return 0
