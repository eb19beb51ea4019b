"""Every `--method` through the shared machinery: a few steps on separable data lower its loss and
give mAP well above chance, its config and search space are complete, and its model serves."""

import dataclasses
import functools

import numpy as np
import pytest

from dmrh_tf.data.splits import Split, Splits
from dmrh_tf.encode import encode_split
from dmrh_tf.evaluation import map_at_k
from dmrh_tf.train import build_trainer, evaluate_codes
from dmrh_tf.training.config import METHODS, Config, parse_args
from dmrh_tf.training.method_registry import METHOD_SPECS

CLASSES, PER_CLASS = 4, 16
COLOURS = np.array([[230, 30, 30], [30, 230, 30], [30, 30, 230], [230, 230, 30]])


def _separable_split(seed, per_class=PER_CLASS):
    """Images whose class is their colour (plus noise): any working method separates them."""
    rng = np.random.default_rng(seed)
    classes = np.repeat(np.arange(CLASSES), per_class)
    images = COLOURS[classes][:, None, None, :] + rng.normal(0, 20, (len(classes), 32, 32, 3))
    images = np.clip(images, 0, 255).astype(np.uint8)
    ids = np.array([f"img:{seed}:{i}" for i in range(len(classes))])
    return Split(ids=ids, labels=np.eye(CLASSES, dtype=np.float32)[classes], images=images)


def _splits():
    train = _separable_split(0)
    return Splits(name="colours", train=train, query=_separable_split(1, per_class=4), database=train)


def _config(method, regions=1):
    """A tiny run of `method`: N = 1 (the baselines' setting) unless given, width 1/32, batch 16."""
    config = Config(
        method=method,
        bits=16,
        regions=regions,
        width=1 / 32,
        batch_size=16,
        epochs=6,
        verbose=0,
        map_k=64,
        learning_rate=0.05,
        warmup_epochs=0.0,
        adsh_omega=32,
        adsh_inner_epochs=2,
        ddsh_omega=8,
        ddsh_iterations=1,
    )
    return config.validate()


@functools.cache
def _train(method, regions=1):
    """(trainer, history, results) of a tiny run of `method` (trained once per test session)."""
    config = _config(method, regions)
    splits = _splits()
    procedure = METHOD_SPECS[method].procedure
    steps = procedure.steps_per_epoch(config, len(splits.train))
    trainer = build_trainer(config, splits.train.labels, steps)
    history = trainer.fit(
        procedure.dataset(splits.train, config),
        epochs=config.epochs,
        steps_per_epoch=steps,
        callbacks=procedure.callbacks(trainer, splits.train, config),
        verbose=0,
        shuffle=False,
    )
    database_codes = procedure.database_codes(trainer)
    return trainer, history.history, evaluate_codes(trainer.encoder, splits, config, database_codes)


@pytest.mark.parametrize("method", METHODS)
def test_a_few_steps_lower_the_loss_and_beat_chance(method):
    trainer, history, results = _train(method)
    losses = history["loss"]
    # ADSH's first epoch runs against V = 0 (a constant pull to 0); its objective starts at the first V-step
    first = 1 if method == "adsh" else 0
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[first], losses
    assert set(history) >= {"loss", *trainer.hashing_loss.terms}
    assert results["map_at_k"] > 0.6, results  # chance: 0.25 (4 balanced classes)


def test_a_baseline_with_dmrh_regions_trains():
    """`--method dsh --regions 2`: DSH's loss on DMRH's 2×2 region grid and mean fusion."""
    trainer, history, results = _train("dsh", regions=2)
    assert trainer.encoder.output["region_outputs"].shape[1:3] == (2, 2)
    assert history["loss"][-1] < history["loss"][0] and results["map_at_k"] > 0.6


def test_adsh_evaluates_with_its_learned_database_codes():
    """ADSH's database is V (learned for the training images), its queries the network's codes."""
    trainer, _, results = _train("adsh")
    codes = METHOD_SPECS["adsh"].procedure.database_codes(trainer)
    assert codes.shape == (CLASSES * PER_CLASS, 16) and set(np.unique(codes)) == {-1, 1}
    splits = _splits()
    query = encode_split(trainer.encoder, splits.query, progress=False)
    expected = map_at_k(query, codes, splits.query.labels, splits.train.labels, results["k"])
    assert results["map_at_k"] == pytest.approx(float(expected))


@pytest.mark.parametrize("method", METHODS)
def test_every_method_has_commented_settings_and_a_search_space(method):
    fields = {f.name for f in dataclasses.fields(Config)}
    spec = METHOD_SPECS[method]
    assert spec.search_space, f"{method} declares nothing to tune"
    for name, low, high in spec.search_space:
        assert name in fields and 0 < low < high
    if method != "dmrh":
        assert any(name.startswith(method + "_") for name in fields) or method == "ddsh"
        assert parse_args(["--method", method]).regions == 1  # the papers' plain CNN-F
        assert parse_args(["--method", method, "--regions", "2"]).regions == 2
    else:
        assert parse_args([]).regions == 2


def test_help_lists_each_methods_settings(capsys):
    with pytest.raises(SystemExit):
        parse_args(["--help"])
    out = capsys.readouterr().out
    for flag in ("--method", "--dsh-margin", "--dsdh-eta", "--dch-gamma", "--ddsh-omega", "--adsh-gamma"):
        assert flag in out
    assert "Cauchy scale" in out  # the field's comment is its help


# The encoder is the same network whatever the method; DMRH's and ADSH's (the one whose training
# differs most) run by default, the others with `-m slow` (make test-all).
EXPORTED = [m if m in ("dmrh", "adsh") else pytest.param(m, marks=pytest.mark.slow) for m in METHODS]


@pytest.mark.parametrize("method", EXPORTED)
def test_a_model_of_every_method_exports_and_serves_its_codes(method, tmp_path):
    """The encoder a method trained goes through `serving.export` unchanged: the SavedModel that
    TF Serving (and the local server) loads answers with the codes of in-process encoding."""
    import tensorflow as tf
    from serving_support import assert_codes_vary, smooth_images

    import dmrh_tf
    from dmrh_tf.training.run_dir import MODEL_FILE, write_config
    from serving import contract, export

    trainer, _, _ = _train(method)
    run_dir = str(tmp_path / "run")
    write_config(run_dir, _config(method))
    trainer.encoder.save(f"{run_dir}/{MODEL_FILE}")
    path = export.export_run(run_dir, str(tmp_path / "models"), "hashing")
    serve = tf.saved_model.load(path).signatures[contract.IMAGES_SIGNATURE]
    images = np.concatenate([_separable_split(3).images[::8], smooth_images(4, 32, 32)])
    expected = dmrh_tf.encode(trainer.encoder, images)
    np.testing.assert_array_equal(serve(images=tf.constant(images))["codes"].numpy(), expected)
    assert_codes_vary(expected)


def test_the_readme_training_commands_parse():
    """Every `python -m dmrh_tf.train` line of the README is a valid config (methods included)."""
    import pathlib
    import re
    import shlex

    readme = (pathlib.Path(__file__).parent.parent / "README.md").read_text()
    lines = [
        shlex.split(line, comments=True)
        for block in re.findall(r"```bash\n(.*?)```", readme, re.S)
        for line in block.replace("\\\n", " ").splitlines()
    ]
    commands = [argv[3:] for argv in lines if argv[1:3] == ["-m", "dmrh_tf.train"]]
    methods = {parse_args(argv).method for argv in commands if "--config" not in argv}
    assert {"dmrh", "adsh", "dsh"} <= methods
