"""The milvus backend on Milvus Lite (a .db file in a temporary directory).

BIN_FLAT must equal the NumPy oracle id for id, ties included, also when Milvus breaks ties in the
worst order and when they run past its 16,384-hit cap. BIN_IVF_FLAT, which Milvus Lite cannot
build, is checked on a recording fake client for what it sends. Then: persistence (the index file
points at the collection), the resumable image ingest (a real SIGKILL of a subprocess, and a
fault between batches through the CLI), and the production query path: export → local gRPC
server → Milvus Lite, with no model loaded in the querying code.
"""

import hashlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
import zipfile

import keras
import numpy as np
import pytest
from serving_support import make_run_dir, png, smooth_images

import dmrh_tf.training.run_dir
from dmrh_tf.index import HammingIndex, ModelMismatchError, list_images, query_index
from dmrh_tf.index.backends import milvus_collection
from dmrh_tf.index.backends.milvus_collection import MilvusCollection
from dmrh_tf.index.cli import main
from dmrh_tf.index.image_ingest import ingest_images
from dmrh_tf.index.serving_encoder import ServingEncoder
from serving.export import export_run
from serving.server import ModelServer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def release_lite(uri):
    """Stop this process's Milvus Lite server of `uri` (it holds a file lock until then)."""
    from milvus_lite.server_manager import server_manager_instance

    server_manager_instance.release_server(uri)


@pytest.fixture(scope="module")
def uri(tmp_path_factory):
    """One Milvus Lite database for the module; each test uses its own collections."""
    path = str(tmp_path_factory.mktemp("milvus") / "test.db")
    yield path
    release_lite(path)


def collection_name(request, suffix=""):
    return re.sub(r"\W", "_", f"{request.node.name}{suffix}")[:200]


def random_bits(rng, n, bits):
    return rng.integers(0, 2, (n, bits)).astype(np.uint8)


def oracle(bits, db, ids, queries, k):
    reference = HammingIndex(bits, "numpy")
    reference.add(db, ids)
    return reference.search(queries, k)


@pytest.mark.parametrize(
    ("bits", "n", "k"), [(3, 400, 50), (8, 3000, 10), (8, 2000, 2000), (12, 600, 7), (64, 2000, 100)]
)
def test_bin_flat_equals_the_numpy_oracle_ties_included(uri, request, bits, n, k):
    """Few-bit codes tie massively; ids run backwards so id order is not insertion order."""
    rng = np.random.default_rng(bits + n)
    db, queries = random_bits(rng, n, bits), random_bits(rng, 30, bits)
    ids = np.arange(n)[::-1] * 3 - 7
    index = HammingIndex(bits, "milvus", uri=uri, collection=collection_name(request))
    assert index.exact and index.holds_rows
    index.add(db[: n // 3], ids[: n // 3])
    index.add(db[n // 3 :], ids[n // 3 :])
    assert len(index) == n
    for got, expected in zip(index.search(queries, k), oracle(bits, db, ids, queries, k), strict=True):
        np.testing.assert_array_equal(got, expected)


def worst_tie_order(real_search):
    """A Milvus that keeps the *latest* positions among ties (allowed: milvus-io/milvus#31412)."""

    def search(self, packed, limit, params, filter_=""):
        results = []
        for d, p, i in real_search(self, packed, milvus_collection.MAX_RESULTS, params, filter_):
            order = np.lexsort((-p, d))[:limit]
            results.append((d[order], p[order], i[order]))
        return results

    return search


def test_ties_past_the_window_and_past_the_cap_with_the_worst_tie_order(uri, request, monkeypatch):
    """Small cap (40 hits a search): the range search on the k-th distance must page down by
    position; with Milvus picking the worst tied codes, only that gives the oracle's answer."""
    bits, n, k = 6, 1500, 30
    rng = np.random.default_rng(0)
    db, queries = random_bits(rng, n, bits), random_bits(rng, 20, bits)
    index = HammingIndex(bits, "milvus", uri=uri, collection=collection_name(request))
    index.add(db)
    expected = oracle(bits, db, None, queries, k)
    calls = []
    real_search = MilvusCollection.search
    adversary = worst_tie_order(real_search)

    def recorded(self, packed, limit, params, filter_=""):
        calls.append((limit, params, filter_))
        return adversary(self, packed, limit, params, filter_)

    monkeypatch.setattr(MilvusCollection, "search", recorded)
    # The adversary alone returns other codes than the oracle (the test is not vacuous) ...
    naive = [p[:k] for _, p, _ in adversary(index._backend._collection, np.packbits(queries, axis=1), k, {})]
    assert (np.sort(naive, axis=1) != np.sort(expected[1], axis=1)).any()
    monkeypatch.setattr(milvus_collection, "MAX_RESULTS", 40)
    calls.clear()
    for got, want in zip(index.search(queries, k), expected, strict=True):
        np.testing.assert_array_equal(got, want)
    # ... and the answer needed range searches, some of them filtered by position.
    assert any("range_filter" in params for _, params, _ in calls)
    assert any(filter_.startswith("position <=") for *_, filter_ in calls)


def test_more_ties_than_milvus_returns_at_once(uri, request):
    """20,000 copies of one code: 16,384 hits cannot hold the ties at distance 0."""
    rng = np.random.default_rng(1)
    bits = 16
    db = np.repeat(random_bits(rng, 1, bits), 20_000, axis=0)
    db[::997] = random_bits(rng, len(db[::997]), bits)
    ids = rng.permutation(len(db))
    index = HammingIndex(bits, "milvus", uri=uri, collection=collection_name(request))
    index.add(db, ids)
    queries = np.concatenate([db[:1], random_bits(rng, 3, bits)])
    for got, expected in zip(index.search(queries, 100), oracle(bits, db, ids, queries, 100), strict=True):
        np.testing.assert_array_equal(got, expected)
    with pytest.raises(ValueError, match="at most 16383 neighbours per query, asked for 16384"):
        index.search(queries, 16384)


def test_ids_paths_and_input_checks(uri, request):
    index = HammingIndex(16, "milvus", uri=uri, collection=collection_name(request), metadata={"m": 1})
    with pytest.raises(ValueError, match="index is empty"):
        index.search(np.ones((1, 16), np.int8), 1)
    codes = random_bits(np.random.default_rng(2), 5, 16)
    index.add(codes, ids=[7, 3, 9, 1, 4], paths=["a", "b", "c", "d", "e"])
    for ids, error, match in [
        ([20, 21, 21, 22, 23], ValueError, "duplicates"),
        ([20, 21, 9, 22, 23], ValueError, "id 9 is already in the index"),
        ([0.0, 1.0, 2.0, 3.0, 4.0], TypeError, "integers"),
    ]:
        with pytest.raises(error, match=match):
            index.add(codes, ids)
    with pytest.raises(ValueError, match="2 paths for 5 codes"):
        index.add(codes, ids=[20, 21, 22, 23, 24], paths=["x", "y"])
    assert len(index) == 5
    distances, ids = index.search(codes[:3], 10)
    assert distances.shape == ids.shape == (3, 5) and distances.dtype == np.int32 and ids.dtype == np.int64
    assert sorted(ids[0]) == [1, 3, 4, 7, 9] and ids[0, 0] == 7 and distances[0, 0] == 0
    np.testing.assert_array_equal(index.ids, [7, 3, 9, 1, 4])
    np.testing.assert_array_equal(index.contains([1, 2, 9]), [True, False, True])
    assert index.paths_of([9, 7, 9]) == ["c", "a", "c"]
    with pytest.raises(ValueError, match="id 2 is not in"):
        index.paths_of([2])
    assert index.metadata == {"m": 1}
    assert index.search(np.zeros((0, 16), np.int8), 3)[0].shape == (0, 3)
    assert index.search(codes[:1], 20_000)[0].shape == (1, 5)  # k is cut to the size first
    with pytest.raises(ValueError, match="stores no paths"):
        HammingIndex(16, "numpy").add(codes, paths=list("abcde"))


def test_save_records_the_collection_and_load_reconnects(uri, request, tmp_path):
    rng = np.random.default_rng(3)
    db, queries = random_bits(rng, 600, 12), random_bits(rng, 20, 12)
    name = collection_name(request)
    index = HammingIndex(12, "milvus", uri=uri, collection=name, metadata={"model": {"bits": 12}})
    index.add(db, ids=np.arange(600) * 3)
    before = index.search(queries, 15)
    index.save(tmp_path / "codes.index")
    with zipfile.ZipFile(tmp_path / "codes.index") as archive:
        meta = json.loads(archive.read("meta.json"))
        assert archive.read("backend.bin") == b""  # no codes in the file
        assert archive.getinfo("ids.npy").file_size < 200  # an empty id array
    assert meta["backend_params"] == {
        "uri": os.path.abspath(uri),
        "collection": name,
        "index_type": "BIN_FLAT",
    }

    loaded = HammingIndex.load(tmp_path / "codes.index", bits=12)
    assert (loaded.backend, len(loaded), loaded.metadata) == ("milvus", 600, {"model": {"bits": 12}})
    for got, expected in zip(loaded.search(queries, 15), before, strict=True):
        np.testing.assert_array_equal(got, expected)
    loaded.add(db[:2], ids=[-1, -2])  # the collection keeps growing
    connected = HammingIndex.connect("milvus", uri=uri, collection=name)
    assert (connected.bits, len(connected), connected.metadata) == (12, 602, {"model": {"bits": 12}})
    assert list(connected.search(db[:1], 2)[1][0]) == [0, -1]
    # Opened again with other metadata, the collection keeps its own.
    assert HammingIndex(12, "milvus", uri=uri, collection=name, metadata={"x": 1}).metadata == {
        "model": {"bits": 12}
    }

    missing = {"uri": uri, "collection": "nowhere"}
    with pytest.raises(ValueError, match="there is no Milvus collection 'nowhere'"):
        HammingIndex.connect("milvus", **missing)
    with pytest.raises(ValueError, match="keeps its codes in an index file"):
        HammingIndex.connect("faiss")
    meta["backend_params"]["collection"] = "nowhere"
    with zipfile.ZipFile(tmp_path / "moved.index", "w") as archive:
        archive.writestr("meta.json", json.dumps(meta))
        archive.writestr("ids.npy", b"")
        archive.writestr("backend.bin", b"")
    with pytest.raises(ValueError, match="collection 'nowhere' is not at"):
        HammingIndex.load(tmp_path / "moved.index")


def test_settings_are_checked(uri, request):
    name = collection_name(request)
    HammingIndex(12, "milvus", uri=uri, collection=name)
    for bits, params, match in [
        (16, {}, "holds 12-bit codes, not 16-bit"),  # 12 and 16 bits both take 2 bytes
        (12, {"index_type": "HNSW"}, "index_type must be one of"),
        (12, {"index_type": "BIN_IVF_FLAT"}, "Milvus Lite .* builds only BIN_FLAT"),
        (12, {"nprobe": 8}, "BIN_FLAT \\(exact\\) takes none"),
        (12, {"collection": ""}, "needs a uri and a collection"),
        (12, {"flat": 1}, "takes parameters"),
    ]:
        with pytest.raises(ValueError, match=match):
            HammingIndex(bits, "milvus", **{"uri": uri, "collection": name, **params})
    with pytest.raises(ValueError, match=r"BIN_FLAT \(exact\) has none"):
        HammingIndex(12, "milvus", uri=uri, collection=name).set_search_params(nprobe=4)


class RecordingClient:
    """A stand-in for `pymilvus.MilvusClient` on a server: keeps rows, brute-forces searches, and
    records the index and search parameters it is sent (Milvus Lite cannot build BIN_IVF_FLAT)."""

    def __init__(self):
        self.collections, self.index_params, self.search_params = {}, {}, []

    def has_collection(self, name):
        return name in self.collections

    def prepare_index_params(self):
        from pymilvus import MilvusClient

        return MilvusClient.prepare_index_params()

    def create_collection(self, name, schema, index_params, consistency_level):
        (index,) = [index.to_dict() for index in index_params]
        self.index_params[name] = {
            "index_type": index.pop("index_type"),
            "metric_type": index.pop("metric_type"),
            "params": {k: v for k, v in index.items() if k not in ("field_name", "index_name")},
            "consistency": consistency_level,
        }
        fields = [{"name": f.name, "params": f.params} for f in schema.fields]
        self.collections[name] = {"description": schema.description, "fields": fields, "rows": []}

    def describe_collection(self, name):
        return self.collections[name]

    def describe_index(self, name, field):
        info = self.index_params[name]
        return {"index_type": info["index_type"], "metric_type": info["metric_type"], **info["params"]}

    def get_load_state(self, name):
        return {"state": "Loaded"}

    def insert(self, name, rows):
        self.collections[name]["rows"] += rows

    def query(self, name, filter, output_fields, consistency_level, limit=None):
        rows = self.collections[name]["rows"]
        if output_fields == ["count(*)"]:
            return [{"count(*)": len(rows)}]
        if filter.startswith("position >="):
            return [r for r in rows if r["position"] >= int(filter.split()[2])][:limit]
        if filter.startswith("id in "):
            wanted = set(json.loads(filter[len("id in ") :]))
            return [r for r in rows if r["id"] in wanted][:limit]
        raise AssertionError(f"unexpected query {filter!r}")

    def search(self, name, data, anns_field, limit, filter, output_fields, search_params, consistency_level):
        self.search_params.append((search_params, consistency_level))
        rows = self.collections[name]["rows"]
        db = np.array([np.frombuffer(r["code"], np.uint8) for r in rows])
        results = []
        for query in data:
            distances = np.unpackbits(db ^ np.frombuffer(query, np.uint8), axis=1).sum(axis=1)
            order = np.argsort(distances, kind="stable")[:limit]
            results.append([{"distance": float(distances[j]), "entity": rows[j]} for j in order])
        return results


def test_bin_ivf_flat_sends_its_settings_to_a_server(monkeypatch):
    client = RecordingClient()
    monkeypatch.setattr(milvus_collection, "connect", lambda uri: client)
    rng = np.random.default_rng(4)
    db, queries = random_bits(rng, 300, 64), random_bits(rng, 5, 64)
    index = HammingIndex(
        64, "milvus", uri="http://milvus:19530", collection="ivf", index_type="BIN_IVF_FLAT", nlist=16
    )
    assert not index.exact and index.backend_params["nprobe"] == 32
    assert client.index_params["ivf"] == {
        "index_type": "BIN_IVF_FLAT",
        "metric_type": "HAMMING",
        "params": {"nlist": 16},
        "consistency": "Strong",
    }
    index.add(db)
    index.set_search_params(nprobe=4)
    distances, ids = index.search(queries, 10)
    assert client.search_params == [({"metric_type": "HAMMING", "params": {"nprobe": 4}}, "Strong")]
    expected = oracle(64, db, None, queries, 10)  # the fake scans everything, as nprobe = nlist would
    np.testing.assert_array_equal(distances, expected[0])
    np.testing.assert_array_equal(ids, expected[1])
    with pytest.raises(ValueError, match="was built with nlist=16"):
        HammingIndex(64, "milvus", uri="http://milvus:19530", collection="ivf", index_type="BIN_IVF_FLAT")


# --- resumable ingest ---


def name_codes(paths, bits=16):
    """A model stand-in: each file's code is the first `bits` bits of the SHA-256 of its name."""
    digests = [hashlib.sha256(os.path.basename(p).encode()).digest() for p in paths]
    return np.unpackbits(np.frombuffer(b"".join(digests), np.uint8).reshape(len(paths), 32), axis=1)[:, :bits]


FAKE_MODEL = {"bits": 16, "weights_sha256": "fake", "source": "name_codes"}

KILLED_INGEST = """
import os, sys, time
sys.path[:0] = [{repo!r}, {tests!r}]
from dmrh_tf.index import HammingIndex, list_images
from dmrh_tf.index.image_ingest import ingest_images
from test_index_milvus import FAKE_MODEL, name_codes

calls = 0
def encode(paths):
    global calls
    calls += 1
    if calls == 3:  # two batches are in: signal, then hang until killed
        open({marker!r}, "w").close()
        time.sleep(600)
    return name_codes(paths)

index = HammingIndex(16, "milvus", uri={uri!r}, collection="images", metadata={{"model": FAKE_MODEL}})
ingest_images(index, encode, list_images({images!r}), model=FAKE_MODEL, batch_size=4, progress=False)
"""


def make_files(root, n):
    root.mkdir()
    for i in range(n):
        (root / f"im{i:02d}.png").write_bytes(b"")  # the fake encoder never reads them
    return list_images(root)


def test_ingest_killed_mid_way_and_rerun_holds_every_image_once(tmp_path):
    paths = make_files(tmp_path / "images", 18)
    uri, marker = str(tmp_path / "ingest.db"), str(tmp_path / "two_batches_in")
    script = KILLED_INGEST.format(
        repo=REPO, tests=os.path.join(REPO, "tests"), marker=marker, uri=uri, images=str(tmp_path / "images")
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    child = subprocess.Popen([sys.executable, "-c", script], env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not os.path.exists(marker):
        assert child.poll() is None, child.stderr.read()[-3000:]
        assert time.monotonic() < deadline, "the ingest never got two batches in"
        time.sleep(0.2)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=60)
    child.stderr.close()
    try:
        index = HammingIndex.connect("milvus", uri=uri, collection="images")
        assert len(index) == 8  # two batches of 4
        assert ingest_images(index, name_codes, paths, model=FAKE_MODEL, batch_size=4, progress=False) == 10
        assert ingest_images(index, name_codes, paths, model=FAKE_MODEL, batch_size=5, progress=False) == 0
        assert len(index) == 18
        np.testing.assert_array_equal(np.sort(index.ids), np.arange(18))
        assert index.paths_of(np.arange(18)) == paths
        codes = name_codes(paths)
        got = index.search(codes[:5], 18)
        for a, b in zip(got, oracle(16, codes, None, codes[:5], 18), strict=True):
            np.testing.assert_array_equal(a, b)
    finally:
        release_lite(uri)


def test_ingest_refuses_another_model_and_a_changed_listing(uri, request, tmp_path):
    paths = make_files(tmp_path / "images", 6)
    index = HammingIndex(
        16, "milvus", uri=uri, collection=collection_name(request), metadata={"model": FAKE_MODEL}
    )
    ingest_images(index, name_codes, paths[:4], model=FAKE_MODEL, batch_size=3, progress=False)
    with pytest.raises(ModelMismatchError, match="weights_sha256"):
        ingest_images(index, name_codes, paths, model={**FAKE_MODEL, "weights_sha256": "other"})
    with pytest.raises(ValueError, match=r"image id 1 is .*im01\.png in the index but .*im02\.png"):
        ingest_images(index, name_codes, paths[:1] + paths[2:], model=FAKE_MODEL, progress=False)
    with pytest.raises(ValueError, match="holds 4 images, more than the 3 listed"):
        ingest_images(index, name_codes, paths[:3], model=FAKE_MODEL, progress=False)
    with pytest.raises(ValueError, match="keeps no rows"):
        ingest_images(HammingIndex(16), name_codes, paths, model=FAKE_MODEL)
    assert len(index) == 4


# --- the command line, a real model, and the served path ---


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Ten smooth PNGs of two sizes (varied codes under a random-weight model)."""
    root = tmp_path_factory.mktemp("photos")
    for i, image in enumerate([*smooth_images(5, 60, 80, seed=1), *smooth_images(5, 90, 70, seed=2)]):
        (root / ("sub" if i % 3 else "") / f"p{i}.png").parent.mkdir(exist_ok=True)
        (root / ("sub" if i % 3 else "") / f"p{i}.png").write_bytes(png(image))
    return root


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(run dir, other run dir, server): the run's export served on 127.0.0.1."""
    root = tmp_path_factory.mktemp("served")
    make_run_dir(str(root / "run"))
    make_run_dir(str(root / "other"), seed=1)
    export_run(str(root / "run"), str(root / "models"), "dmrh")
    server = ModelServer("dmrh", str(root / "models" / "dmrh"), port=0, host="127.0.0.1")
    assert server.start(timeout=120)
    yield root / "run", root / "other", server
    server.stop(grace=1)


def query_lines(capsys, argv):
    capsys.readouterr()
    assert main(argv) == 0, argv
    return capsys.readouterr().out.splitlines()


def test_cli_build_resumes_after_a_fault_and_the_served_query_path_matches(
    uri, request, tmp_path, images, served, capsys, caplog, monkeypatch
):
    run, other, server = served
    name = collection_name(request)
    build = ["build", "--model", str(run), "--images", str(images), "--backend", "milvus"]
    build += ["--uri", uri, "--collection", name, "--insert-batch", "3"]

    # A fault between batches: the third insert fails, the build stops with 6 images in.
    real_add, adds = HammingIndex.add, []

    def failing_add(index, *args, **kwargs):
        adds.append(1)
        if len(adds) == 3:
            raise ConnectionError("Milvus went away")
        return real_add(index, *args, **kwargs)

    monkeypatch.setattr(HammingIndex, "add", failing_add)
    with pytest.raises(ConnectionError):
        main(build)
    monkeypatch.undo()
    assert len(HammingIndex.connect("milvus", uri=uri, collection=name)) == 6

    with caplog.at_level(logging.ERROR):  # another model may not resume it
        assert main([*build[:2], str(other), *build[3:]]) == 1
    assert "is not the one the index was built with" in caplog.text
    assert main(build) == 0
    index = HammingIndex.connect("milvus", uri=uri, collection=name)
    paths = list_images(images)
    assert len(index) == len(paths) == 10
    np.testing.assert_array_equal(np.sort(index.ids), np.arange(10))
    assert index.paths_of(np.arange(10)) == paths

    # The same model into a NumPy index file (the oracle): identical neighbours, ties included.
    oracle_file = str(tmp_path / "oracle.index")
    assert (
        main(
            [
                "build",
                "--model",
                str(run),
                "--images",
                str(images),
                "--out",
                oracle_file,
                "--backend",
                "numpy",
            ]
        )
        == 0
    )
    queries = [paths[0], paths[7]]
    in_process = query_lines(
        capsys, ["query", "--uri", uri, "--collection", name, "--model", str(run), *queries, "-k", "10"]
    )
    expected = query_lines(
        capsys, ["query", "--index", oracle_file, "--model", str(run), *queries, "-k", "10"]
    )
    assert in_process == expected and len(expected) == 22
    assert len({line.split("\t")[1] for line in expected if "\t" in line}) > 1  # varied distances

    # The production path: codes from the server, neighbours from Milvus, no model in this process.
    def no_model(*args, **kwargs):
        raise AssertionError("the served query path loaded a model")

    monkeypatch.setattr(keras.saving, "load_model", no_model)
    monkeypatch.setattr(dmrh_tf.training.run_dir, "load_run", no_model)
    served_query = ["query", "--uri", uri, "--collection", name, "--serving-target", server.address]
    assert query_lines(capsys, [*served_query, *queries, "-k", "10"]) == in_process

    pointer = str(tmp_path / "milvus.index")  # an index file pointing at the collection works too
    index.save(pointer)
    assert (
        query_lines(
            capsys, ["query", "--index", pointer, "--serving-target", server.address, *queries, "-k", "10"]
        )
        == in_process
    )


def test_a_server_of_another_model_is_refused(uri, request):
    class OtherServer:
        target, model_name = "host:8500", "dmrh"

        def export_info(self):
            return {"bits": 16, "input_side": 32, "weights_sha256": "served", "version": 3}

        def hash_files(self, paths):
            raise AssertionError("must not hash before the model check")

    index = HammingIndex(
        16, "milvus", uri=uri, collection=collection_name(request), metadata={"model": FAKE_MODEL}
    )
    index.add(name_codes(["a"]), paths=["a"])
    encoder = ServingEncoder(OtherServer())
    assert encoder.bits == 16 and "version 3 served at host:8500" in encoder.fingerprint["source"]
    with pytest.raises(ModelMismatchError, match="weights_sha256: index 'fake', model 'served'"):
        query_index(index, encoder, ["a"], 1, model=encoder.fingerprint)


def test_cli_milvus_errors_are_reported(uri, tmp_path, images, caplog):
    model_file = str(tmp_path / "none.keras")
    for argv, message in [
        (
            ["build", "--model", model_file, "--images", str(images), "--backend", "milvus"],
            "needs --uri and --collection",
        ),
        (["build", "--model", model_file, "--images", str(images)], "writes an index file: give --out"),
        (["query", "--model", model_file, str(images / "p0.png")], "give the index"),
        (
            ["query", "--uri", uri, "--collection", "absent", "--model", model_file, str(images / "p0.png")],
            "no Milvus collection 'absent'",
        ),
        (["query", "--index", "x", "--uri", uri, "--model", model_file, str(images / "p0.png")], "not both"),
    ]:
        caplog.clear()
        with caplog.at_level(logging.ERROR):
            assert main(argv) == 1, argv
        assert message in caplog.text, argv
