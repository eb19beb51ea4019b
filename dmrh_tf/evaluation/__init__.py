"""Evaluation of binary codes: Hamming ranking, mAP@K and other retrieval metrics, baselines.

The metrics are pure functions of codes and labels (no model, no Keras): rank with
`hamming_ranking`, score with `map_at_k` (the paper's mAP@5000, DMRH release definition, ties
broken by database order) or `retrieval_summary` (every metric in one pass). The non-deep
baselines (LSH, SH, SKLSH, PCAH, ITQ, FSSH) are in `dmrh_tf.evaluation.baselines`; tables and plots in
`dmrh_tf.evaluation.report`. See docs/evaluation.md.
"""

from dmrh_tf.evaluation.baselines import BASELINES, fit_baseline, pixel_features
from dmrh_tf.evaluation.codes import pack_codes, to_bits, to_signed
from dmrh_tf.evaluation.metrics import (
    average_precision,
    hits_at_ranks,
    precision_at_ranks,
    recall_at_ranks,
)
from dmrh_tf.evaluation.ranking import (
    RankedChunk,
    hamming_distances,
    hamming_ranking,
    iter_hamming_ranking,
    rank_by_distance,
)
from dmrh_tf.evaluation.reference import map_at_k_loop
from dmrh_tf.evaluation.relevance import LabelRelevance, relevance_matrix
from dmrh_tf.evaluation.report import add_result, empty_results, metrics_to_json, write_report
from dmrh_tf.evaluation.retrieval import (
    PRCurve,
    map_at_k,
    map_from_ranking,
    mean_average_precision,
    precision_at_k,
    precision_recall_curve,
    precision_within_radius,
    recall_at_k,
    retrieval_summary,
)

__all__ = [
    "BASELINES",
    "LabelRelevance",
    "PRCurve",
    "RankedChunk",
    "add_result",
    "average_precision",
    "empty_results",
    "fit_baseline",
    "hamming_distances",
    "hamming_ranking",
    "hits_at_ranks",
    "iter_hamming_ranking",
    "map_at_k",
    "map_at_k_loop",
    "map_from_ranking",
    "mean_average_precision",
    "metrics_to_json",
    "pack_codes",
    "pixel_features",
    "precision_at_k",
    "precision_at_ranks",
    "precision_recall_curve",
    "precision_within_radius",
    "rank_by_distance",
    "recall_at_k",
    "recall_at_ranks",
    "relevance_matrix",
    "retrieval_summary",
    "to_bits",
    "to_signed",
    "write_report",
]
