"""`python -m dmrh_tf.evaluate` end to end on tiny untrained runs and the synthetic data set."""

import json

import keras
import numpy as np
import pytest

from dmrh_tf.evaluate import baseline_data_config, main, parse_args
from dmrh_tf.evaluation.baselines import fit_baseline
from dmrh_tf.model import build_model
from dmrh_tf.training.config import Config
from dmrh_tf.training.run_dir import write_config

DATA = dict(dataset="synthetic", train_size=40, query_size=8, seed=0)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run directory (config.json + model.keras) with a tiny untrained 8-bit model, N = 2."""
    keras.utils.set_random_seed(0)
    run = tmp_path_factory.mktemp("run_n2")
    write_config(run, Config(**DATA, bits=8, regions=2, width=0.0625, map_k=20))
    build_model(bits=8, regions=2, width=0.0625).save(run / "model.keras")
    return str(run)


def test_runs_and_baselines_make_one_table(tmp_path, run_dir, caplog):
    out = tmp_path / "report"
    caplog.set_level("INFO", logger="dmrh_tf.evaluate")
    argv = ["--runs", run_dir, "--baselines", "lsh", "pcah", "--pixel-side", "8"]
    assert main([*argv, "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["dataset"] == "synthetic" and results["map_k"] == 20
    assert list(results["methods"]) == ["DMRH (N=2)", "LSH", "PCAH"]
    for entry in results["methods"].values():
        metrics = entry["bits"]["8"]  # the baselines copy the run's bit length
        assert 0.0 <= metrics["map"] <= 1.0 and metrics["n_query"] == 8 and metrics["n_db"] == 40
    assert results["methods"]["DMRH (N=2)"]["regions"] == 2
    for name in ("results.md", "results.csv", "pr_curves.png", "precision_at_k.png"):
        assert (out / name).stat().st_size > 0
    assert (out / "map_vs_regions.png").exists()
    assert "| DMRH (N=2) |" in (out / "results.md").read_text()
    assert "mAP@20" in caplog.text

    # A second call adds a column to the same table; another data selection is refused.
    main(["--baselines", "itq", "--bits", "4", "--pixel-side", "8", "--out", str(out), *_data()])
    results = json.loads((out / "results.json").read_text())
    assert set(results["methods"]["ITQ"]["bits"]) == {"4"}
    assert set(results["methods"]["LSH"]["bits"]) == {"8"}
    with pytest.raises(SystemExit, match="sizes"):
        main(["--baselines", "lsh", "--bits", "4", "--out", str(out), *_data(train_size=32)])


def _label_features(tmp_path):
    """The test data's splits, and features.npz in `tmp_path` = 4·labels + noise (easy retrieval)."""
    from dmrh_tf.data import load_splits

    splits = load_splits(Config(**DATA))
    rng = np.random.default_rng(0)
    arrays = {
        name: 4 * getattr(splits, name).labels + rng.normal(size=getattr(splits, name).labels.shape)
        for name in ("train", "query", "database")
    }
    np.savez(tmp_path / "features.npz", **arrays)
    return splits, arrays


def test_baselines_on_given_features(tmp_path):
    """Features from an .npz (here: the labels plus noise, so retrieval is easy)."""
    _label_features(tmp_path)
    argv = ["--baselines", "itq", "--bits", "6", "--features", str(tmp_path / "features.npz")]
    main([*argv, "--map-k", "10", "--out", str(tmp_path), *_data()])
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["methods"]["ITQ"]["bits"]["6"]["map"] > 0.5


def test_supervised_baseline_gets_the_training_labels_of_its_rows(tmp_path, monkeypatch):
    """FSSH fit on a 25-row `--fit-size` subset of given features: it receives the labels of exactly those
    rows (each fitted row found in the .npz by value), and scores well (features = 4·labels + noise)."""
    import dmrh_tf.evaluate as evaluate_module

    splits, arrays = _label_features(tmp_path)
    calls = []

    def recording_fit(name, train, bits, seed=0, labels=None):
        calls.append((name, train, labels))
        return fit_baseline(name, train, bits, seed=seed, labels=labels)

    monkeypatch.setattr(evaluate_module, "fit_baseline", recording_fit)
    argv = ["--baselines", "fssh", "--bits", "6", "--features", str(tmp_path / "features.npz")]
    main([*argv, "--fit-size", "25", "--map-k", "10", "--out", str(tmp_path), *_data()])
    ((name, train, labels),) = calls
    rows = [int(np.flatnonzero((arrays["train"] == row).all(axis=1))[0]) for row in train]
    assert name == "fssh" and len(rows) == 25 and rows != list(range(25))
    np.testing.assert_array_equal(labels, splits.train.labels[rows])
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["methods"]["FSSH"]["bits"]["6"]["map"] > 0.5


def test_data_flags_override_the_runs_config_and_none_means_all():
    config = Config(**DATA)
    given = parse_args(["--baselines", "lsh", "--train-size", "none", "--seed", "3"])
    overridden = baseline_data_config(given, config)
    assert (overridden.train_size, overridden.query_size, overridden.seed) == (None, 8, 3)
    left_out = parse_args(["--baselines", "lsh"])
    assert baseline_data_config(left_out, config) == config


def test_nothing_to_evaluate_is_an_error():
    with pytest.raises(SystemExit):
        main([])


def _data(**overrides):
    values = {**DATA, **overrides}
    return [
        "--dataset",
        values["dataset"],
        "--train-size",
        str(values["train_size"]),
        "--query-size",
        str(values["query_size"]),
    ]
