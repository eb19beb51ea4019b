"""`python -m tuning.search` end to end on tiny generated data: a small search with one failing trial,
resume after an interruption (on two replicas), and a chief + worker distributed search.

Each trial trains 2 steps of the smoke model (width 1/8, K=8) on 64 training images, and scores
the validation mAP of the 16 held-out training images against those 64.
"""

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time

import pytest
import tensorflow as tf

import dmrh_tf.training.procedures.procedure as procedure_module
from dmrh_tf.model import input_side
from dmrh_tf.training.config import parse_args
from tuning import config_for, read_trials
from tuning.search import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The smoke preset shrunk further: every trial is a few seconds of training plus tracing.
TINY = [
    "--preset", "smoke", "--train-size", "80", "--query-size", "4", "--epochs", "1",
    "--steps-per-epoch", "2", "--batch-size", "16", "--bits", "8", "--verbose", "0",
]  # fmt: skip
# In this process: no MirroredStrategy, as tests/test_distribution.py may have made one here and a
# second one's collectives fail. The chief/worker test runs Mirrored (two replicas) in subprocesses.
IN_PROCESS = [*TINY, "--strategy", "default"]


def _statuses(project_dir):
    return [row.status for row in read_trials(project_dir)]


def test_small_search_goes_on_after_a_failed_trial_and_writes_the_best_config(tmp_path, monkeypatch, capsys):
    """Trial 0 runs out of memory building its input (as a large N would): it is FAILED with that
    reason, the next two trials complete, and the best one's config parses and retrains."""
    sides = []
    real_train_dataset = procedure_module.train_dataset

    def first_input_runs_out_of_memory(split, side, *args, **kwargs):
        sides.append(side)
        if len(sides) == 1:
            raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor with shape")
        return real_train_dataset(split, side, *args, **kwargs)

    monkeypatch.setattr(procedure_module, "train_dataset", first_input_runs_out_of_memory)
    code = main([*IN_PROCESS, "--regions-choices", "1,2", "--max-trials", "3", "--directory", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    rows = read_trials(str(tmp_path / "dmrh"))
    assert [row.status for row in rows] == ["FAILED", "COMPLETED", "COMPLETED"]
    assert "out of memory (ResourceExhaustedError): OOM when allocating" in rows[0].reason
    assert rows[0].reason[:40] in out and "COMPLETED" in out
    assert sides == [input_side(row.values["regions"]) for row in rows]  # each trial at its own side
    assert all(0 <= row.val_map <= 1 and row.seconds > 0 for row in rows[1:])
    assert set(rows[1].values) == {"eta", "regions"} and 1e-3 <= rows[1].values["eta"] <= 1
    best = max(rows[1:], key=lambda row: row.val_map)
    path = tmp_path / "dmrh" / "best_config.json"
    retrain = parse_args(["--config", str(path)])
    base = parse_args(IN_PROCESS)
    assert retrain == config_for(base, {**best.values, "run_dir": str(tmp_path / "dmrh" / "best_run")})


def test_a_nan_loss_fails_the_trial_with_its_reason(tmp_path, capsys):
    """A learning rate of 1e12 without clipping: the loss is NaN or infinite within a few steps."""
    argv = [*IN_PROCESS, "--learning-rate", "1e12", "--clipnorm", "none", "--steps-per-epoch", "4"]
    assert main([*argv, "--regions-choices", "1", "--max-trials", "1", "--directory", str(tmp_path)]) == 1
    (row,) = read_trials(str(tmp_path / "dmrh"))
    assert row.status == "FAILED" and row.val_map is None
    assert re.search(r"FailedTrialError: non-finite loss: the loss became -?(nan|inf) at batch", row.reason)
    assert row.reason in capsys.readouterr().out
    assert not (tmp_path / "dmrh" / "best_config.json").exists()


class _Killed(BaseException):
    """Stands for the process dying mid-trial (not an Exception: KerasTuner cannot catch it)."""


def test_rerun_resumes_retrying_the_interrupted_trial_only(tmp_path, monkeypatch):
    """Run 1 completes trial 0 and dies in trial 1; the same command again runs trial 1 alone."""
    argv = [*IN_PROCESS, "--regions-choices", "1", "--max-trials", "2", "--directory", str(tmp_path)]
    runs = []
    real_train_dataset = procedure_module.train_dataset

    def dies_in_trial_1(split, side, *args, **kwargs):
        runs.append(side)
        if len(runs) == 2:
            raise _Killed()
        return real_train_dataset(split, side, *args, **kwargs)

    monkeypatch.setattr(procedure_module, "train_dataset", dies_in_trial_1)
    with pytest.raises(_Killed):
        main(argv)
    project = str(tmp_path / "dmrh")
    first = read_trials(project)
    assert [row.status for row in first] == ["COMPLETED", "RUNNING"]

    runs.clear()
    monkeypatch.setattr(procedure_module, "train_dataset", real_train_dataset)
    counted = []
    monkeypatch.setattr(
        procedure_module, "train_dataset", lambda *a, **k: counted.append(1) or real_train_dataset(*a, **k)
    )
    assert main(argv) == 0
    second = read_trials(project)
    assert len(counted) == 1, "only the interrupted trial runs again"
    assert [row.status for row in second] == ["COMPLETED", "COMPLETED"]
    assert second[0] == first[0]  # the finished trial is kept as it was
    assert second[1].values == first[1].values  # the interrupted one is retried, same values


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The worker: `python -m tuning.search` on two logical CPUs, with `make_strategy` giving a two-replica
# MirroredStrategy over them, as it gives one over the GPUs of a 2-GPU worker. (A second
# MirroredStrategy cannot be made inside the test process: tests/test_distribution.py has one.)
TWO_REPLICA_WORKER = """
import sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import tuning.search
tuning.search.make_strategy = lambda name: tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
sys.exit(tuning.search.main(sys.argv[1:]))
"""


def test_chief_and_worker_on_localhost(tmp_path):
    """KerasTuner's distributed mode: the chief serves the oracle only; the worker runs both trials,
    each on two replicas."""
    port = str(_free_port())
    flags = [*TINY, "--regions-choices", "1", "--max-trials", "2", "--directory", str(tmp_path)]
    commands = {
        "chief": [sys.executable, "-m", "tuning.search", *flags],
        "tuner0": [sys.executable, "-c", TWO_REPLICA_WORKER, *flags],
    }
    base_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow"}
    base_env.update(KERASTUNER_ORACLE_IP="127.0.0.1", KERASTUNER_ORACLE_PORT=port)
    processes = {}
    with contextlib.ExitStack() as stack:
        for tuner_id in ("chief", "tuner0"):
            log = stack.enter_context(open(tmp_path / f"{tuner_id}.log", "w"))
            processes[tuner_id] = subprocess.Popen(
                commands[tuner_id],
                cwd=ROOT,
                env={**base_env, "KERASTUNER_TUNER_ID": tuner_id},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 300  # both processes, together
        try:
            codes = {
                name: process.wait(timeout=max(1.0, deadline - time.monotonic()))
                for name, process in processes.items()
            }
        finally:
            for process in processes.values():
                if process.poll() is None:
                    process.kill()
                    process.wait()
    outputs = {name: (tmp_path / f"{name}.log").read_text() for name in processes}
    assert codes == {"chief": 0, "tuner0": 0}, outputs
    project = str(tmp_path / "dmrh")
    assert _statuses(project) == ["COMPLETED", "COMPLETED"]
    for trial in ("0", "1"):
        with open(os.path.join(project, f"trial_{trial}", "dmrh_trial.json")) as f:
            assert json.load(f)["tuner_id"] == "tuner0"  # the worker trained, not the chief
    assert "val_map" in outputs["chief"] and "COMPLETED" in outputs["chief"]
    assert "tuning on" not in outputs["chief"], "the chief must not load the data set"
    assert "Using MirroredStrategy" not in outputs["chief"], "the chief must not create a strategy"
    assert "with devices ('/job:localhost/replica:0/task:0/device:CPU:0', '/job" in outputs["tuner0"]
    parse_args(["--config", os.path.join(project, "best_config.json")])


@pytest.mark.parametrize(
    "method, tuned", [("dsdh", {"dsdh_eta", "dsdh_nu", "regions"}), ("adsh", {"adsh_gamma", "regions"})]
)
def test_a_search_over_another_methods_hyper_parameters(tmp_path, capsys, method, tuned):
    """`--method NAME` searches that method's declared space (not η), in its own project, and the
    best config retrains that method."""
    args = [*IN_PROCESS, "--method", method, "--adsh-omega", "32", "--regions-choices", "1"]
    code = main([*args, "--max-trials", "2", "--directory", str(tmp_path)])
    assert code == 0
    rows = read_trials(tmp_path / method)
    assert [row.status for row in rows] == ["COMPLETED", "COMPLETED"]
    assert set(rows[0].values) == tuned and all(0 <= row.val_map <= 1 for row in rows)
    best = parse_args(["--config", str(tmp_path / method / "best_config.json")])
    assert best.method == method and best.regions == 1
