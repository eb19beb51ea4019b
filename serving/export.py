"""Export a training run for TF Serving: `BASE/NAME/<version>/`, written atomically.

    python -m serving.export --run-dir runs/smoke --model-base-path models --model-name dmrh

The version directory holds a SavedModel with three signatures (see `serving.contract`):
`serving_default` (uint8 images of any size), `hash_bytes` (encoded JPEG/PNG/GIF/BMP strings) and
`metadata`; `assets.extra/tf_serving_warmup_requests` (TF Serving's warm-up file) and
`assets.extra/dmrh_config.json` (the run's config, the code length, the input side, the pixel limit).

`--max-pixels` (default 16,777,216 = 4096²) is the largest image, H × W, the graph accepts: larger
ones (decompression bombs, hollow tensors) fail with INVALID_ARGUMENT before they are decoded.

The export is written to a temporary directory inside `BASE/NAME` whose name is not an integer
(so neither TF Serving nor the local server considers it) and renamed to `<version>` only when
complete: a server polling the base path never sees a half-written version.
"""

import argparse
import dataclasses
import json
import logging
import os
import shutil
import tempfile

import keras
import tensorflow as tf

from dmrh_tf.model.space_to_depth_conv2d import blocked_convolutions
from serving import contract
from serving.image_limits import DEFAULT_MAX_PIXELS
from serving.serving_graph import ServingGraph
from serving.versions import list_versions, next_version
from serving.warmup import warmup_requests, write_warmup

log = logging.getLogger(__name__)


def _config_dict(config):
    if dataclasses.is_dataclass(config):
        return dataclasses.asdict(config)
    return dict(config or {})


# Config fields that hold file-system paths: the served config (the `metadata` signature, readable
# by every client) leaves them out, with any other value that looks like a path.
PATH_FIELDS = ("data_dir", "splits_dir", "label_file", "pretrained", "run_dir")


def _looks_like_path(value):
    return isinstance(value, str) and ("/" in value or "\\" in value or value.startswith("~"))


def served_config(config_dict):
    """The run's config as clients may read it: without paths on the training machine."""
    return {
        key: value
        for key, value in config_dict.items()
        if key not in PATH_FIELDS and not _looks_like_path(value)
    }


def _export_facts(graph, config_dict, fingerprint, version):
    """What `assets.extra/dmrh_config.json` records: the run's config, the model, the contract."""
    hashing = {"outputs": list(contract.HASH_OUTPUTS)}
    return {
        "config": config_dict,
        "model_fingerprint": fingerprint,
        "bits": graph.bits,
        "regions": graph.regions,
        "input_side": graph.side,
        "max_pixels": graph.max_pixels,
        "version": version,
        "signatures": {
            contract.IMAGES_SIGNATURE: {"inputs": [contract.IMAGES_INPUT], **hashing},
            contract.BYTES_SIGNATURE: {"inputs": [contract.BYTES_INPUT], **hashing},
            contract.METADATA_SIGNATURE: {
                "inputs": [contract.METADATA_INPUT],
                "outputs": list(contract.METADATA_OUTPUTS),
            },
        },
        "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__,
    }


def write_saved_model(
    model,
    config,
    path,
    model_name=contract.DEFAULT_MODEL_NAME,
    version=None,
    max_pixels=DEFAULT_MAX_PIXELS,
):
    """Write the SavedModel of `model` (with its warm-up requests and config) to the new dir `path`."""
    from dmrh_tf.index import model_fingerprint

    config_dict = _config_dict(config)
    fingerprint = model_fingerprint(model)
    graph = ServingGraph(
        model,
        json.dumps(served_config(config_dict), sort_keys=True),
        fingerprint["weights_sha256"],
        max_pixels=max_pixels,
    )
    archive = keras.export.ExportArchive()
    archive.track(model)
    # conv1's blocked form: the serving host may run TF's own kernels (blocked_convolutions)
    with blocked_convolutions():
        for name, function, signature in graph.input_signatures():
            archive.add_endpoint(name, function, input_signature=signature)
        archive.write_out(path, verbose=False)
    write_warmup(path, warmup_requests(model_name, graph.side))
    facts = _export_facts(graph, config_dict, fingerprint, version)
    with open(os.path.join(path, contract.ASSETS_EXTRA_DIR, contract.CONFIG_FILE), "w") as f:
        json.dump(facts, f, indent=2, sort_keys=True)
    return facts


def export_model(
    model,
    config,
    model_base_path,
    model_name=contract.DEFAULT_MODEL_NAME,
    version=None,
    max_pixels=DEFAULT_MAX_PIXELS,
):
    """Export `model` to `model_base_path/model_name/<version>` atomically; return that path.

    `version` defaults to one more than the highest existing version. An existing version is
    never overwritten (FileExistsError): TF Serving may be serving it. `max_pixels` is the largest
    image (H × W) the served graph accepts.
    """
    model_dir = os.path.join(model_base_path, model_name)
    os.makedirs(model_dir, exist_ok=True)
    if version is None:
        version = next_version(model_dir)
    version = int(version)
    if version < 0:
        raise ValueError(f"version must be >= 0, got {version}")
    final = os.path.join(model_dir, str(version))
    if os.path.exists(final):
        raise FileExistsError(
            f"{final} already exists (versions {list_versions(model_dir)}); "
            "omit --version to export the next one"
        )
    # Not an integer name: invisible to servers polling model_dir until the rename.
    staging = tempfile.mkdtemp(prefix=f".export-{version}-", dir=model_dir)
    try:
        saved_model = os.path.join(staging, "saved_model")
        write_saved_model(
            model, config, saved_model, model_name=model_name, version=version, max_pixels=max_pixels
        )
        os.chmod(saved_model, 0o755)
        os.rename(saved_model, final)  # atomic on one file system; fails if `final` appeared meanwhile
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("exported version %d of %r to %s", version, model_name, final)
    return final


def export_run(
    run_dir,
    model_base_path,
    model_name=contract.DEFAULT_MODEL_NAME,
    version=None,
    max_pixels=DEFAULT_MAX_PIXELS,
):
    """Export the trained model of the run in `run_dir` (see `export_model`); return the path."""
    from dmrh_tf.training.run_dir import load_run

    model, config = load_run(run_dir)
    return export_model(
        model, config, model_base_path, model_name=model_name, version=version, max_pixels=max_pixels
    )


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Export a dmrh_tf run for TF Serving (prints the version directory).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--run-dir", required=True, help="training run directory (config.json, model.keras)")
    parser.add_argument("--model-base-path", required=True, help="the directory holding one dir per model")
    parser.add_argument(
        "--model-name", default=contract.DEFAULT_MODEL_NAME, help="model name (sub-directory)"
    )
    parser.add_argument("--version", type=int, default=None, help="version number (default: the next one)")
    parser.add_argument(
        "--max-pixels",
        type=_positive_int,
        default=DEFAULT_MAX_PIXELS,
        help="largest image (height × width) the served graph accepts; larger ones get INVALID_ARGUMENT",
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    path = export_run(
        args.run_dir, args.model_base_path, args.model_name, args.version, max_pixels=args.max_pixels
    )
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
