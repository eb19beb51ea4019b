"""`python -m dmrh_tf.train` end to end, in subprocesses: run directory, resume after a kill, NaN stop,
and multi-worker training with two worker processes on 127.0.0.1."""

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

import dmrh_tf

TINY = ["--preset", "smoke", "--train-size", "96", "--query-size", "32", "--verbose", "2"]


def _env(**extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


def _train(args, timeout=300, **env):
    return subprocess.run(
        [sys.executable, "-m", "dmrh_tf.train", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env(**env),
    )


def _history_epochs(run_dir):
    with open(run_dir / "history.csv") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def test_smoke_run_writes_the_whole_run_directory(tmp_path):
    run_dir = tmp_path / "run"
    result = _train([*TINY, "--run-dir", str(run_dir), "--epochs", "2"])
    assert result.returncode == 0, result.stderr[-3000:]
    config = json.loads((run_dir / "config.json").read_text())
    assert config["train_size"] == 96 and config["bits"] == 16
    results = json.loads((run_dir / "results.json").read_text())
    assert 0.0 < results["map_at_k"] <= 1.0 and results["k"] == 96
    assert results["sizes"] == {"train": 96, "query": 32, "database": 96}
    assert _history_epochs(run_dir) == [0, 1]
    assert sorted(os.listdir(run_dir / "checkpoints")) == ["epoch_001.weights.h5", "epoch_002.weights.h5"]
    assert os.listdir(run_dir / "logs") and os.listdir(run_dir / "splits")
    assert "mAP@96" in result.stderr
    model, loaded_config = dmrh_tf.load_run(str(run_dir))
    assert loaded_config.bits == 16 and model.output["codes"].shape[-1] == 16


def _kill_after_an_epoch(args, run_dir):
    """Start `python -m dmrh_tf.train ARGS`, SIGKILL it once its backup holds a finished epoch, and
    return how many epochs the backup says are done."""
    process = subprocess.Popen(
        [sys.executable, "-m", "dmrh_tf.train", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_env(),
        start_new_session=True,
    )
    metadata = run_dir / "backup" / "training_metadata.json"
    deadline = time.time() + 240
    try:
        while time.time() < deadline and process.poll() is None:
            if metadata.exists() and json.loads(metadata.read_text() or "{}").get("epoch", -1) >= 0:
                break
            time.sleep(0.05)
        assert process.poll() is None, "the run ended before it could be killed"
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        process.wait(30)
    return json.loads(metadata.read_text())["epoch"] + 1


def test_resume_after_a_kill_continues_without_losing_epochs(tmp_path):
    run_dir = tmp_path / "run"
    args = [*TINY, "--run-dir", str(run_dir), "--epochs", "4"]
    done = _kill_after_an_epoch(args, run_dir)
    assert 1 <= done < 4 and not (run_dir / "results.json").exists()
    result = _train(args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Epoch {done + 1}/4" in result.stdout and "Epoch 1/4" not in result.stdout
    assert set(_history_epochs(run_dir)) == {0, 1, 2, 3}
    assert (run_dir / "results.json").exists()


def test_nan_loss_stops_with_a_clear_message(tmp_path):
    run_dir = tmp_path / "run"
    result = _train([*TINY, "--run-dir", str(run_dir), "--learning-rate", "1e30", "--clipnorm", "none"])
    assert result.returncode == 1
    assert "the loss became" in result.stderr and "Lower --learning-rate" in result.stderr
    assert not (run_dir / "results.json").exists()


def test_mixed_precision_and_xla_options_train(tmp_path):
    run_dir = tmp_path / "run"
    args = ["--mixed-precision", "mixed_bfloat16", "--jit-compile", "true", "--epochs", "1"]
    result = _train([*TINY, "--run-dir", str(run_dir), *args])
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((run_dir / "config.json").read_text())["mixed_precision"] == "mixed_bfloat16"
    assert 0 < json.loads((run_dir / "results.json").read_text())["map_at_k"] <= 1


def test_unknown_flag_fails_clearly():
    result = _train(["--bitz", "12"], timeout=120)
    assert result.returncode == 2 and "unrecognized arguments: --bitz" in result.stderr


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_multi_worker_training_with_two_processes(tmp_path):
    """Two workers on 127.0.0.1 (MultiWorkerMirroredStrategy, custom loop): both finish with the same
    weights, only the chief writes the run directory."""
    run_dir = tmp_path / "run"
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    processes = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "dmrh_tf.train", *TINY, "--run-dir", str(run_dir), "--dropout", "0"],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env=_env(TF_CONFIG=json.dumps(tf_config)),
            )
        )
    outputs = []
    try:
        for process in processes:
            outputs.append(process.communicate(timeout=400)[0])
    finally:
        for process in processes:
            process.kill()
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output[-3000:]
    assert "MultiWorkerMirroredStrategy" in outputs[0] or "multi_worker" in outputs[0]
    results = json.loads((run_dir / "results.json").read_text())
    assert results["replicas"] == 2 and 0 < results["map_at_k"] <= 1
    assert _history_epochs(run_dir) == [0, 1]
    chief = keras.saving.load_model(run_dir / "model.keras")
    other = keras.saving.load_model(run_dir / "worker_1" / "model.keras")
    for a, b in zip(chief.get_weights(), other.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not (run_dir / "worker_1" / "results.json").exists()


@pytest.mark.slow
def test_default_command_runs_the_main_job(tmp_path):
    """The README's main job with no arguments (a few minutes on a CPU)."""
    result = subprocess.run(
        [sys.executable, "-m", "dmrh_tf.train"], cwd=tmp_path, capture_output=True, text=True, timeout=1800,
        env=_env(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((tmp_path / "runs" / "dmrh" / "results.json").read_text())["map_at_k"] > 0.5


@pytest.mark.parametrize("batch_size, replicas", [(32, 3), (32, 5), (32, 6), (32, 7), (30, 4)])
def test_a_batch_that_does_not_split_over_the_replicas_fails_at_start_saying_what_to_do(batch_size, replicas):
    from dmrh_tf.train import check_replicas

    with pytest.raises(ValueError, match=r"does not divide by the \d+ replicas.*Use --batch-size \d+ or \d+"):
        check_replicas(batch_size, replicas)
    check_replicas(batch_size - batch_size % replicas, replicas)  # a multiple is fine


def test_the_paper_recipe_without_pretrained_weights_warns(monkeypatch, caplog):
    """`--preset paper` from scratch does not learn (README): say so before training starts."""
    import dmrh_tf.train as train_module
    from dmrh_tf.training.config import parse_args

    def stop(config):
        raise RuntimeError("stop before loading data")

    monkeypatch.setattr(train_module, "load_splits", stop)
    monkeypatch.setattr(train_module, "make_strategy", lambda name: None)
    with caplog.at_level("WARNING", logger="dmrh_tf.train"), pytest.raises(RuntimeError):
        train_module.train(parse_args(["--preset", "paper", "--run-dir", "unused"]))
    assert "--pretrained" in caplog.text and "does not learn" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="dmrh_tf.train"), pytest.raises(RuntimeError):
        train_module.train(parse_args(["--run-dir", "unused"]))
    assert "does not learn" not in caplog.text


@pytest.mark.parametrize("method", ["adsh", "ddsh"])
def test_a_method_with_discrete_steps_resumes_after_a_kill(tmp_path, method):
    """ADSH (V-step after each epoch) and DDSH (Ω-step before each): killed after an epoch and rerun,
    the run continues at the next epoch with its state, and ADSH's database codes are written."""
    run_dir = tmp_path / "run"
    args = [*TINY, "--method", method, "--adsh-omega", "64", "--run-dir", str(run_dir), "--epochs", "3"]
    done = _kill_after_an_epoch(args, run_dir)
    assert 1 <= done < 3
    result = _train(args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Epoch {done + 1}/3" in result.stdout and "Epoch 1/3" not in result.stdout
    assert set(_history_epochs(run_dir)) == {0, 1, 2}
    results = json.loads((run_dir / "results.json").read_text())
    assert results["method"] == method and results["map_at_k"] > 0.43  # chance on the built-in data
    codes = run_dir / "database_codes.npy"
    assert codes.exists() == (method == "adsh")
    if method == "adsh":
        assert set(np.unique(np.load(codes))) == {-1, 1}


def test_the_memory_can_start_at_the_untrained_networks_outputs():
    from dmrh_tf.data import Split
    from dmrh_tf.encode import encode_split
    from dmrh_tf.train import build_trainer, fill_memory
    from dmrh_tf.training.config import Config

    rng = np.random.default_rng(0)
    labels = np.eye(3, dtype="float32")[rng.integers(0, 3, 20)]
    split = Split(np.arange(20).astype(str), labels, rng.integers(0, 256, (20, 28, 28, 1), dtype=np.uint8))
    trainer = build_trainer(Config(bits=8, regions=1, width=0.125), labels, steps_per_epoch=1)
    assert not np.any(trainer.memory_h.numpy())  # the release's start
    fill_memory(trainer, split)
    want = encode_split(trainer.encoder, split, output="h")
    np.testing.assert_allclose(trainer.memory_h.numpy(), want, rtol=1e-5, atol=1e-6)
    assert np.all(np.any(want != 0, axis=1))


def test_recipe_options_train(tmp_path):
    run_dir = tmp_path / "run"
    result = _train([*TINY, "--run-dir", str(run_dir), "--memory-init", "network", "--lr-schedule", "cosine"])
    assert result.returncode == 0, result.stderr[-3000:]
    config = json.loads((run_dir / "config.json").read_text())
    assert (config["memory_init"], config["lr_schedule"]) == ("network", "cosine")
    assert 0 < json.loads((run_dir / "results.json").read_text())["map_at_k"] <= 1
