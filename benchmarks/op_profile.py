"""Where a training step's CPU time goes: TensorFlow's profiler over a few steps, summed by op type.

`ProfileSteps` traces `fit` batches [first, first + count) with `tf.profiler`; `op_self_seconds`
reads the trace (the XSpace protobuf TensorFlow writes, with the proto module TensorFlow ships, so
no profiler plugin is needed) and sums each op type's *self* time: an op's span on its thread less
the ops nested in it (a function call holds its body's ops). The sums are core-seconds over every
thread that runs ops, the `tf.data` pipeline's included (its resize, its casts), and the same
numbers TensorBoard's profile plugin shows as "framework op stats" (checked against xprof 2.24).
Eigen's pool threads are left out: their spans are work done inside an op already counted.
"""

import collections
import glob
import os

import keras
import tensorflow as tf

# The XSpace proto that `tf.profiler` writes; TensorFlow ships it under its vendored tsl.
from tensorflow.tsl.profiler.protobuf import xplane_pb2

HOST_PLANE = "/host:CPU"


class ProfileSteps(keras.callbacks.Callback):
    """Trace `fit` batches `first` .. `first + count - 1` into `logdir`."""

    def __init__(self, logdir, first, count):
        super().__init__()
        self.logdir, self.first, self.count = logdir, first, count

    def on_train_batch_end(self, batch, logs=None):
        if batch == self.first - 1:
            tf.profiler.experimental.start(self.logdir)
        elif batch == self.first + self.count - 1:
            tf.profiler.experimental.stop()


def _op_type(name):
    """'conv2/convolution:Conv2D' → 'Conv2D'; None for the runtime's own spans ('Iterator::Map')."""
    if ":" not in name or "::" in name:
        return None
    return name.rsplit(":", 1)[1]


def _line_self_picoseconds(events, names, totals):
    """Add each op event's self time on one thread (events nest as a stack on one line)."""
    open_spans = []  # (end_ps, index into spans or None for a runtime span)
    spans = []  # [op type, self ps]
    for event in sorted(events, key=lambda e: (e.offset_ps, -e.duration_ps)):
        while open_spans and open_spans[-1][0] <= event.offset_ps:
            open_spans.pop()
        kind = _op_type(names[event.metadata_id])
        enclosing = next((index for _, index in reversed(open_spans) if index is not None), None)
        if kind is not None and enclosing is not None:
            spans[enclosing][1] -= event.duration_ps  # the enclosing op's time is not its own
        if kind is not None:
            spans.append([kind, event.duration_ps])
        open_spans.append((event.offset_ps + event.duration_ps, len(spans) - 1 if kind else None))
    for kind, picoseconds in spans:
        totals[kind] += picoseconds


def op_self_seconds(logdir):
    """{op type: self core-seconds} of the trace under `logdir` (one profiling session)."""
    paths = glob.glob(os.path.join(logdir, "plugins", "profile", "*", "*.xplane.pb"))
    if len(paths) != 1:
        raise FileNotFoundError(f"{logdir}: expected one profiler trace (*.xplane.pb), found {len(paths)}")
    space = xplane_pb2.XSpace()
    with open(paths[0], "rb") as f:
        space.ParseFromString(f.read())
    totals = collections.Counter()
    for plane in space.planes:
        if plane.name != HOST_PLANE:
            continue
        names = {key: meta.name for key, meta in plane.event_metadata.items()}
        for line in plane.lines:
            if line.name == "python" or "Eigen" in line.name:  # eager glue; work inside counted ops
                continue
            _line_self_picoseconds(line.events, names, totals)
    return {kind: picoseconds / 1e12 for kind, picoseconds in totals.items()}


def per_step_table(seconds, steps, top=15):
    """The `top` op types by milliseconds per step, the rest summed as 'other', and the total."""
    ranked = sorted(seconds.items(), key=lambda item: -item[1])
    table = {kind: round(1000 * s / steps, 2) for kind, s in ranked[:top]}
    table["other"] = round(1000 * sum(s for _, s in ranked[top:]) / steps, 2)
    table["total"] = round(1000 * sum(seconds.values()) / steps, 2)
    return table
