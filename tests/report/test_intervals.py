"""Figures over splits x seeds: what each interval covers is stated, and no interval leaves its metric's range."""

from __future__ import annotations

import csv
import io
import math
import re

import numpy as np
import pytest
from scipy import stats

from benchmark.metrics import METRICS as TABLE
from benchmark.report import build_report
from benchmark.report.statistics import clip, paired_split_difference, split_seed_interval
from benchmark.store import Store

SUITE = "intervals"
BUDGET = {"trials": 2, "seeds": 2, "timeout": None, "objective": "minority_f1", "tune": []}
METRICS = ("minority_recall", "minority_f1", "minority_pr_auc", "balanced_accuracy", "macro_f1", "accuracy", "gmean",
           "ece")
RANGE, DIFFERENCE = TABLE["minority_f1"].range, TABLE["minority_f1"].difference_range  # [0, 1], [-1, 1]


def test_several_splits_take_the_t_interval_over_the_per_split_means():
    by_split = {0: [0.70, 0.72], 1: [0.60, 0.64], 2: [0.80, 0.78]}
    interval = split_seed_interval(by_split, RANGE)
    means = [0.71, 0.62, 0.79]
    expected = stats.t.interval(0.95, 2, loc=np.mean(means), scale=stats.sem(means))
    assert interval.mean == pytest.approx(np.mean(means))
    assert interval.half == pytest.approx((expected[1] - expected[0]) / 2)
    assert (interval.splits, interval.seeds, interval.over, interval.clipped) == (3, 2, "splits", False)
    assert "mean over 3 splits x 2 seeds" in interval.describe()
    one = split_seed_interval({0: [0.5, 0.6, 0.7]}, RANGE)
    assert one.over == "seeds" and one.half == pytest.approx(stats.t.ppf(0.975, 2) * stats.sem([0.5, 0.6, 0.7]))
    assert split_seed_interval({0: [0.5]}, RANGE).over == "" and split_seed_interval({0: [math.nan]}, RANGE) is None


def test_two_values_give_an_interval_clipped_to_the_range_and_flagged():
    interval = split_seed_interval({0: [0.1], 1: [0.9]}, RANGE)  # 0.5 +- 5.08 as computed
    assert interval.half > 5 and interval.clipped and (interval.low, interval.high) == (0.0, 1.0)
    assert "leaves the metric's range" in interval.describe()
    assert clip(0.747, 1.072, RANGE) == (0.0, 1.0, True) and clip(0.5, 0.1, RANGE) == pytest.approx((0.4, 0.6, False))
    diff = paired_split_difference({0: [0.9], 1: [0.1]}, {0: [0.1], 1: [0.9]}, DIFFERENCE)
    assert diff.clipped and diff.low == -1.0 and diff.high == 1.0


def write_two_split_run(url: str) -> Store:
    """Two methods on one dataset over 2 splits x 1 seed, far apart between the splits (wide intervals)."""
    store = Store(url)
    for method, values in (("baseline", (0.15, 0.85)), ("smote", (0.40, 0.60))):
        for split, value in enumerate(values):
            store.update_pair(SUITE, "keel-yeast3", method, split_seed=split, status="complete", budget=BUDGET,
                              info={"split_seed": split})
            store.claim_seed(SUITE, "keel-yeast3", method, 0, split_seed=split)
            store.finish_seed(SUITE, "keel-yeast3", method, 0, split_seed=split, status="ok",
                              metrics=dict.fromkeys(METRICS, value), per_class={"recall": [0.9, value]},
                              provenance={"split_seed": split})
    return store


def test_the_report_names_splits_and_seeds_and_no_interval_leaves_the_range(tmp_path):
    store = write_two_split_run(f"sqlite:///{tmp_path / 'store.db'}")
    built = build_report(store, SUITE, tmp_path / "reports")
    index = (built.folder / "index.html").read_text()
    page = next((built.folder / "datasets").glob("*.html")).read_text()
    for html in (index, page):
        assert "2 splits x 1 seed per split" in html
        assert "95% Student-t interval over the per-split means" in html
        for half in re.findall(r"± (\d+\.\d+)", html):  # every ± shown keeps mean ± half inside [0, 1] ...
            assert float(half) <= 1.0
        assert "[0.000, 1.000]" in html  # ... and the wide ones are shown clipped, flagged
    assert "Intervals" in index and "mean over 2 splits x 1 seed" in page
    rows = list(csv.DictReader(io.StringIO((built.folder / "leaderboard.csv").read_text())))
    for row in rows:
        for metric in METRICS:
            if row.get(f"{metric}_low"):
                assert 0.0 <= float(row[f"{metric}_low"]) <= float(row[f"{metric}_mean"]) <= \
                    float(row[f"{metric}_high"]) <= 1.0
    baseline = next(r for r in rows if r["scope"] == "keel-yeast3" and r["method"] == "baseline")
    assert float(baseline["minority_f1_mean"]) == pytest.approx(0.5) and float(baseline["minority_f1_ci95"]) > 4
    tex = (built.folder / "leaderboard.tex").read_text()
    assert "[0.0, 100.0]^*" in tex and "\\pm" not in tex.split("\\begin{tabular}")[1].split("\\end{tabular}")[0]
