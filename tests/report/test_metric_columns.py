"""Every metric the report shows comes from the metric table (benchmark.metrics.METRICS): its column
headers, tooltips, directions, CSV columns and ``metrics.json``."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from benchmark.metrics import METRICS, SUITE_COLUMNS
from benchmark.report import build_report
from benchmark.store import Store
from tests.report.test_report import SUITE, write_run

OTHER_COLUMNS = {"Method", "Wins", "Cost", "Seeds", "Samples / steps"}  # not metrics
SHORT_LABELS = {m.short for m in METRICS.values()}  # the average-rank columns


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'results.db'}"
    return build_report(write_run(url, with_trials=False), SUITE, tmp_path_factory.mktemp("reports"))


def headers(html: str, table_id: str) -> list[tuple[str, str, str]]:
    """(label, title, data-first) of each sortable header of a table."""
    table = re.search(rf'<table[^>]*id="{table_id}".*?</thead>', html, re.S).group(0)
    return re.findall(r'<th class="sortable[^"]*"[^>]*data-first="(\w+)"[^>]*title="([^"]*)">([^<]+)</th>', table)


def test_every_metric_column_is_an_entry_of_the_table(built):
    by_label = {m.label: m for m in METRICS.values()}
    index = (built.folder / "index.html").read_text()
    page = (built.folder / "datasets" / "digits-lt.html").read_text()
    seen = set()
    for html, table in ((index, "suite-leaderboard"), (page, "dataset-leaderboard"), (page, "vs-baseline-table")):
        for first, title, label in headers(html, table):
            label = label.removeprefix("Δ ")
            if label in OTHER_COLUMNS or (table == "suite-leaderboard" and label in SHORT_LABELS
                                           and title.startswith("Average rank")):
                continue
            assert label in by_label, f"column {label!r} of {table} has no entry in benchmark.metrics.METRICS"
            entry = by_label[label]
            assert title.replace("&#39;", "'").replace("&amp;", "&") == entry.tooltip, label
            assert first == ("descending" if entry.higher_is_better else "ascending"), label
            seen.add(entry.name)
    # the suite's columns, the long-tail set's page columns (G-mean, ECE, shots) all came from the table
    assert seen >= set(SUITE_COLUMNS) | {"gmean", "ece", "few_shot_accuracy"}


def test_exports_read_the_table(built):
    rows = list(csv.DictReader(io.StringIO((built.folder / "leaderboard.csv").read_text())))
    exported = {c.removesuffix("_mean") for c in rows[0] if c.endswith("_mean")}
    assert exported == set(METRICS)
    table = json.loads((built.folder / "metrics.json").read_text())
    assert [t["name"] for t in table] == list(METRICS)
    ece = next(t for t in table if t["name"] == "ece")
    assert ece["higher_is_better"] is False and ece["range"] == [0.0, 1.0] and ece["citation"]
    tex = (built.folder / "leaderboard.tex").read_text()
    assert "Method & " + " & ".join(METRICS[m].tex for m in SUITE_COLUMNS) + " \\\\" in tex


def test_a_lower_is_better_column_marks_its_lowest_figure_best(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    for method, ece in (("baseline", 0.30), ("smote", 0.05)):
        store.update_pair("ece", "keel-yeast3", method, status="complete", budget={"trials": 1, "seeds": 1},
                          info={"split_seed": 0})
        store.claim_seed("ece", "keel-yeast3", method, 0)
        store.finish_seed("ece", "keel-yeast3", method, 0, status="ok", per_class={"recall": [0.9, 0.5]},
                          metrics={**dict.fromkeys(SUITE_COLUMNS, 0.5), "gmean": 0.6, "ece": ece})
    built = build_report(store, "ece", tmp_path / "reports")
    page = (built.folder / "datasets" / "keel-yeast3.html").read_text()
    best = re.findall(r'<td class="num best" data-sort="([0-9.]+)"', page)
    assert "0.050000" in best and "0.300000" not in best
