"""The one configuration of a DMRH run: defaults, presets and command-line overrides.

Precedence, lowest first: the dataclass defaults, a `--preset`, a `--config FILE` (JSON written by a
run or by the tuner), then individual flags. Unknown keys and flags fail with the list of valid ones.
"""

import argparse
import dataclasses
import json
import typing

# dmrh, and the paper's deep baselines (docs/methods.md)
METHODS = ("dmrh", "dpsh", "dsh", "dsdh", "dch", "ddsh", "adsh")
# Methods whose papers use one region (plain CNN-F at 224 px): N = 1 unless `regions` is given.
SINGLE_REGION_METHODS = tuple(m for m in METHODS if m != "dmrh")


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
    regions: int = 2  # region grid N: input side 192 + 32·N, N² region codes (other methods: 1 by default)
    width: float = 0.25  # channel multiplier; 1.0 = the paper's CNN-F (widths < 1 are not the paper's)
    normalization: str = "batch"  # "batch" learns from scratch; "lrn" is CNN-F's (for pretrained weights)
    dropout: float = 0.5  # after conv6 and conv7, as CNN-F
    weighting: str = "magnitude"  # region fusion: the paper's mean (|u|-weighted signs), or "learned"
    pretrained: str | None = None  # path to MatConvNet imagenet-vgg-f.mat (needs normalization="lrn")
    # --- method (docs/methods.md; each method's settings below are its authors' defaults) ---
    method: str = "dmrh"  # dmrh, or a deep baseline (dpsh dsh dsdh dch ddsh adsh) at N = 1 by default
    # --- loss (DMRH) ---
    eta: float = 0.02  # weight of the quantization term (the paper's η)
    loss_mode: str = "memory"  # "memory": batch vs all n training codes (release); "batch": in-batch pairs
    memory_init: str = "zeros"  # memory start: "zeros" (release) or "network" (untrained net's h; a pass)
    # --- DPSH (Li et al., IJCAI 2016) ---
    dpsh_lambda: float = 10.0  # λ of the authors' sum/(n·B) loss (demo); our mean-form η = λ·K/n
    # --- DSH (Liu et al., CVPR 2016) ---
    dsh_margin: float | None = None  # m of the hinge on squared distances; None = 2·K, the authors'
    dsh_alpha: float = 0.01  # weight of the ‖|h| − 1‖₁ regulariser (the authors' `tradeoff`)
    # --- DSDH (Li et al., NeurIPS 2017; the authors' per-batch W- and B-steps) ---
    dsdh_eta: float = 55.0  # η of the B-step (authors' main.m); the loss weight is α = η·K/(2n)
    dsdh_nu: float = 0.1  # ν/μ, the ridge of the W-step (authors: 0.1 with μ = 1)
    dsdh_sweeps: int = 10  # DCC sweeps over the bits in each B-step (authors: at most 10)
    # --- DCH (Cao et al., CVPR 2018) ---
    dch_gamma: float = 20.0  # Cauchy scale γ: a pair's probability is ½ at distance γ
    dch_lambda: float = 0.1  # weight of the Cauchy quantization term
    dch_distance: str = "cosine"  # the paper's (K/2)(1 − cos), or "euclidean_tanh" (official code)
    # --- DDSH (Jiang et al., TIP 2018): each epoch is one (Ω-step, pass over the data) iteration ---
    ddsh_omega: int = 100  # |Ω|, the sampled points whose codes are solved discretely (authors: 100)
    ddsh_iterations: int = 3  # epochs per Ω sample (authors: 3; 150 epochs = 50 samples in all)
    # --- ADSH (Jiang & Li, AAAI 2018): each epoch is one outer iteration ---
    adsh_gamma: float = 200.0  # γ, weight of ‖v_i − u_i‖² tying the network to the database codes
    adsh_omega: int = 2000  # |Ω|, the images sampled per outer iteration (authors: 2000)
    adsh_inner_epochs: int = 3  # passes over Ω per outer iteration, then one V-step (authors: 3)
    # --- optimisation (from-scratch recipe; the `paper` preset has the paper's) ---
    optimizer: str = "sgd"  # "sgd" or "adam"
    learning_rate: float = 0.05  # peak learning rate, reached after the warm-up (measured: see README)
    momentum: float = 0.9  # SGD momentum (the paper: 0)
    weight_decay: float = 1e-5  # decoupled weight decay, the paper's 1e-5
    clipnorm: float | None = 1.0  # global gradient-norm clip over the global batch (the paper's 1)
    warmup_epochs: float = 0.3  # linear warm-up of the learning rate from 0, in epochs
    lr_schedule: str = "step"  # after the warm-up: "step" (lr_decay_*, off by default) or "cosine" to 0
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
            "memory_init": ("zeros", "network"),
            "method": METHODS,
            "dch_distance": ("cosine", "euclidean_tanh"),
            "optimizer": ("sgd", "adam"),
            "lr_schedule": ("step", "cosine"),
            "strategy": ("auto", "default", "mirrored", "multi_worker"),
            "mixed_precision": ("off", "mixed_bfloat16", "mixed_float16"),
        }
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise ValueError(f"{key} must be one of {allowed}, got {getattr(self, key)!r}")
        if not 1 <= self.regions <= 10:
            raise ValueError(f"regions must be in 1..10, got {self.regions}")
        for key in ("bits", "batch_size", "epochs", "map_k", "dsdh_sweeps", "ddsh_omega", "ddsh_iterations"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.width <= 0 or self.learning_rate <= 0 or self.eta < 0:
            raise ValueError("width and learning_rate must be > 0 and eta >= 0")
        for key in ("adsh_omega", "adsh_inner_epochs"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}")
        weights = ("dpsh_lambda", "dsh_alpha", "dsdh_eta", "dsdh_nu", "dch_lambda", "adsh_gamma")
        for key in weights:
            if getattr(self, key) < 0:
                raise ValueError(f"{key} must be >= 0, got {getattr(self, key)}")
        if self.dch_gamma <= 0 or (self.dsh_margin is not None and self.dsh_margin <= 0):
            raise ValueError("dch_gamma and dsh_margin must be > 0")
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
    # Quality within an hour on 2 CPU cores (issue #14; each choice's ablation: docs/results.md,
    # "Time to quality"). Not the paper's: a quarter-width network, one region, Adam, no dropout.
    "cpu": dict(
        width=0.25,  # width 0.125 plateaus near mAP 0.73 on Fashion-MNIST
        regions=1,  # N = 1: 224 px, 1.4× the images/s of N = 2 (256 px) at equal minutes
        dropout=0.0,  # dropout 0.5 slows the first epochs
        optimizer="adam",  # SGD's likelihood stays near ln 2 for the first epochs from scratch
        learning_rate=1e-3,
        lr_schedule="cosine",
        epochs=5,  # ≈ 8.5 min an epoch of 60,000 images on 2 AVX2 cores, plus ≈ 4 min evaluation
        train_size=None,
        query_size=None,
        run_dir="runs/cpu",
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


def field_comments():
    """Each field's comment in the `Config` source (its meaning and why its default), for `--help`."""
    import inspect

    comments = {}
    for line in inspect.getsource(Config).splitlines():
        name, colon, rest = line.strip().partition(":")
        if colon and name.isidentifier() and "#" in rest:
            comments[name] = rest.split("#", 1)[1].strip()
    return comments


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
    comments = field_comments()
    for field in dataclasses.fields(Config):
        default = getattr(defaults, field.name)
        parser.add_argument(
            f"--{field.name.replace('_', '-')}",
            dest=field.name,
            default=argparse.SUPPRESS,
            help=f"{comments.get(field.name, '')} (default {default!r})".replace("%", "%%"),
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
    config = merge(config, flags, "command-line flags")
    regions_given = "regions" in flags or (args.config and "regions" in load_config_file(args.config))
    regions_given = regions_given or (args.preset and "regions" in PRESETS[args.preset])
    if config.method in SINGLE_REGION_METHODS and not regions_given:
        config = dataclasses.replace(config, regions=1)  # the baselines' papers: plain CNN-F
    return config.validate()
