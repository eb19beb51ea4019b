"""Every `--method`: its loss from the `Config`, its training procedure and its tuned hyper-parameters.

Each method's settings are `Config` fields with its authors' defaults (`dmrh_tf/training/config.py`);
`search_space` names the main ones `python -m tuning.search --method NAME` searches, as
(field, low, high) log-uniform ranges. docs/methods.md describes each method.
"""

import dataclasses
from collections.abc import Callable

from dmrh_tf.methods import ADSHLoss, DCHLoss, DDSHLoss, DMRHLoss, DSDHLoss, DSHLoss
from dmrh_tf.training.config import METHODS
from dmrh_tf.training.procedures import ADSHProcedure, DDSHProcedure, Procedure


@dataclasses.dataclass(frozen=True)
class MethodSpec:
    display_name: str  # as in the paper's tables
    build_loss: Callable  # (config, n training images) -> HashingLoss
    search_space: tuple  # ((Config field, low, high), …), searched log-uniformly
    procedure: Procedure  # how it trains beyond the shared train_step
    reference: str  # the paper


def _dmrh(config, n):
    return DMRHLoss(config.eta, config.loss_mode)


def _dpsh(config, n):
    """DPSH is DMRH's loss with N = 1 in the authors' units: η (mean form) = λ·K/n."""
    return DMRHLoss(config.dpsh_lambda * config.bits / n, "memory", name="dpsh_loss")


def _dsh(config, n):
    return DSHLoss(margin=config.dsh_margin, alpha=config.dsh_alpha)


def _dsdh(config, n):
    return DSDHLoss(eta=config.dsdh_eta, nu=config.dsdh_nu, sweeps=config.dsdh_sweeps)


def _dch(config, n):
    return DCHLoss(
        gamma=config.dch_gamma, quantization_weight=config.dch_lambda, distance=config.dch_distance
    )


def _ddsh(config, n):
    return DDSHLoss()


def _adsh(config, n):
    return ADSHLoss(gamma=config.adsh_gamma)


SHARED = Procedure()

METHOD_SPECS = {
    "dmrh": MethodSpec("DMRH", _dmrh, (("eta", 1e-3, 1.0),), SHARED, "Zhou et al., ICASSP 2020"),
    "dpsh": MethodSpec("DPSH", _dpsh, (("dpsh_lambda", 0.1, 100.0),), SHARED, "Li et al., IJCAI 2016"),
    "dsh": MethodSpec("DSH", _dsh, (("dsh_alpha", 1e-3, 0.1),), SHARED, "Liu et al., CVPR 2016"),
    "dsdh": MethodSpec(
        "DSDH", _dsdh, (("dsdh_eta", 1.0, 200.0), ("dsdh_nu", 1e-2, 10.0)), SHARED, "Li et al., NeurIPS 2017"
    ),
    "dch": MethodSpec(
        "DCH", _dch, (("dch_gamma", 2.0, 60.0), ("dch_lambda", 1e-2, 1.0)), SHARED, "Cao et al., CVPR 2018"
    ),
    # DDSH has no weight to tune (its loss is a fit to K·S̃): its learning rate instead
    "ddsh": MethodSpec(
        "DDSH", _ddsh, (("learning_rate", 1e-3, 0.1),), DDSHProcedure(), "Jiang, Cui & Li, TIP 2018"
    ),
    "adsh": MethodSpec(
        "ADSH", _adsh, (("adsh_gamma", 10.0, 1000.0),), ADSHProcedure(), "Jiang & Li, AAAI 2018"
    ),
}
assert tuple(METHOD_SPECS) == METHODS, "config.METHODS and the registry must list the same methods"


def method_spec(name):
    if name not in METHOD_SPECS:
        raise ValueError(f"unknown method {name!r}; choose from {sorted(METHOD_SPECS)}")
    return METHOD_SPECS[name]
