"""The search space: which `Config` fields are tuned, over what ranges, and how trials map onto `Config`.

Every hyper-parameter is named after the `Config` field it sets, so a trial's values apply to the
training config key for key (KerasTuner's own `tuner/…` bookkeeping values are skipped):

- `eta`: log-uniform in `eta_range` (the paper's quantization weight η), for DMRH; another
  `--method` searches its own main hyper-parameters instead (`method_ranges`, declared beside its
  defaults in `dmrh_tf/training/method_registry.py`), each log-uniform;
- `regions`: one of `regions_choices` (the region grid N; input side 192 + 32·N);
- `bits`: one of `bits_choices`, tuned only when more than one is given (code length K);
- `learning_rate`: log-uniform in `learning_rate_range`, tuned only when a range is given.
"""

import dataclasses

from dmrh_tf.training.config import Config, merge

__all__ = ["SearchSpace", "config_for", "parse_choices", "parse_range"]


def parse_range(text):
    """`"LOW,HIGH"` → (LOW, HIGH) floats with 0 < LOW < HIGH (a log-uniform range)."""
    parts = [p for p in text.split(",") if p.strip()]
    if len(parts) != 2:
        raise ValueError(f"a range is LOW,HIGH, got {text!r}")
    low, high = (float(p) for p in parts)
    if not 0 < low < high:
        raise ValueError(f"a log-uniform range needs 0 < LOW < HIGH, got {text!r}")
    return low, high


def parse_choices(text):
    """`"1,2,3"` → (1, 2, 3): distinct positive integers, in the order given."""
    values = tuple(int(p) for p in text.split(",") if p.strip())
    if not values or min(values) < 1 or len(set(values)) != len(values):
        raise ValueError(f"choices are distinct positive integers A,B,…, got {text!r}")
    return values


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """The ranges and choices searched; anything not tuned keeps the base config's value."""

    eta_range: tuple = (1e-3, 1.0)  # the range for η, searched log-uniformly
    regions_choices: tuple = (1, 2, 3)  # N; memory and time grow with (192 + 32·N)²
    bits_choices: tuple | None = None  # K; None (or one value) = keep the base config's bits
    learning_rate_range: tuple | None = None  # None = keep the base config's learning rate
    method_ranges: tuple | None = None  # ((field, low, high), …) in place of η; None = η (DMRH)

    def __post_init__(self):
        if not 0 < self.eta_range[0] < self.eta_range[1]:
            raise ValueError(f"eta_range must satisfy 0 < low < high, got {self.eta_range}")
        if not self.regions_choices or not all(1 <= n <= 10 for n in self.regions_choices):
            raise ValueError(f"regions_choices must be in 1..10, got {self.regions_choices}")
        lr = self.learning_rate_range
        if lr and not 0 < lr[0] < lr[1]:
            raise ValueError(f"learning_rate_range must satisfy 0 < low < high, got {lr}")
        for name, low, high in self.method_ranges or ():
            if not 0 < low < high:
                raise ValueError(f"the range of {name} must satisfy 0 < low < high, got {(low, high)}")

    @classmethod
    def for_method(cls, method, **kwargs):
        """The space of `method`: its declared ranges in place of η (DMRH keeps `eta_range`)."""
        from dmrh_tf.training.method_registry import method_spec

        if method == "dmrh":
            return cls(**kwargs)
        return cls(method_ranges=method_spec(method).search_space, **kwargs)

    def _ranges(self):
        ranges = self.method_ranges if self.method_ranges is not None else (("eta", *self.eta_range),)
        if self.learning_rate_range:
            ranges = tuple(r for r in ranges if r[0] != "learning_rate")
        return ranges

    def declare(self, hp):
        """Declare the hyper-parameters on `hp` (idempotent) and return their current values."""
        values = {name: hp.Float(name, low, high, sampling="log") for name, low, high in self._ranges()}
        values["regions"] = hp.Choice("regions", list(self.regions_choices))
        if self.bits_choices and len(self.bits_choices) > 1:
            values["bits"] = hp.Choice("bits", list(self.bits_choices))
        if self.learning_rate_range:
            values["learning_rate"] = hp.Float("learning_rate", *self.learning_rate_range, sampling="log")
        return values

    def names(self):
        """The tuned `Config` fields, in declaration order."""
        names = [name for name, _, _ in self._ranges()] + ["regions"]
        if self.bits_choices and len(self.bits_choices) > 1:
            names.append("bits")
        if self.learning_rate_range:
            names.append("learning_rate")
        return names


def config_for(base, values):
    """`base` (a `Config`) with a trial's hyper-parameter `values` applied (non-`Config` keys skipped)."""
    fields = {f.name for f in dataclasses.fields(Config)}
    overrides = {k: v for k, v in values.items() if k in fields}
    if "regions" in overrides:
        overrides["regions"] = int(overrides["regions"])
    if "bits" in overrides:
        overrides["bits"] = int(overrides["bits"])
    return merge(base, overrides, "the trial's hyper-parameters").validate()
