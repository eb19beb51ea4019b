"""Indexing image files: file lists, build/query with an injected encoder, and the CLI end to end."""

import logging
import os
import runpy
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import dmrh_tf
from dmrh_tf.index import (
    HammingIndex,
    ModelMismatchError,
    build_index,
    list_images,
    query_index,
)
from dmrh_tf.index.cli import main
from dmrh_tf.training.run_dir import write_config


def write_png(path, height, width, seed):
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tf.io.write_file(str(path), tf.io.encode_png(pixels))


def test_list_images_from_a_directory_and_from_a_list_file(tmp_path):
    for name in ("b.png", "sub/a.JPG", "sub/z.gif"):
        (tmp_path / "imgs" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "imgs" / name).write_bytes(b"")
    (tmp_path / "imgs" / "notes.txt").write_text("not an image")
    root = str(tmp_path / "imgs")
    assert list_images(root) == [f"{root}/b.png", f"{root}/sub/a.JPG", f"{root}/sub/z.gif"]

    listing = tmp_path / "list.txt"
    listing.write_text(f"# database\nimgs/sub/z.gif\n\n{root}/b.png\n")
    assert list_images(listing) == [str(tmp_path / "imgs/sub/z.gif"), f"{root}/b.png"]

    listing.write_text("imgs/missing.png\n")
    with pytest.raises(FileNotFoundError, match=r"missing\.png \(listed in"):
        list_images(listing)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images found"):
        list_images(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="neither a directory"):
        list_images(tmp_path / "nowhere")


def fake_encoder(codes_by_name):
    """An encoder that looks codes up by file name: no model needed."""
    return lambda paths: np.array([codes_by_name[os.path.basename(p)] for p in paths], np.int8)


def test_build_and_query_with_an_injected_encoder(tmp_path):
    codes = {"a": [1, 1, 1, 1], "b": [1, 1, -1, -1], "c": [1, 1, 1, -1], "q": [1, 1, 1, 1]}
    model = {"bits": 4, "weights_sha256": "m1", "source": "run1"}
    index = build_index(fake_encoder(codes), ["db/a", "db/b", "db/c"], model=model)
    assert index.metadata == {"model": model, "paths": ["db/a", "db/b", "db/c"]}
    index.save(tmp_path / "index")
    index = HammingIndex.load(tmp_path / "index")

    (results,) = query_index(index, fake_encoder(codes), ["q"], k=5, model=model)
    assert [(n.distance, n.id, n.path) for n in results] == [(0, 0, "db/a"), (1, 2, "db/c"), (2, 1, "db/b")]

    other = {"bits": 4, "weights_sha256": "m2", "source": "run2"}
    with pytest.raises(ModelMismatchError, match=r"not the one the index was built with \(run1\)"):
        query_index(index, fake_encoder(codes), ["q"], k=1, model=other)
    with pytest.raises(ModelMismatchError, match="bits: index 4, model 8"):
        query_index(index, fake_encoder(codes), ["q"], k=1, model={**model, "bits": 8})
    with pytest.raises(ValueError, match="k must be a positive integer"):
        query_index(index, fake_encoder(codes), ["q"], k=0, model=model)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Six PNGs of different sizes in a tree, and two query images among them."""
    root = tmp_path_factory.mktemp("images")
    for i in range(6):
        write_png(root / ("sub" if i % 2 else "") / f"im{i}.png", 30 + 10 * i, 40, seed=i)
    return root


@pytest.fixture(scope="module")
def run_dirs(tmp_path_factory):
    """Two fake run directories (config.json + model.keras) holding different tiny 8-bit models."""
    runs = []
    for seed in (0, 1):
        keras.utils.set_random_seed(seed)
        run = tmp_path_factory.mktemp(f"run{seed}")
        write_config(run, dmrh_tf.Config())
        dmrh_tf.build_model(bits=8, regions=1, width=0.0625).save(run / "model.keras")
        runs.append(run)
    return runs


def test_cli_builds_then_queries_and_refuses_another_model(tmp_path, images, run_dirs, capsys, caplog):
    index_path = str(tmp_path / "images.index")
    assert main(["build", "--model", str(run_dirs[0]), "--images", str(images), "--out", index_path]) == 0
    index = HammingIndex.load(index_path, bits=8)
    assert index.metadata["paths"] == list_images(images)
    assert index.metadata["model"]["bits"] == 8
    capsys.readouterr()

    # The same model given as its .keras file matches the run directory's fingerprint.
    query = str(images / "sub" / "im3.png")
    model_file = str(run_dirs[0] / "model.keras")
    assert main(["query", "--index", index_path, "--model", model_file, query, "-k", "6"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"# {query}"
    rows = [line.split("\t") for line in lines[1:]]
    assert [row[0] for row in rows] == ["1", "2", "3", "4", "5", "6"]
    distances = [int(row[1]) for row in rows]
    assert distances == sorted(distances) and distances[0] == 0
    assert [query, "0"] in [[row[2], row[1]] for row in rows]

    caplog.clear()
    with caplog.at_level(logging.ERROR):
        status = main(["query", "--index", index_path, "--model", str(run_dirs[1]), query])
    assert status == 1
    assert "is not the one the index was built with" in caplog.text
    assert capsys.readouterr().out == ""


def test_cli_errors_are_reported_not_raised(tmp_path, images, run_dirs, caplog):
    index_path = str(tmp_path / "index")
    HammingIndex(8, metadata={"model": {"bits": 8}, "paths": ["x"]}).save(index_path)
    build = ["build", "--model", str(run_dirs[0]), "--images", str(images), "--out", index_path]
    query = ["query", "--index", index_path, "--model", str(run_dirs[0]), str(images / "im0.png")]
    for argv, message in [
        ([*build, "--param", "nprobe"], "KEY=VALUE"),
        ([*build, "--backend", "faiss_ivf", "--param", "nprobe=x"], "must be an integer"),
        ([*build, "--param", "nflip=1"], "backend 'faiss' takes parameters"),
        ([*query, "-k", "0"], "k must be a positive integer"),
        ([*query, "--index", str(tmp_path / "missing.index")], "missing.index"),
    ]:
        caplog.clear()
        with caplog.at_level(logging.ERROR):
            assert main(argv) == 1, argv
        assert message in caplog.text


def test_python_dash_m_entry_point(monkeypatch, tmp_path, caplog):
    monkeypatch.setattr(sys, "argv", ["dmrh_tf.index", "query", "--index", "i", "--model", "m", "q.png"])
    with pytest.raises(SystemExit) as exit_info, caplog.at_level(logging.ERROR):
        runpy.run_module("dmrh_tf.index", run_name="__main__")
    assert exit_info.value.code == 1
    assert "q.png" in caplog.text


def test_a_run_with_learned_database_codes_indexes_its_training_images_with_them(tmp_path, images):
    """ADSH learns the database codes V of its training images: `index build` uses V for those
    images and the network for any other, while queries always go through the network."""
    from dmrh_tf.data.split_lists import write_split_lists
    from dmrh_tf.data.splits import Split, Splits
    from dmrh_tf.index.image_encoder import ImageEncoder
    from dmrh_tf.training.run_dir import write_database_codes

    paths = list_images(images)
    run = tmp_path / "adsh_run"
    keras.utils.set_random_seed(0)
    write_config(run, dmrh_tf.Config(method="adsh", regions=1, bits=8))
    dmrh_tf.build_model(bits=8, regions=1, width=0.0625).save(run / "model.keras")
    train = Split(ids=np.array(paths[:4]), labels=np.eye(4, dtype=np.float32), images=np.array(paths[:4]))
    write_split_lists(Splits("folder", train, train, train), run / "splits")
    network = ImageEncoder.from_path(run, progress=False)(paths)
    learned = -network[:4]  # codes the network would never give, so their use is visible
    write_database_codes(run, learned)

    encoder = ImageEncoder.from_path(run, progress=False)
    np.testing.assert_array_equal(encoder(paths), network)  # queries: the network
    np.testing.assert_array_equal(encoder.database(paths), np.concatenate([learned, network[4:]]))
    index_path = str(tmp_path / "adsh.index")
    assert main(["build", "--model", str(run), "--images", str(images), "--out", index_path]) == 0
    index = HammingIndex.load(index_path, bits=8)
    distances, ids = index.search(learned[:1], 1)
    assert ids[0, 0] == 0 and distances[0, 0] == 0  # image 0 is stored with its learned code
