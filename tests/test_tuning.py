"""`tuning`: the search space, the validation hold-out, failure reasons and the summary table."""

import keras_tuner as kt
import numpy as np
import pytest
import tensorflow as tf

from dmrh_tf.data import load_synthetic
from dmrh_tf.training.callbacks import NaNLossError
from dmrh_tf.training.config import Config
from tuning import (
    DMRHHyperModel,
    SearchSpace,
    TrialRow,
    best_trial,
    config_for,
    failure_reason,
    format_table,
    make_tuner,
)
from tuning.search import parse_search_args
from tuning.space import parse_choices, parse_range
from tuning.summary import failure_line
from tuning.validation import validation_splits


def test_space_declares_the_issue_hyperparameters():
    hp = kt.HyperParameters()
    values = SearchSpace(regions_choices=(1, 2)).declare(hp)
    assert set(values) == {"eta", "regions"}
    eta, regions = hp._hps["eta"][0], hp._hps["regions"][0]
    assert (eta.min_value, eta.max_value, eta.sampling) == (1e-3, 1.0, "log")
    assert regions.values == [1, 2]
    space = SearchSpace(bits_choices=(16, 32), learning_rate_range=(1e-3, 1e-1))
    assert space.names() == ["eta", "regions", "bits", "learning_rate"]
    assert set(space.declare(kt.HyperParameters())) == set(space.names())
    assert SearchSpace(bits_choices=(16,)).names() == ["eta", "regions"]  # one K: not tuned


def test_config_for_maps_values_onto_config_keys():
    base = Config(bits=48, regions=2, eta=0.02)
    values = {"eta": 0.5, "regions": 3, "bits": 16, "tuner/epochs": 4, "tuner/trial_id": "01"}
    config = config_for(base, values)
    assert (config.eta, config.regions, config.bits, config.epochs) == (0.5, 3, 16, base.epochs)
    assert config_for(base, {}) == base


def test_range_and_choice_flags():
    assert parse_range("1e-3,1") == (1e-3, 1.0)
    assert parse_choices("1,2,3") == (1, 2, 3)
    for bad in ("1", "1,0.1", "0,1"):
        with pytest.raises(ValueError):
            parse_range(bad)
    for bad in ("", "0,1", "1,1"):
        with pytest.raises(ValueError):
            parse_choices(bad)


def test_search_flags_and_config_flags_are_parsed_apart():
    options, config = parse_search_args(
        ["--preset", "smoke", "--bits", "24", "--regions-choices", "1,2", "--eta-range", "0.01,0.1"]
    )
    assert config.bits == 24 and config.dataset == "synthetic" and config.width == 0.125
    assert options.regions_choices == (1, 2) and options.eta_range == (0.01, 0.1)
    assert options.bits_choices is None and not options.run_dir_given
    with pytest.raises(SystemExit):
        parse_search_args(["--no-such-flag", "1"])


def test_validation_queries_come_from_the_training_split_only():
    splits = load_synthetic(train_size=50, query_size=7, seed=0)
    tuning = validation_splits(splits, 0.2, seed=0)
    assert tuning.sizes() == {"train": 40, "query": 10, "database": 40}
    assert tuning.database is tuning.train
    train_ids, query_ids = set(tuning.train.ids), set(tuning.query.ids)
    assert not train_ids & query_ids
    assert train_ids | query_ids == set(splits.train.ids)  # and nothing of the test queries
    again = validation_splits(splits, 0.2, seed=0)
    np.testing.assert_array_equal(again.query.ids, tuning.query.ids)
    assert list(tuning.query.ids) == sorted(tuning.query.ids, key=lambda i: int(i.split(":")[1]))
    with pytest.raises(ValueError, match="val-fraction"):
        validation_splits(splits, 0.001, seed=0)


def test_failure_reasons():
    nan = NaNLossError("the loss became nan at batch 3: training stopped. Lower --learning-rate")
    assert failure_reason(nan) == "non-finite loss: the loss became nan at batch 3"
    oom = tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor\nmore")
    assert failure_reason(oom) == "out of memory (ResourceExhaustedError): OOM when allocating tensor"
    assert failure_reason(MemoryError()).startswith("out of memory (MemoryError)")
    assert failure_reason(ValueError("a bug")) is None  # retried (--max-retries), not failed for good


def test_summary_table_and_best_trial():
    rows = [
        TrialRow("0", {"eta": 0.0123456, "regions": 1}, 0.5, "COMPLETED", 12.34),
        TrialRow("1", {"eta": 0.5, "regions": 3}, None, "FAILED", 1.0, "FailedTrialError: out of memory"),
        TrialRow("2", {"eta": 0.1, "regions": 2}, 0.7, "COMPLETED", None),
    ]
    assert best_trial(rows).trial_id == "2"
    assert best_trial(rows[1:2]) is None
    lines = format_table(rows, ["eta", "regions"]).splitlines()
    assert lines[0].split() == ["trial", "eta", "N", "val_map", "status", "seconds", "reason"]
    assert lines[2].split() == ["0", "0.01235", "1", "0.5000", "COMPLETED", "12.3"]
    assert lines[3].split()[3:] == ["-", "FAILED", "1.0", "FailedTrialError:", "out", "of", "memory"]
    assert lines[4].split()[-1] == "-"
    message = "Traceback (most recent call last):\n  ...\nkeras_tuner.src.errors.FailedTrialError: NaN loss\n"
    assert failure_line(message) == "FailedTrialError: NaN loss"
    tf_error = (
        "Traceback (most recent call last):\n  File ...\n"
        "tensorflow.python.framework.errors_impl.InvalidArgumentError: Graph execution error:\n\n"
        "Detected at node x defined at (most recent call last):\n  File ...\n"
        "[[{{node x}}]] [Op:__inference_step_1]\n"
    )
    assert failure_line(tf_error) == "InvalidArgumentError: Graph execution error:"
    assert failure_line("Traceback:\n  ...\nKeyboardInterrupt\n") == "KeyboardInterrupt"
    assert failure_line("something odd\n") == "something odd" and failure_line(None) == ""


def test_tuners_declare_the_space_without_building_or_loading_data(tmp_path):
    """The chief of a distributed search builds a tuner too: it must not load the data set."""
    hypermodel = DMRHHyperModel(Config(epochs=3), SearchSpace(regions_choices=(1, 2)))
    tuner = make_tuner("hyperband", hypermodel, str(tmp_path), max_trials=4)
    assert hypermodel._splits is None
    assert tuner.oracle.max_trials == 4 and tuner.oracle.max_epochs == 3
    assert set(tuner.oracle.get_space().values) == {"eta", "regions"}
    assert tuner.oracle.objective.name == "val_map" and tuner.oracle.objective.direction == "max"
    random = make_tuner("random", hypermodel, str(tmp_path), project_name="other", max_trials=2)
    assert random.oracle.max_trials == 2 and random.oracle.seed == 1  # seed 0 + 1: 0 means "random"
    with pytest.raises(ValueError, match="unknown tuner"):
        make_tuner("grid", hypermodel, str(tmp_path))


def test_bayesian_tuner(tmp_path):
    pytest.importorskip("sklearn", reason="BayesianOptimization needs scikit-learn")
    hypermodel = DMRHHyperModel(Config(), SearchSpace(learning_rate_range=(1e-3, 1e-1)))
    tuner = make_tuner("bayesian", hypermodel, str(tmp_path), max_trials=3)
    assert set(tuner.oracle.get_space().values) == {"eta", "regions", "learning_rate"}
