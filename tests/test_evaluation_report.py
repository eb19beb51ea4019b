"""The results table and plots, built from results dicts (no model involved)."""

import json

import numpy as np
import pytest

from dmrh_tf.evaluation import retrieval_summary
from dmrh_tf.evaluation.report import (
    add_result,
    empty_results,
    metric_value,
    metrics_to_json,
    read_results,
    results_table,
    table_csv,
    table_markdown,
    write_report,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def hand_results():
    """ITQ at 24 and 48 bits, LSH at 24 only, DMRH N=2 at 48: a table with one empty cell."""
    results = empty_results(dataset="toy", map_k=100)
    results = add_result(results, "DMRH (N=2)", 48, {"map": 0.9}, kind="dmrh", regions=2)
    results = add_result(results, "ITQ", 24, {"map": 0.5, "precision_within_radius": 0.25})
    results = add_result(results, "ITQ", 48, {"map": 0.55})
    return add_result(results, "LSH", 24, {"map": 0.123456})


def test_table_rows_follow_the_paper_and_empty_cells_are_marked():
    methods, bits, values = results_table(hand_results())
    assert methods == ["LSH", "ITQ", "DMRH (N=2)"]  # baselines in the paper's order, then DMRH
    assert bits == [24, 48]
    assert values == [[0.123456, None], [0.5, 0.55], [None, 0.9]]


def test_markdown_and_csv():
    markdown = table_markdown(hand_results())
    assert markdown.startswith("### mAP@100 on toy\n\n| Method | 24 bits | 48 bits |\n|---|---:|---:|\n")
    assert "| LSH | 0.1235 | – |" in markdown
    assert "| DMRH (N=2) | – | 0.9000 |" in markdown
    assert "### Precision within Hamming radius 2 on toy" in markdown
    lines = table_csv(hand_results()).splitlines()
    assert lines[0] == "method,metric,24,48"
    assert lines[1] == "LSH,map,0.123456,"
    assert "ITQ,precision_within_radius,0.250000," in lines
    assert len(lines) == 1 + 3 + 1


def test_precision_and_recall_at_k_tables_read_the_evaluated_ranks():
    metrics = {"map": 0.5, "ks": [10, 100], "precision_at_k": [0.9, 0.7], "recall_at_k": [0.01, 0.1]}
    results = add_result(empty_results(dataset="toy"), "ITQ", 24, metrics)
    results = add_result(results, "ITQ", 48, {"map": 0.6, "ks": [10], "precision_at_k": [0.8]})
    assert metric_value(metrics, "precision@100") == 0.7
    assert metric_value(metrics, "recall@10") == 0.01
    assert metric_value(metrics, "precision@5") is None  # rank not evaluated
    assert results_table(results, "precision@100")[2] == [[0.7, None]]
    markdown = table_markdown(results, metrics=("precision@100",))
    assert markdown.startswith("### Precision@100 on toy\n")
    assert "| ITQ | 0.7000 | – |" in markdown
    assert "ITQ,precision@100,0.700000," in table_csv(results).splitlines()
    with pytest.raises(ValueError, match="unknown metric"):
        metric_value(metrics, "map@100")


def test_add_result_does_not_modify_its_input():
    results = empty_results()
    updated = add_result(results, "LSH", 16, {"map": 0.1})
    assert results == {"methods": {}}
    assert add_result(updated, "LSH", 16, {"map": 0.2})["methods"]["LSH"]["bits"]["16"] == {"map": 0.2}


def test_write_report_from_real_summaries(tmp_path):
    """Random codes for 2 baselines and DMRH N=1, 2 at 8 and 16 bits: every file is written,
    the JSON round-trips and NaN precision (empty Hamming balls) becomes null."""
    rng = np.random.default_rng(0)
    query_labels, db_labels = rng.integers(0, 3, 20), rng.integers(0, 3, 60)
    results = empty_results(dataset="random", map_k=50)
    methods = [("LSH", "baseline", None), ("DMRH (N=1)", "dmrh", 1), ("DMRH (N=2)", "dmrh", 2)]
    for bits in (8, 16):
        for name, kind, regions in methods:
            query = rng.choice([-1, 1], (20, bits))
            database = rng.choice([-1, 1], (60, bits))
            summary = retrieval_summary(query, database, query_labels, db_labels, map_k=50, ks=[1, 10, 50])
            metrics = metrics_to_json(summary)
            results = add_result(results, name, bits, metrics, kind=kind, regions=regions)
    written = write_report(results, tmp_path / "out")
    assert set(written) == {
        "json",
        "markdown",
        "csv",
        "pr_curves",
        "precision_at_k",
        "map_vs_regions",
    }
    for name in ("pr_curves", "precision_at_k", "map_vs_regions"):
        assert written[name].read_bytes()[:8] == PNG_MAGIC
    loaded = read_results(written["json"])
    assert loaded == json.loads(json.dumps(results))
    curve = loaded["methods"]["LSH"]["bits"]["16"]["pr_curve"]
    assert curve["precision"][0] is None or isinstance(curve["precision"][0], float)
    assert len(curve["radius"]) == 17
    assert "| DMRH (N=2) |" in written["markdown"].read_text()


def test_no_dmrh_runs_means_no_map_versus_n_plot(tmp_path):
    results = add_result(empty_results(), "LSH", 16, {"map": 0.1})
    assert "map_vs_regions" not in write_report(results, tmp_path)


def test_curve_points_add_the_epochs_times_and_the_final_evaluation():
    from dmrh_tf.evaluation.curves import curve_points

    history = [
        {"epoch": "0", "epoch_seconds": "60", "loss": "0.7", "val_loss": "NA"},
        {"epoch": "1", "epoch_seconds": "30", "loss": "0.5", "val_loss": "NA"},
    ]
    points = curve_points(history, {1: 0.4, 2: 0.6}, evaluate_seconds=30)
    assert points == [
        {"epoch": 1, "minutes": 1.5, "map_at_k": 0.4, "loss": 0.7},
        {"epoch": 2, "minutes": 2.0, "map_at_k": 0.6, "loss": 0.5},
    ]
    assert curve_points(history, {2: 0.6}, 0)[0]["minutes"] == 1.5  # unscored epochs still take time
    with pytest.raises(ValueError, match="before epochs were timed"):
        curve_points([{"epoch": "0", "loss": "0.7"}], {1: 0.4}, 0)
