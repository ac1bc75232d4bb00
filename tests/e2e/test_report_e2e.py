"""End to end: a tiny real run (3 datasets x 3 methods, 2 trials, 2 seeds, the classical engine so
that it takes seconds) reported through the command line, with nothing but the store in between."""

from __future__ import annotations

import json
import re

import pytest
from threadpoolctl import threadpool_limits
from typer.testing import CliRunner

from benchmark.cli import app
from benchmark.protocol import Budget
from benchmark.report.builder import report_hash
from benchmark.run import RunOptions, run_suite
from benchmark.store import Store
from benchmark.suites import Suite, register_suite, suite_registry
from benchmark.training.base import TrainingConfig

SUITE = "report-e2e"
DATASETS = ("digits-lt", "sms-spam-mini", "keel-yeast3")
METHODS = ("baseline", "random-oversampling", "class-weighted-ce")


def tiny_suite() -> str:
    if SUITE not in suite_registry:
        register_suite(SUITE, Suite(
            name=SUITE,
            description="Three small datasets x three remedies, one trial, a couple of epochs: the report's end-to-end test.",
            datasets=DATASETS,
            methods=METHODS,
            budget=Budget(trials=2, seeds=2),
            training={"image": TrainingConfig(epochs=1, batch_size=64, lr=3e-3),
                      "text": TrainingConfig(epochs=2, batch_size=64, lr=3e-3, tfidf_max_features=500),
                      "tabular": TrainingConfig(epochs=2, batch_size=64, lr=3e-3)},
            engines={"image": "classical", "text": "classical", "tabular": "classical"},
            pruner="none",
        ))
    return SUITE


@pytest.mark.slow
def test_a_real_run_reports_every_page_from_the_store_alone(tmp_path, data_root):
    url = f"sqlite:///{tmp_path / 'results.db'}"
    # One BLAS thread: these models are tiny, and on a busy 2-core machine threads only contend
    # (measured here: a digits LogisticRegression fit took 7.8 s with 2 threads, 0.16 s with 1).
    with threadpool_limits(limits=1):
        summary = run_suite(RunOptions(suite=tiny_suite(), storage=url, data_root=str(data_root), device="cpu"))
    assert summary.statuses == {"complete": len(DATASETS) * len(METHODS)}

    out = CliRunner().invoke(app, ["report", "--suite", SUITE, "--storage", url, "--output", str(tmp_path / "r"),
                                   "--data-root", str(data_root)])
    assert out.exit_code == 0, out.output
    folder = tmp_path / "r" / SUITE
    index = (folder / "index.html").read_text()
    table = re.search(r'<table[^>]*id="suite-leaderboard".*?</table>', index, re.S).group(0)
    assert sorted(re.findall(r'<tr data-method="([^"]+)"', table)) == sorted(METHODS)
    for label in ("Minority recall", "Minority F1", "Minority PR-AUC"):
        assert f">{label}</th>" in table
    assert 'class="status"' not in table  # every pair ran: figures everywhere
    assert len(re.findall(r'data-figure="cd-diagram"[^>]*>\s*<svg', index)) == 3
    assert "Friedman over 3 datasets and 3 methods" in index
    assert "What is missing or wrong" not in index, re.findall(r"<li>(.*?)</li>", index)[:5]

    for dataset in DATASETS:
        page = (folder / "datasets" / f"{dataset}.html").read_text()
        for figure in ("heatmap", "pr-curves", "tuning-history"):
            assert f'data-figure="{figure}"' in page, (dataset, figure)
    digits = (folder / "datasets" / "digits-lt.html").read_text()
    assert "(from the stored split summary)" in digits  # each pair stores its split's counts and classes
    assert "Minority classes</dt><dd>6, 7, 8, 9" in digits
    assert "Few-shot" in digits

    results = CliRunner().invoke(app, ["results", "--suite", SUITE, "--storage", url])
    assert results.stdout == (folder / "results.json").read_text()
    rows = json.loads(results.stdout)
    assert len(rows) == len(DATASETS) * len(METHODS) * 2 and {r["status"] for r in rows} == {"ok"}
    hash_line = re.search(r"results hash sha256:([0-9a-f]{12})", " ".join(out.output.split())).group(1)
    assert report_hash(Store(url), SUITE).startswith(hash_line)
    assert f"sha256:{report_hash(Store(url), SUITE)}" in index
