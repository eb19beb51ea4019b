"""Every benchmark script runs end to end at a tiny size and writes the JSON its docs describe.

Correctness of the scripts only: no timing is asserted (timings are the scripts' output).
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent

TINY = {
    "model_throughput": [
        "--widths", "0.125", "--regions", "1", "2", "--train-batch", "4", "--infer-batch", "4",
        "--steps", "1", "--min-seconds", "0", "--rounds", "1", "--warmup", "1",
    ],
    "train_throughput": [
        "--widths", "0.125", "--regions", "1", "--batch-size", "4", "--steps", "2", "--memory", "64",
        "--encode", "8", "--rounds", "2", "--profile-steps", "2",
    ],
    "evaluation_speed": [
        "--queries", "40", "--database", "300", "--bits", "16", "--k", "50", "--loop-queries", "10",
        "--repeats", "1",
    ],
    "index_search": ["--n", "2000", "--queries", "20", "--bits", "32", "--k", "5", "--numpy-queries", "5"],
    "serving_throughput": [
        "--bits", "8", "--regions", "1", "--width", "0.125", "--batch-sizes", "1", "2",
        "--seconds", "0.2", "--rounds", "1", "--warmup", "1", "--max-calls", "3",
    ],
}  # fmt: skip


def run_benchmark(name, args, out, env=None, out_flag="--out"):
    command = [sys.executable, str(REPO / "benchmarks" / f"{name}.py"), *args, out_flag, str(out)]
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    result = subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(out.read_text())


def check_model_throughput(report):
    rows = report["results"]
    assert [(row["width"], row["regions"], row["input_side"]) for row in rows] == [
        (0.125, 1, 224),
        (0.125, 2, 256),
    ]
    for row in rows:
        assert row["parameters"] > 0
        for kind in ("inference", "training"):
            assert row[kind]["batch_size"] == 4 and row[kind]["images_per_second"] > 0
    assert rows[1]["forward_gflop_per_image"] > rows[0]["forward_gflop_per_image"] > 0  # larger input


def check_train_throughput(report):
    (row,) = report["results"]
    assert (row["width"], row["regions"], row["input_side"], row["batch_size"]) == (0.125, 1, 224, 4)
    assert row["images_per_second"] > 0 and row["forward_gflop_per_image"] > 0
    assert row["rounds"] == 2 and len(row["images_per_second_rounds"]) == 2
    assert row["encode_images"] == 8 and row["encode_images_per_second"] > 0
    # Where the profiled steps' time went, by op type: the convolutions are there, and the table adds up.
    profile = row["profile_ms_per_step"]
    assert row["profile_steps"] == 2 and row["profile_step_seconds"] > 0
    assert any("Conv2D" in kind for kind in profile) and profile["total"] > 0
    assert abs(sum(v for k, v in profile.items() if k != "total") - profile["total"]) < 0.1


def check_evaluation_speed(report):
    # Every loop implementation agrees with the chunked mAP@k on the queries it measured.
    assert report["problem"]["queries"] == 40 and 0 < report["chunked"]["map"] < 1
    assert {"spec_loop", "lean_loop", "radix_loop"} <= set(report["loops"])
    assert all(loop["abs_difference_to_chunked"] < 1e-9 for loop in report["loops"].values())


def check_index_search(report):
    for rows in report["results"].values():
        exact = [row for row in rows if row["backend"] == "faiss"]
        assert exact and all(row["recall"] == 1.0 for row in exact)
        assert all(row["agrees_with_faiss"] for row in rows if row["backend"] == "numpy")


def check_serving_throughput(report):
    measured = {(row["path"], row["batch_size"]) for row in report["results"] if row["images_per_second"] > 0}
    assert measured == {(path, batch) for path in ("in_process", "grpc") for batch in (1, 2)}


@pytest.mark.parametrize("name", sorted(TINY))
def test_benchmark_runs_and_records_its_machine(name, tmp_path):
    report = run_benchmark(name, TINY[name], tmp_path / f"{name}.json")
    machine = report["machine"]
    assert machine["cpu_count"] >= 1 and machine["platform"]
    if os.path.exists("/proc/cpuinfo"):  # which CPU: the project's machines change between sessions
        assert machine["cpu_model"] and isinstance(machine["cpu_flags"], list)
    assert len(machine["load_average"]) == 3 and len(machine["load_average_end"]) == 3
    assert machine["backend"] == "tensorflow" and machine["accelerators"] == []
    globals()[f"check_{name}"](report)


def test_time_to_quality_scores_every_epoch_of_a_run(tmp_path):
    """Two timed epochs of a tiny run: one point each, minutes growing, the last epoch's mAP the
    run's own (its model is the last checkpoint, as rescoring it shows), and the plots written."""
    run = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "dmrh_tf.train",
        "--preset",
        "smoke",
        "--run-dir",
        str(run),
        "--verbose",
        "0",
    ]
    subprocess.run(command, cwd=REPO, check=True, capture_output=True, timeout=600)
    with open(run / "history.csv") as f:
        header = f.readline().strip().split(",")
    assert "epoch_seconds" in header
    results = json.loads((run / "results.json").read_text())
    assert results["train_seconds"] > 0 and results["evaluate_seconds"] > 0
    plots = tmp_path / "plots"
    report = run_benchmark(
        "time_to_quality", ["--runs", str(run), "--plots", str(plots)], tmp_path / "t.json"
    )
    (entry,) = report["runs"]
    points = entry["points"]
    assert [p["epoch"] for p in points] == [1, 2]
    assert 0 < points[0]["minutes"] < points[1]["minutes"]
    assert points[1]["minutes"] * 60 >= results["evaluate_seconds"]
    assert points[1]["map_at_k"] == results["map_at_k"]  # taken from the run's own evaluation
    assert all(np.isfinite(p["loss"]) for p in points)
    assert (plots / "time_to_quality.png").stat().st_size > 0 and (plots / "convergence.png").exists()
    assert json.loads((run / "epoch_maps.json").read_text()).keys() == {"1"}  # resumable
    # Scoring the last checkpoint gives the run's own mAP: the two are the same weights.
    report = run_benchmark(
        "time_to_quality",
        ["--runs", str(run), "--plots", str(plots), "--rescore-last"],
        tmp_path / "t.json",
    )
    assert json.loads((run / "epoch_maps.json").read_text()).keys() == {"1", "2"}
    assert abs(report["runs"][0]["points"][1]["map_at_k"] - results["map_at_k"]) < 1e-9
    # --add keeps the record's runs under other labels as recorded (their run directories may be
    # gone): the earlier curve and its machine stay beside the new one, and a label given again is
    # replaced, not repeated.
    kept = report["runs"][0]
    report = run_benchmark(
        "time_to_quality",
        ["--runs", str(run), "--labels", "again", "--plots", str(plots), "--add"],
        tmp_path / "t.json",
    )
    assert [r["label"] for r in report["runs"]] == ["run", "again"]
    assert report["runs"][0]["points"] == kept["points"] and "cpu_count" in report["runs"][0]["machine"]
    assert report["runs"][1]["points"] == kept["points"]  # the same run, from its epoch_maps.json
    report = run_benchmark(
        "time_to_quality",
        ["--runs", str(run), "--labels", "again", "--plots", str(plots), "--add"],
        tmp_path / "t.json",
    )
    assert [r["label"] for r in report["runs"]] == ["run", "again"]


def test_speedup_compares_the_medians_of_two_sets_of_reports(tmp_path):
    def report(name, rates):
        rows = [
            {"width": 0.25, "regions": 2, "images_per_second": r, "encode_images_per_second": 2 * r}
            for r in rates
        ]
        (tmp_path / name).write_text(json.dumps({"results": rows}))
        return str(tmp_path / name)

    before = [report(f"b{i}.json", [r]) for i, r in enumerate([10, 30, 20])]
    after = [report(f"a{i}.json", [r]) for i, r in enumerate([50, 40])]
    command = [
        sys.executable,
        str(REPO / "benchmarks" / "speedup.py"),
        "--before",
        *before,
        "--after",
        *after,
    ]
    subprocess.run([*command, "--out", str(tmp_path / "s.json")], check=True, capture_output=True)
    (row,) = json.loads((tmp_path / "s.json").read_text())["results"]
    assert row["images_per_second"]["before_median"] == 20 and row["images_per_second"]["after_median"] == 45
    assert row["images_per_second"]["speedup"] == 2.25 and row["encode_images_per_second"]["speedup"] == 2.25


def test_regions_study_trains_every_cell_and_summarizes_over_seeds(tmp_path):
    """Two N × two weightings × two seeds of tiny runs: N = 1 runs once (magnitude: the weightings
    coincide there), its epoch is one pass, N > 1 gets the steps the measured step costs allow,
    every run is scored, and each cell's mean, std and paired gain follow from the runs; a second
    call trains nothing (resumable) and keeps the calibration."""
    runs = tmp_path / "runs"
    args = [
        "--dataset", "synthetic", "--preset", "smoke", "--bits", "8", "--regions", "1", "2",
        "--weightings", "magnitude", "learned", "--seeds", "0", "1", "--epochs", "1",
        "--train-size", "64", "--query-size", "16",
        "--calibration-steps", "2", "--runs", str(runs), "--plots", str(tmp_path / "plots"),
    ]  # fmt: skip
    report = run_benchmark("regions_study", args, tmp_path / "r.json")
    cells = [(1, "magnitude"), (2, "magnitude"), (2, "learned")]
    assert [(r["regions"], r["weighting"], r["seed"]) for r in report["runs"]] == [
        (*cell, seed) for seed in (0, 1) for cell in cells
    ]
    costs = {int(n): c for n, c in report["step_seconds"].items()}
    for run in report["runs"]:
        expected = 2 if run["regions"] == 1 else max(1, round(2 * costs[1] / costs[2]))  # 64 // 32
        assert run["steps_per_epoch"] == expected and 0 <= run["map_at_k"] <= 1
        results = json.loads((Path(run["run_dir"]) / "results.json").read_text())
        assert results["regions"] == run["regions"] and results["map_at_k"] == run["map_at_k"]
    by_n = {cell["regions"]: cell for cell in report["cells"] if cell["weighting"] == "magnitude"}
    maps = {
        n: [r["map_at_k"] for r in report["runs"] if r["regions"] == n and r["weighting"] == "magnitude"]
        for n in (1, 2)
    }
    assert by_n[2]["map_at_k_mean"] == round(float(np.mean(maps[2])), 4)
    assert by_n[2]["map_at_k_std"] == round(float(np.std(maps[2], ddof=1)), 4)
    assert by_n[1]["gain_over_n1_per_seed"] == [0.0, 0.0]
    gains = [round(a - b, 4) for a, b in zip(maps[2], maps[1], strict=True)]
    assert by_n[2]["gain_over_n1_per_seed"] == gains
    (learned,) = [cell for cell in report["cells"] if cell["weighting"] == "learned"]
    learned_maps = [r["map_at_k"] for r in report["runs"] if r["weighting"] == "learned"]
    learned_gains = [round(a - b, 4) for a, b in zip(learned_maps, maps[1], strict=True)]
    assert learned["gain_over_n1_per_seed"] == learned_gains
    assert (tmp_path / "plots" / "map_vs_regions_seeds.png").stat().st_size > 0
    stamps = {r["run_dir"]: os.path.getmtime(Path(r["run_dir"]) / "results.json") for r in report["runs"]}
    again = run_benchmark("regions_study", args, tmp_path / "r2.json")
    assert again["runs"] == report["runs"] and again["step_seconds"] == report["step_seconds"]
    assert all(os.path.getmtime(Path(d) / "results.json") == t for d, t in stamps.items())
    control = [*args[:9], "--weightings", "magnitude", "--seeds", "0", *args[15:], "--budget", "images"]
    images = run_benchmark("regions_study", control, tmp_path / "r3.json")
    assert [(r["regions"], r["steps_per_epoch"]) for r in images["runs"]] == [(1, 2), (2, 2)]
    assert images["runs"][0] == report["runs"][0]  # N = 1's run is shared, not trained again
    assert images["runs"][1]["run_dir"].endswith("n2_magnitude_images_seed0")


def _region_codes_module():
    sys.path.insert(0, str(REPO / "benchmarks"))
    import region_codes

    return region_codes


def test_region_codes_measures_agreement_and_localisation_exactly():
    """Agreement counts equal bits over region pairs; a region coded as its own cell's class
    prototype retrieves that cell's class perfectly and the opposite cell's class worse."""
    probe = _region_codes_module()
    one = np.ones((1, 2, 2, 4), np.int8)
    one[0, 0, 1, 3] = -1  # region 1 differs from the other three in 1 of 4 bits
    assert probe.region_agreement(one) == (3 * 0.75 + 3 * 1.0) / 6
    assert probe.region_agreement(np.ones((5, 1, 1, 8), np.int8)) is None
    assert probe.corner_regions(3) == {0: (0, 0), 1: (0, 2), 2: (2, 0), 3: (2, 2)}
    assert probe.corner_regions(1) == {c: (0, 0) for c in range(4)}

    base = {"a": np.array([1, 0, 0], np.float32), "b": np.array([0, 1, 0], np.float32)}
    labels = probe.cell_labels_of(["mosaic2x2:a|-|b|a"], base)
    np.testing.assert_array_equal(labels[0], [[1, 0, 0], [0, 0, 0], [0, 1, 0], [1, 0, 0]])

    rng = np.random.default_rng(0)
    prototypes = rng.choice(np.array([-1, 1], np.int8), (3, 32))  # one code per class
    cells = rng.integers(0, 3, (40, 4))
    region_codes = prototypes[cells].reshape(40, 2, 2, 32)  # region (i, j) codes cell 2i + j
    db_classes = np.repeat(np.arange(3), 20)
    eye = np.eye(3, dtype=np.float32)
    result = probe.localisation(region_codes, prototypes[db_classes], eye[cells], eye[db_classes], 60)
    for row in result["cells"]:
        c = row["cell"]
        assert row["queries"] == int(np.sum(cells[:, c] != cells[:, 3 - c]))
        assert row["own"] == 1.0 and row["opposite"] < 0.7
    assert result["own_minus_opposite"] > 0.3
    logits = np.zeros((4, 6))
    logits[2, :3] = 50.0  # region 2 takes bits 0-2 alone; bits 3-5 stay the plain mean
    weights = probe.learned_weights(logits)
    np.testing.assert_allclose(weights["mean_weight_per_region"], [0.125, 0.125, 0.625, 0.125])
    assert weights["mean_largest_weight"] == (3 * 1.0 + 3 * 0.25) / 6


def test_region_codes_probes_a_trained_mosaic_run(tmp_path):
    """End to end on a tiny mosaic run at N = 2 with learned weighting: the record has the measures
    and the learned weights (a softmax over the 4 regions per bit)."""
    run = tmp_path / "run"
    train = [
        sys.executable, "-m", "dmrh_tf.train", "--preset", "smoke", "--dataset", "mosaic",
        "--mosaic-base", "synthetic", "--regions", "2", "--weighting", "learned", "--epochs", "1",
        "--train-size", "64",
        "--query-size", "32", "--run-dir", str(run),
    ]  # fmt: skip
    subprocess.run(train, check=True, capture_output=True, cwd=REPO)
    report = run_benchmark("region_codes", ["--runs", str(run)], tmp_path / "p.json")
    (row,) = report["runs"]
    assert row["regions"] == 2 and 0 <= row["agreement_between_regions"] <= 1
    assert [cell["region"] for cell in row["localisation"]["cells"]] == [[0, 0], [0, 1], [1, 0], [1, 1]]
    for cell in row["localisation"]["cells"]:
        assert 0 <= cell["queries"] <= 32 and 0 <= cell["own"] <= 1 and 0 <= cell["opposite"] <= 1
    weights = row["learned_weights"]
    assert len(weights["mean_weight_per_region"]) == 4 and weights["uniform_weight"] == 0.25
    assert abs(sum(weights["mean_weight_per_region"]) - 1) < 1e-3
    assert 0.25 - 1e-4 <= weights["mean_largest_weight"] <= 1


def test_quality_suite_records_every_cell_and_adds_a_bit_length(tmp_path):
    """Tiny synthetic suite (DMRH N = 1 and LSH) at 8 bits, then `--add --bits 16`: the report and the
    record hold both bit lengths, each row with its command, and the 8-bit rows survive although
    their runs are deleted before the second call."""

    def quality(*extra):
        args = [
            "--datasets", "synthetic", "--regions", "1", "--methods", "dmrh", "--baselines", "lsh",
            "--preset", "smoke", "--epochs", "1", "--train-size", "64", "--query-size", "16",
            "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "report"), *extra,
        ]  # fmt: skip
        return run_benchmark("quality", args, tmp_path / "q.json", out_flag="--record")

    first = quality("--bits", "8")
    rows = first["datasets"]["synthetic"]["rows"]
    assert sorted((row["method"], row["bits"]) for row in rows) == [("DMRH (N=1)", 8), ("LSH", 8)]
    (dmrh,) = [row for row in rows if row["method"] == "DMRH (N=1)"]
    assert "--bits 8" in dmrh["train_command"] and dmrh["training_seconds"] > 0
    (map_key,) = [key for key in dmrh if key.startswith("map@")]  # the run's own K
    assert 0 <= dmrh[map_key] <= 1 and first["settings"]["preset"] == "smoke"

    shutil.rmtree(tmp_path / "runs")  # the 8-bit runs are gone: --add must keep their rows anyway
    second = quality("--bits", "16", "--add")
    rows = second["datasets"]["synthetic"]["rows"]
    assert sorted((row["method"], row["bits"]) for row in rows) == [
        ("DMRH (N=1)", 8), ("DMRH (N=1)", 16), ("LSH", 8), ("LSH", 16)
    ]  # fmt: skip
    assert [row for row in rows if row["bits"] == 8] == [
        row for row in first["datasets"]["synthetic"]["rows"]
    ]
    report = json.loads((tmp_path / "report" / "synthetic" / "results.json").read_text())
    assert sorted(report["methods"]["DMRH (N=1)"]["bits"]) == ["16", "8"]


def test_op_profile_counts_each_op_type_by_its_self_time(tmp_path):
    """A synthetic trace: an op's self time is its span less the ops nested in it, through a runtime
    span between them; runtime spans, the eager thread and Eigen's pool threads count nothing."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import op_profile
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    space = xplane_pb2.XSpace()
    plane = space.planes.add(name=op_profile.HOST_PLANE)
    for key, name in enumerate(["f:StatefulPartitionedCall", "Iterator::Map", "c:Conv2D", "m:MatMul"], 1):
        plane.event_metadata[key].id, plane.event_metadata[key].name = key, name
    spans = [(1, 0, 100), (2, 10, 50), (3, 20, 30), (4, 100, 30), (3, 140, 5)]  # (op, start, length)
    for line_name in ("tf_Compute/1", "python", "tf_numa_-1_Eigen/2"):
        line = plane.lines.add(name=line_name)
        for key, start, length in spans:
            line.events.add(metadata_id=key, offset_ps=start * 10**9, duration_ps=length * 10**9)
    logdir = tmp_path / "plugins" / "profile" / "run"
    logdir.mkdir(parents=True)
    (logdir / "host.xplane.pb").write_bytes(space.SerializeToString())
    seconds = op_profile.op_self_seconds(str(tmp_path))
    assert seconds == pytest.approx({"StatefulPartitionedCall": 0.07, "Conv2D": 0.035, "MatMul": 0.03})
    table = op_profile.per_step_table(seconds, steps=5, top=1)
    assert table == {"StatefulPartitionedCall": 14.0, "other": 13.0, "total": 27.0}
