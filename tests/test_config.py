"""Config resolution: defaults < preset < --config file < flags; unknown keys and bad values fail."""

import dataclasses
import itertools
import json

import pytest

from dmrh_tf.training.config import PRESETS, Config, parse_args


def test_defaults_are_the_from_scratch_recipe_on_built_in_data():
    config = parse_args([])
    assert config == Config()
    assert (config.dataset, config.normalization, config.optimizer) == ("synthetic", "batch", "sgd")
    assert config.eta == 0.02 and config.loss_mode == "memory"


def test_paper_preset_has_the_papers_settings():
    config = parse_args(["--preset", "paper"])
    assert (config.learning_rate, config.momentum, config.weight_decay) == (0.1, 0.0, 1e-5)
    assert (config.batch_size, config.clipnorm, config.lr_decay_factor) == (32, 1.0, 0.1)
    assert (config.normalization, config.width) == ("lrn", 1.0)


def test_cpu_preset_is_the_measured_recipe_and_flags_still_win():
    config = parse_args(["--preset", "cpu", "--bits", "24"])
    assert (config.optimizer, config.learning_rate, config.lr_schedule) == ("adam", 1e-3, "cosine")
    assert (config.width, config.regions, config.dropout, config.epochs) == (0.25, 1, 0.0, 5)
    assert config.train_size is None and config.query_size is None  # the whole protocol
    assert config.bits == 24 and config.method == "dmrh"
    assert parse_args(["--preset", "cpu", "--regions", "2"]).regions == 2


def test_precedence_preset_then_file_then_flags(tmp_path):
    path = tmp_path / "best.json"
    path.write_text(json.dumps({"eta": 0.5, "regions": 3, "bits": 24}))
    config = parse_args(["--preset", "smoke", "--config", str(path), "--bits", "64"])
    assert config.width == PRESETS["smoke"]["width"]  # from the preset
    assert (config.eta, config.regions) == (0.5, 3)  # from the file
    assert config.bits == 64  # the flag wins


def test_a_written_config_reproduces_itself(tmp_path):
    config = parse_args(["--preset", "smoke", "--eta", "0.1", "--data-dir", "/data"])
    path = tmp_path / "config.json"
    path.write_text(config.to_json())
    assert parse_args(["--config", str(path)]) == config


def test_flag_types_and_none():
    config = parse_args(["--clipnorm", "none", "--jit-compile", "true", "--width", "0.5", "--epochs", "7"])
    assert config.clipnorm is None and config.jit_compile is True
    assert (config.width, config.epochs) == (0.5, 7)


def test_unknown_flag_fails(capsys):
    with pytest.raises(SystemExit) as error:
        parse_args(["--learning-rat", "0.1"])
    assert error.value.code == 2
    assert "unrecognized arguments: --learning-rat" in capsys.readouterr().err


def test_unknown_key_in_config_file_fails(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"etaa": 0.1}))
    with pytest.raises(ValueError, match=r"unknown config keys \['etaa'\]"):
        parse_args(["--config", str(path)])


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--regions", "11"], "regions"),
        (["--loss-mode", "pairs"], "loss_mode"),
        (["--pretrained", "f.mat"], "normalization='lrn'"),
        (["--bits", "0"], "bits"),
    ],
)
def test_bad_values_fail_early(flags, message):
    with pytest.raises(ValueError, match=message):
        parse_args(flags)


def test_every_field_has_a_comment():
    import inspect

    from dmrh_tf.training import config as module

    source = inspect.getsource(module.Config)
    for field in dataclasses.fields(Config):
        line = next(line for line in source.splitlines() if line.strip().startswith(f"{field.name}:"))
        assert "#" in line, f"{field.name} has no comment"


@pytest.mark.parametrize("name", ["step", "cosine"])
def test_learning_rate_schedules_warm_up_then_decay_as_configured(name):
    from dmrh_tf.train import make_schedule

    config = Config(learning_rate=0.1, warmup_epochs=1, epochs=3, lr_schedule=name, lr_decay_epochs=2)
    schedule = make_schedule(config, steps_per_epoch=10)  # 10 warm-up steps, 30 in all
    lr = [float(schedule(step)) for step in range(30)]
    assert lr[0] < 0.02 and lr[0] < lr[5] < lr[9] and abs(lr[10] - 0.1) < 1e-6  # linear to the peak
    if name == "step":
        assert lr[10:20] == pytest.approx([0.1] * 10) and lr[20:] == pytest.approx([0.01] * 10)
    else:  # a half cosine from the peak over the 20 steps after the warm-up
        assert lr[20] == pytest.approx(0.05, abs=1e-6) and lr[29] < 0.002
        assert all(a >= b for a, b in itertools.pairwise(lr[10:]))
    with pytest.raises(ValueError, match="lr_schedule"):
        Config(lr_schedule="linear").validate()
