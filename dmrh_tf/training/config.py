"""The one configuration of a DMRH run: defaults, presets and command-line overrides.

Precedence, lowest first: the dataclass defaults, a `--preset`, a `--config FILE` (JSON written by a
run or by the tuner), then individual flags. Unknown keys and flags fail with the list of valid ones.
"""

import argparse
import dataclasses
import json
import typing


@dataclasses.dataclass
class Config:
    # --- data ---
    dataset: str = "synthetic"  # built-in generated multi-label images: nothing to download
    data_dir: str | None = None  # where a real data set lives (or is downloaded to, for TFDS ones)
    train_size: int | None = 2000  # training images (= database); None = the whole split
    query_size: int | None = 500  # query images; None = the whole split
    seed: int = 0  # fixes data generation, splits, shuffling and initialisation
    splits_dir: str | None = None  # split lists (train.tsv, query.tsv…, e.g. a run's splits/) to reuse
    skip_corrupt: bool = True  # skip and count undecodable or missing images; False = fail on the first
    label_file: str | None = None  # folder data set: path → labels list (default data_dir/labels.csv)
    mosaic_base: str = "fashion_mnist"  # mosaic: the single-label data set its cells come from
    mosaic_grid: int = 2  # mosaic: g×g cells per image
    # --- model ---
    bits: int = 48  # code length K
    regions: int = 2  # region grid N: input side 192 + 32·N, N² region codes
    width: float = 0.25  # channel multiplier; 1.0 = the paper's CNN-F (widths < 1 are not the paper's)
    normalization: str = "batch"  # "batch" learns from scratch; "lrn" is CNN-F's (for pretrained weights)
    dropout: float = 0.5  # after conv6 and conv7, as CNN-F
    weighting: str = "magnitude"  # region fusion: the paper's mean (|u|-weighted signs), or "learned"
    pretrained: str | None = None  # path to MatConvNet imagenet-vgg-f.mat (needs normalization="lrn")
    # --- loss ---
    eta: float = 0.02  # weight of the quantization term (the paper's η)
    loss_mode: str = "memory"  # "memory": batch vs all n training codes (release); "batch": in-batch pairs
    # --- optimisation (from-scratch recipe; the `paper` preset has the paper's) ---
    optimizer: str = "sgd"  # "sgd" or "adam"
    learning_rate: float = 0.05  # peak learning rate, reached after the warm-up (measured: see README)
    momentum: float = 0.9  # SGD momentum (the paper: 0)
    weight_decay: float = 1e-5  # decoupled weight decay, the paper's 1e-5
    clipnorm: float | None = 1.0  # global gradient-norm clip over the global batch (the paper's 1)
    warmup_epochs: float = 0.3  # linear warm-up of the learning rate from 0, in epochs
    lr_decay_epochs: int | None = None  # multiply the lr by `lr_decay_factor` every this many epochs
    lr_decay_factor: float = 0.1  # the paper's step decay factor
    batch_size: int = 32  # global batch (split over the replicas); the paper's 32
    epochs: int = 3  # passes over the training split
    # --- run ---
    run_dir: str = "runs/dmrh"  # config, checkpoints, logs, history, model and results go here
    map_k: int = 5000  # K of mAP@K at the end of the run (capped at the database size)
    strategy: str = "auto"  # "auto": MultiWorkerMirrored under TF_CONFIG, else Mirrored; or "default"
    mixed_precision: str = "off"  # "off", "mixed_bfloat16" or "mixed_float16" (GPUs)
    jit_compile: bool = False  # XLA for the train step; off by default (slower to start on CPUs)
    steps_per_epoch: int | None = None  # None = one pass over the training split
    verbose: int = 1  # Keras progress bar per epoch (1), a line per epoch (2), silent (0)

    def validate(self):
        """Fail early, with what to do, on values the model or trainer would reject later."""
        choices = {
            "normalization": ("batch", "lrn"),
            "weighting": ("magnitude", "learned"),
            "loss_mode": ("memory", "batch"),
            "optimizer": ("sgd", "adam"),
            "strategy": ("auto", "default", "mirrored", "multi_worker"),
            "mixed_precision": ("off", "mixed_bfloat16", "mixed_float16"),
        }
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise ValueError(f"{key} must be one of {allowed}, got {getattr(self, key)!r}")
        if not 1 <= self.regions <= 10:
            raise ValueError(f"regions must be in 1..10, got {self.regions}")
        for key in ("bits", "batch_size", "epochs", "map_k"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.width <= 0 or self.learning_rate <= 0 or self.eta < 0:
            raise ValueError("width and learning_rate must be > 0 and eta >= 0")
        if self.pretrained and self.normalization != "lrn":
            raise ValueError(
                "pretrained CNN-F weights need normalization='lrn' (and width=1.0): "
                "pass --normalization lrn or use --preset paper"
            )
        return self

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)


PRESETS = {
    # The paper's recipe (slides / release): for ImageNet-pretrained CNN-F weights (--pretrained).
    # From scratch it does not learn (loss flat at ln 2): use the default recipe instead.
    "paper": dict(
        width=1.0,
        normalization="lrn",
        optimizer="sgd",
        learning_rate=0.1,
        momentum=0.0,
        weight_decay=1e-5,
        clipnorm=1.0,
        batch_size=32,
        epochs=9,
        lr_decay_epochs=3,
        warmup_epochs=0.0,
        train_size=None,
        query_size=None,
    ),
    # The whole pipeline on a laptop CPU in about a minute.
    "smoke": dict(
        dataset="synthetic",
        train_size=256,
        query_size=64,
        bits=16,
        regions=1,
        width=0.125,
        batch_size=32,
        epochs=2,
        run_dir="runs/smoke",
    ),
}


def _field_types():
    return typing.get_type_hints(Config)


def _parse_value(key, text):
    """Convert a CLI string to the type of the `key` field (None/none/null for optional fields)."""
    hint = _field_types()[key]
    args = typing.get_args(hint)
    optional = type(None) in args
    base = next((a for a in args if a is not type(None)), hint)
    if optional and text.lower() in ("none", "null"):
        return None
    if base is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"--{key} expects true/false, got {text!r}")
    return base(text)


def merge(config, overrides, source):
    """A copy of `config` with `overrides` applied; unknown keys fail, naming `source`."""
    names = {f.name for f in dataclasses.fields(Config)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ValueError(f"unknown config keys {unknown} in {source}; valid keys: {sorted(names)}")
    return dataclasses.replace(config, **overrides)


def load_config_file(path):
    """The key → value dict of a JSON config file written by a run or by the tuner."""
    with open(path) as f:
        values = json.load(f)
    if not isinstance(values, dict):
        raise ValueError(f"{path} must hold a JSON object of config keys")
    return values


def parse_args(argv=None, description=None):
    """Resolve a `Config` from the command line: defaults < --preset < --config < flags."""
    parser = argparse.ArgumentParser(
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,  # a misspelt flag must fail, not silently match another
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), help="a named set of overrides")
    parser.add_argument("--config", help="JSON config file (from a run or the tuner)")
    defaults = Config()
    for field in dataclasses.fields(Config):
        parser.add_argument(
            f"--{field.name.replace('_', '-')}",
            dest=field.name,
            default=argparse.SUPPRESS,
            help=f"(default {getattr(defaults, field.name)!r})",
            metavar=field.name.upper(),
        )
    args = parser.parse_args(argv)  # unknown flags exit with an error listing the valid ones
    config = Config()
    if args.preset:
        config = merge(config, PRESETS[args.preset], f"preset {args.preset!r}")
    if args.config:
        config = merge(config, load_config_file(args.config), args.config)
    flags = {k: v for k, v in vars(args).items() if k not in ("preset", "config")}
    try:
        flags = {k: _parse_value(k, v) for k, v in flags.items()}
    except ValueError as error:
        parser.error(str(error))
    return merge(config, flags, "command-line flags").validate()
