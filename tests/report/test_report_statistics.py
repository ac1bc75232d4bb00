"""Rank statistics of reports checked against scipy, hand computation and Demšar (2006)'s numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from benchmark.report.statistics import (
    cliques,
    complete_blocks,
    friedman,
    nemenyi_critical_difference,
    rank_rows,
)


def test_ranks_put_the_highest_score_first_and_average_ties():
    ranks = rank_rows(np.array([[0.9, 0.8, 0.8, 0.1], [0.2, 0.3, 0.4, 0.5]]))
    np.testing.assert_allclose(ranks, [[1, 2.5, 2.5, 4], [4, 3, 2, 1]])


def test_friedman_matches_the_textbook_formula_and_scipy():
    rng = np.random.default_rng(3)
    scores = rng.random((12, 4)) + np.array([0.3, 0.1, 0.0, 0.2])  # no ties
    n, k = scores.shape
    mean_ranks = rank_rows(scores).mean(axis=0)
    chi2 = 12 * n / (k * (k + 1)) * (np.sum(mean_ranks ** 2) - k * (k + 1) ** 2 / 4)
    f = (n - 1) * chi2 / (n * (k - 1) - chi2)
    result = friedman(scores)
    assert result.chi2 == pytest.approx(chi2)
    assert result.chi2 == pytest.approx(stats.friedmanchisquare(*scores.T).statistic)
    assert result.p_chi2 == pytest.approx(stats.chi2.sf(chi2, k - 1))
    assert result.f == pytest.approx(f)
    assert result.p_f == pytest.approx(stats.f.sf(f, k - 1, (k - 1) * (n - 1)))


def test_friedman_edge_cases():
    with pytest.raises(ValueError, match="at least 2 datasets and 3 methods"):
        friedman(np.ones((5, 2)))
    same = friedman(np.full((4, 3), 0.5))
    assert same.p_f == 1.0 and not same.significant()
    # The same order on every dataset: as significant as it gets.
    assert friedman(np.tile([0.9, 0.5, 0.1], (6, 1))).significant()


def test_nemenyi_critical_difference_reproduces_demsar_2006():
    # Demšar (2006), section 3.2.4: four classifiers on 14 datasets, q_0.05 = 2.569, CD = 1.25.
    assert nemenyi_critical_difference(4, 14) == pytest.approx(2.569 * math.sqrt(4 * 5 / (6 * 14)), abs=2e-3)
    assert nemenyi_critical_difference(4, 14) == pytest.approx(1.25, abs=5e-3)
    # His table of q_0.05 for k = 2..5: 1.960, 2.343, 2.569, 2.728 (N large: CD * sqrt(6N/(k(k+1))) = q).
    for k, q in ((2, 1.960), (3, 2.343), (4, 2.569), (5, 2.728)):
        assert nemenyi_critical_difference(k, 30) / math.sqrt(k * (k + 1) / (6 * 30)) == pytest.approx(q, abs=2e-3)


def test_cliques_join_methods_closer_than_the_critical_difference():
    assert cliques([1.0, 1.5, 3.0, 3.2], cd=1.0) == [[0, 1], [2, 3]]
    assert cliques([1.0, 1.9, 2.8], cd=1.0) == [[0, 1], [1, 2]]
    assert cliques([1.0, 2.5, 4.0], cd=1.0) == []
    assert cliques([2.0, 1.0, 3.0], cd=5.0) == [[1, 0, 2]]


def test_complete_blocks_keep_the_most_scores_and_say_what_they_left_out():
    table = {
        "a": {"d1": 0.9, "d2": 0.8, "d3": 0.7, "d4": 0.6},
        "b": {"d1": 0.5, "d2": 0.6, "d3": 0.4, "d4": 0.3},
        "c": {"d1": 0.2, "d2": 0.1, "d3": 0.3, "d4": None},  # no result on d4
        "tabular-only": {"d1": 0.1},
    }
    blocks = complete_blocks(table, ["a", "b", "c", "tabular-only"], ["d1", "d2", "d3", "d4"])
    assert blocks.methods == ["a", "b", "c"]
    assert blocks.datasets == ["d1", "d2", "d3"]
    assert blocks.left_out_methods == ["tabular-only"] and blocks.left_out_datasets == ["d4"]
    np.testing.assert_allclose(blocks.scores[:, 2], [0.2, 0.1, 0.3])
    empty = complete_blocks({"a": {}}, ["a"], ["d1"])
    assert empty.methods == [] and empty.left_out_methods == ["a"]


def test_complete_blocks_drop_the_sparsest_method_or_dataset_first():
    # smote is not applicable on d3, focal failed on d2, a dataset with no data at all: the best
    # complete block keeps 3 methods on 3 datasets rather than 4 methods on 1.
    table = {m: {d: 0.5 for d in ("d1", "d2", "d3")} for m in ("a", "b", "c", "smote", "focal")}
    table["smote"]["d3"] = None
    table["focal"]["d2"] = None
    blocks = complete_blocks(table, list(table), ["d1", "d2", "d3", "no-data"])
    assert blocks.methods == ["a", "b", "c"] and blocks.datasets == ["d1", "d2", "d3"]
    assert blocks.left_out_methods == ["smote", "focal"] and blocks.left_out_datasets == ["no-data"]
