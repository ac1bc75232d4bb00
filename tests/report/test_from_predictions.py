"""What reports compute from stored test predictions: a metric added after rows were scored, confusion
matrices on the dataset page, and the page comparing method ranks across modalities."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmark.report import build_report
from benchmark.report.modalities import compare_modalities, fisher_interval, scaled_ranks
from benchmark.report.records import StoredPair, StoredResult, StoredRun, read_run

from ..publish._fabricated import SUITE, fabricate, predictions


def test_a_metric_missing_from_stored_rows_is_computed_from_their_predictions(tmp_path):
    store = fabricate(tmp_path / "s.db", methods=("baseline", "smote"), seeds=1, split_seeds=1,
                      drop=("roc_auc", "weighted_f1"))
    assert not any("roc_auc" in r.metrics for r in read_run(store, SUITE).results)
    built = build_report(store, SUITE, tmp_path / "reports")
    page = (built.folder / "datasets" / "keel-yeast3.html").read_text()
    assert "ROC-AUC" in page and "Weighted F1" in page
    expected = predictions("keel-yeast3", "smote", 0, 0).scores()[0]["roc_auc"]
    assert f"{expected:.3f}" in page
    # the hashes cover the scores as stored, not the figures derived at report time
    assert built.scores_hash == build_report(store, SUITE, tmp_path / "again").scores_hash


def test_the_dataset_page_shows_confusion_matrices_of_the_best_methods(tmp_path):
    store = fabricate(tmp_path / "s.db", methods=("baseline", "smote", "focal-loss", "cutmix"), seeds=2,
                      split_seeds=1)
    built = build_report(store, SUITE, tmp_path / "reports")
    page = (built.folder / "datasets" / "digits-lt.html").read_text()
    section = page[page.index('<section id="confusion">'):]
    section = section[:section.index("</section>")]
    assert section.count('<table class="confusion"') == 3  # the best three, not all four
    rows = [r for r in read_run(store, SUITE).results if r.dataset == "digits-lt"]
    means = {m: np.mean([r.metrics["minority_f1"] for r in rows if r.method == m]) for m in {r.method for r in rows}}
    best = sorted(means, key=lambda m: -means[m])
    shown = [section.index(f'data-method="{m}"') for m in best[:3]]
    assert shown == sorted(shown) and f'data-method="{best[3]}"' not in section  # in leaderboard order
    pooled = sum(int(np.sum((p.y_true == 0) & (p.y_pred == 0))) for p in
                 (predictions("digits-lt", best[0], 0, s) for s in range(2)))
    assert f'title="{pooled} samples"' in section


def _run(suite: str, scores: dict[str, dict[str, float]]) -> StoredRun:
    results = [StoredResult(id=i, suite=suite, dataset=d, method=m, seed=0, status="ok", metrics={"minority_f1": v})
               for i, (d, by) in enumerate(scores.items()) for m, v in by.items()]
    return StoredRun(suite, [StoredPair(suite, d, m, "complete") for d, by in scores.items() for m in by], results)


def test_ranks_agree_across_modalities_when_the_orders_agree():
    methods = ["a", "b", "c", "d", "e"]
    tabular = _run("t", {f"keel-{k}": {m: 0.9 - 0.1 * i + 0.01 * k for i, m in enumerate(methods)} for k in range(4)})
    text = _run("x", {"sms-spam": {m: 0.8 - 0.1 * i for i, m in enumerate(methods)}})
    image = _run("i", {"digits-lt": {m: 0.1 * i for i, m in enumerate(methods)}})  # the reverse order
    modality = {("t", f"keel-{k}"): "tabular" for k in range(4)} | {("x", "sms-spam"): "text", ("i", "digits-lt"): "image"}
    result = compare_modalities([tabular, text, image], modality_of=modality)
    by_pair = {(c.first, c.second): c for c in result.correlations}
    assert result.modalities == ["tabular", "text", "image"]
    assert by_pair[("tabular", "text")].rho == pytest.approx(1.0)
    assert by_pair[("tabular", "image")].rho == pytest.approx(-1.0)
    agree = by_pair[("tabular", "text")]
    assert agree.interval == "bootstrap" and agree.low == pytest.approx(1.0) and len(agree.methods) == 5
    assert by_pair[("text", "image")].interval == "fisher"  # one dataset each: nothing to resample
    assert result.ranks["a"] == {"tabular": 0.0, "text": 0.0, "image": 1.0}


def test_scaled_ranks_and_the_fisher_interval():
    assert scaled_ranks({"a": 0.9, "b": 0.5, "c": 0.5}) == {"a": 0.0, "b": 0.75, "c": 0.75}
    assert scaled_ranks({"a": 0.2}) == {}
    low, high = fisher_interval(0.5, 20)
    assert low < 0.5 < high and high - 0.5 < 0.5 - low  # skewed towards zero, as z-intervals are
    assert all(math.isnan(v) for v in fisher_interval(0.5, 3))
