"""Training machinery: the run's configuration, the trainer, distribution and the run directory.

- `config`: the one `Config` dataclass, its presets and the command-line parser.
- `hashing_trainer`: `HashingTrainer`, the Keras model whose `train_step` applies a method's loss over the
  global batch; `methods_registry` and `procedures`: how each `--method` is built and trained.
- `distribution`, `multi_worker`: the `tf.distribute` strategy, and the custom loop for multi-worker runs.
- `callbacks`, `learning_rate_schedule`: the NaN stop and the warm-up + step-decay schedule.
- `run_dir`: what a run writes to its directory, and `load_run` to read it back.

Only the TensorFlow-free parts are imported here, so `import dmrh_tf` works on any Keras backend.
"""

from dmrh_tf.training.config import PRESETS, Config, parse_args
from dmrh_tf.training.learning_rate_schedule import WarmupStepDecay
from dmrh_tf.training.run_dir import load_run

__all__ = ["PRESETS", "Config", "WarmupStepDecay", "load_run", "parse_args"]
