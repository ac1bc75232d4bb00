"""Rows that learned from an unlabeled pool are marked in every leaderboard, with how many rows they
used, and the dataset card shows the pool; built from hand-made stored rows."""

from __future__ import annotations

import csv
import html
import io
import re

import pytest

from benchmark.report import build_report
from benchmark.report import builder as report_builder
from benchmark.report.records import StoredResult
from benchmark.report.unlabeled import UNLABELED_TAG, unlabeled_uses
from benchmark.store import PairRow, ResultRow, Store

SUITE = "pool-check"
DATASET = "fashion-mnist-lt-mini"
BUDGET = {"trials": 2, "seeds": 2, "timeout": None, "objective": "minority_f1", "tune": []}
MINI_LT = [300, 179, 107, 64, 38, 23, 13, 8, 5, 3]
POOL = {"size": 740, "class_mix": "long-tail", "ratio": 1.0, "class_counts": MINI_LT,
        "source": "official training images the long-tail profile left out; labels withheld",
        "fingerprint": "ab" * 32, "left_out": [6000 - n for n in MINI_LT], "removed_identical": 0}
# method -> (minority F1, the timings' unlabeled_rows or None when not stored)
METHODS = {"baseline": (0.50, None), "pseudo-x": (0.60, 740), "tagged-x": (0.55, None), "zero-x": (0.52, 0)}


def write_store(url: str) -> Store:
    store = Store(url)
    info = {"split_seed": 0, "split_fingerprint": "mini-fingerprint", "class_names": [str(c) for c in range(10)],
            "class_counts": {"train": [n - max(1, round(0.2 * n)) for n in MINI_LT],
                             "val": [max(1, round(0.2 * n)) for n in MINI_LT], "test": [1000] * 10},
            "imbalance_ratio": 100.0, "minority_classes": [6, 7, 8, 9], "unlabeled": POOL}
    rows: list = []
    for method, (quality, pool_rows) in METHODS.items():
        rows.append(PairRow(suite=SUITE, dataset=DATASET, method=method, budget=BUDGET, info=info, engine="deep",
                            status="complete", best_params={}, best_value=quality,
                            spent={"trials": 2, "complete": 2, "pruned": 0, "failed": 0, "seconds": 3.0}))
        for seed in (0, 1):
            q = quality + 0.01 * seed
            timings = {"total_seconds": 1.0, "train_samples": 1000, "train_steps": 10}
            if pool_rows is not None:
                timings["unlabeled_rows"] = pool_rows
            rows.append(ResultRow(
                suite=SUITE, dataset=DATASET, method=method, seed=seed, status="ok", params={},
                metrics={"minority_recall": q, "minority_f1": q, "minority_pr_auc": q, "balanced_accuracy": q,
                         "macro_f1": q, "accuracy": q}, val_metrics={"minority_f1": q}, per_class={},
                timings=timings, artifacts={},
                provenance={"benchmark_version": "0.1.0", "engine": "deep", "split_seed": 0, "device": "cpu",
                            "split_fingerprint": "mini-fingerprint", "budget": BUDGET}))
    with store.session() as session:
        session.add_all(rows)
        session.commit()
    return store


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'results.db'}"
    store = write_store(url)
    original = report_builder.method_cards

    def with_tag(names, problems):  # "tagged-x" stands for a registered method with the tag and old rows
        cards = original(names, problems)
        cards["tagged-x"].tags = [UNLABELED_TAG]
        return cards

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(report_builder, "method_cards", with_tag)
        return build_report(store, SUITE, tmp_path_factory.mktemp("reports"))


def row_html(html: str, table_id: str, method: str) -> str:
    table = re.search(rf'<table[^>]*id="{table_id}".*?</table>', html, re.S).group(0)
    return re.search(rf'<tr data-method="{re.escape(method)}".*?</tr>', table, re.S).group(0)


def test_suite_leaderboard_marks_rows_that_used_unlabeled_data(built):
    index = (built.folder / "index.html").read_text()
    marked = row_html(index, "suite-leaderboard", "pseudo-x")
    assert re.search(r'<sup class="mark unlabeled" data-unlabeled="pseudo-x" title="used 740 unlabeled rows on '
                     rf'{DATASET}: [^"]*not a label-only row">U</sup>', marked)
    assert 'data-unlabeled="tagged-x"' in row_html(index, "suite-leaderboard", "tagged-x")
    for label_only in ("baseline", "zero-x"):  # no pool rows stored (or zero offered): no mark
        assert "mark unlabeled" not in row_html(index, "suite-leaderboard", label_only)
    legend = html.unescape(re.search(r'<p class="notes unlabeled-legend">(.*?)</p>', index, re.S).group(1))
    assert f"pseudo-x: used 740 unlabeled rows on {DATASET}" in legend
    assert f"tagged-x: used unlabeled data on {DATASET} (tag 'unlabeled-data'; the number of rows was not stored)" \
        in legend
    assert "baseline" not in legend and "zero-x" not in legend


def test_dataset_page_marks_rows_and_shows_the_pool(built):
    page = (built.folder / "datasets" / f"{DATASET}.html").read_text()
    assert 'title="used 740 unlabeled rows: ' in row_html(page, "dataset-leaderboard", "pseudo-x")
    assert "mark unlabeled" not in row_html(page, "dataset-leaderboard", "baseline")
    assert "pseudo-x: used 740 unlabeled rows" in re.search(r'unlabeled-legend">(.*?)</p>', page, re.S).group(1)
    pool = re.search(r'<dt>Unlabeled pool</dt><dd class="unlabeled-pool">(.*?)</dd>', page, re.S).group(1)
    assert "740 rows, long-tail mix (ratio 1); per class 300 / 179 / 107" in pool


def test_exports_mark_rows_that_used_unlabeled_data(built):
    rows = {(r["scope"], r["method"]): r for r in
            csv.DictReader(io.StringIO((built.folder / "leaderboard.csv").read_text()))}
    assert (rows[("suite", "pseudo-x")]["uses_unlabeled"], rows[("suite", "pseudo-x")]["unlabeled_rows"]) == ("1", "740")
    assert (rows[(DATASET, "tagged-x")]["uses_unlabeled"], rows[(DATASET, "tagged-x")]["unlabeled_rows"]) == ("1", "")
    assert rows[(DATASET, "baseline")]["uses_unlabeled"] == "0"
    tex = (built.folder / "leaderboard.tex").read_text()
    assert "Pseudo x\\textsuperscript{U}" in tex and "Baseline &" in tex and "Baseline\\textsuperscript" not in tex
    assert "U: learned from an unlabeled pool" in tex


def test_unlabeled_use_reads_successful_rows_and_tags():
    def row(method, status="ok", **timings):
        return StoredResult(1, SUITE, DATASET, method, 0, status, timings=timings)

    uses = unlabeled_uses([row("a", unlabeled_rows=100), row("a", unlabeled_rows=120), row("b", unlabeled_rows=0),
                           row("c", status="failed", unlabeled_rows=50), row("d", unlabeled_rows=True), row("e")],
                          {"e": [UNLABELED_TAG], "f": [UNLABELED_TAG], "b": ["other"]})
    assert set(uses) == {"a", "e", "f"}
    assert uses["a"].rows == {DATASET: 120} and uses["a"].text(DATASET) == "used 120 unlabeled rows"
    assert uses["e"].rows == {DATASET: None} and uses["e"].tagged
    assert uses["f"].rows == {} and "carries the tag 'unlabeled-data'" in uses["f"].text()


def test_pseudo_labelled_rows_are_said_beside_the_pool_offered():
    def row(**timings):
        return StoredResult(1, SUITE, DATASET, "pl", 0, "ok", timings=timings)

    uses = unlabeled_uses([row(unlabeled_rows=740, pseudo_labelled_rows=90),
                           row(unlabeled_rows=740, pseudo_labelled_rows=120)], {})
    assert uses["pl"].text(DATASET) == "used 740 unlabeled rows (pseudo-labelled and trained on up to 120 of them)"
    assert "pseudo-labelled" not in unlabeled_uses([row(unlabeled_rows=740)], {})["pl"].text(DATASET)
