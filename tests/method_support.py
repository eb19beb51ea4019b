"""Shared helpers of the per-method loss tests (a module, not tests: the test_method_* import it).

`run_without_tensorflow` runs a piece of a test on JAX in a fresh process where TensorFlow cannot
be imported, as on a machine without it: the losses must be keras.ops only, and a stray `import
tensorflow` (or a TensorFlow op) there fails instead of silently running on TensorFlow.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import tensorflow as tf

from dmrh_tf.methods.columns import Columns

REPO = Path(__file__).resolve().parent.parent

# The head of every JAX script: a meta-path finder that refuses TensorFlow, installed before any
# other import, then the test's arrays as `inputs`.
_PREAMBLE = """\
import sys

class NoTensorFlow:  # keep TensorFlow out: JAX alone, as on a machine without it
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "tensorflow":
            raise ModuleNotFoundError("No module named 'tensorflow'", name="tensorflow")

sys.meta_path.insert(0, NoTensorFlow())
import json
import numpy as np

inputs = np.load(sys.argv[1])
"""


def run_without_tensorflow(tmp_path, body, **arrays):
    """Run `body` (Python source; `inputs` holds `arrays`, `json` and `np` are imported) with
    KERAS_BACKEND=jax in a subprocess that cannot import TensorFlow; return the JSON of the last line
    it prints."""
    inputs = tmp_path / "inputs.npz"
    np.savez(inputs, **arrays)
    script = tmp_path / "on_jax.py"
    script.write_text(_PREAMBLE + textwrap.dedent(body))
    environment = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO)}
    command = [sys.executable, str(script), str(inputs)]
    result = subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def random_batch(rng, rows=6, bits=6, classes=3, multi_label=False):
    h = rng.normal(0, 1.0, (rows, bits))
    if multi_label:
        labels = (rng.random((rows, classes)) < 0.4).astype(float)
    else:
        labels = np.eye(classes)[rng.integers(0, classes, rows)]
    return h, labels


def tf_value_and_gradient(loss, h, labels):
    variable = tf.Variable(h.astype("float32"))
    with tf.GradientTape() as tape:
        value = loss(labels.astype("float32"), variable)
    return float(value), tape.gradient(value, variable).numpy()


def replica_columns(h, labels, rows):
    """The Columns the trainer hands one replica holding `rows` of the global batch `h`."""
    return Columns(
        h=h,
        labels=labels,
        same_image=tf.gather(tf.eye(h.shape[0]), rows),
        num_rows=h.shape[0],
        batch_h=tf.stop_gradient(h),
        batch_labels=labels,
    )


def in_batch_whole_and_split(loss, h, labels, splits):
    """In-batch form: ((loss, terms, gradient w.r.t. h) of one device holding all of `h`, the same
    for the sum over two replicas holding `splits` of its rows, each with `replica_columns`)."""
    variable = tf.Variable(h.astype("float32"))
    with tf.GradientTape(persistent=True) as tape:
        whole, whole_terms = loss.compute_terms(variable, labels, Columns.in_batch(variable, labels))
        parts = []
        for rows in splits:
            columns = replica_columns(variable, labels, rows)
            parts.append(loss.compute_terms(tf.gather(variable, rows), tf.gather(labels, rows), columns))
        split = parts[0][0] + parts[1][0]
    split_terms = [parts[0][1][k] + parts[1][1][k] for k in range(len(whole_terms))]
    gradients = [tape.gradient(value, variable) for value in (split, whole)]
    return (whole, whole_terms, gradients[1]), (split, split_terms, gradients[0])


def memory_whole_and_split(loss, h, labels, columns_for_rows, splits):
    """Memory form: ((loss, terms, gradient w.r.t. h) of one device holding all of `h`, the same
    summed over two replicas holding `splits` of its rows, the gradients each replica's), the
    Columns of rows being `columns_for_rows(rows)` (`slice(None)` for the one device)."""
    variable = tf.Variable(h)
    with tf.GradientTape(persistent=True) as tape:
        whole = loss.compute_terms(variable, labels, columns_for_rows(slice(None)))
        parts = [loss.compute_terms(variable[rows], labels[rows], columns_for_rows(rows)) for rows in splits]
    split_terms = [parts[0][1][t] + parts[1][1][t] for t in range(len(whole[1]))]
    split_gradient = tape.gradient(parts[0][0], variable) + tape.gradient(parts[1][0], variable)
    whole_gradient = tape.gradient(whole[0], variable)
    return (*whole, whole_gradient), (parts[0][0] + parts[1][0], split_terms, split_gradient)
