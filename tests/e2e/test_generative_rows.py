"""Issue 14, acceptance on the CPU: every row of the generative family (listed from the registry, so rows
added later are covered) runs through the real tuning and store path on Fashion-MNIST-LT's small sibling and
a KEEL set, stores its generator's cost and its fidelity and memorisation figures, and the report shows them
beside the sample grids."""

from __future__ import annotations

import re

import pytest

from benchmark.methods import method_registry
from benchmark.protocol import Budget
from benchmark.report import build_report
from benchmark.report.aggregation import build_entry
from benchmark.report.records import StoredResult
from benchmark.run import RunOptions, run_suite
from benchmark.store import Store
from benchmark.suites import Suite
from benchmark.training.base import TrainingConfig

GENERATIVE = sorted(name for name, m in method_registry.items() if m.family == "generative")
IMAGE_DATA, TABULAR_DATA = "fashion-mnist-lt-mini", "keel-new_thyroid1"


def test_the_family_has_the_issue_rows():
    assert {"deepsmote", "cvae-oversampling", "vae-posterior-oversampling", "bagan-gp"} <= set(GENERATIVE)


@pytest.mark.slow
def test_every_generative_row_runs_and_reports_fidelity(tmp_path, data_root, monkeypatch):
    monkeypatch.setenv("BENCHMARK_CACHE", str(tmp_path / "cache"))  # generators trained here, not reused from a past run
    tiny = dict(epochs=2, batch_size=64, lr=3e-3, generator_epochs=1, generator_batch_size=64)
    suite = Suite(name="generative-cpu", description="test", datasets=(IMAGE_DATA, TABULAR_DATA), methods=tuple(GENERATIVE),
                  budget=Budget(trials=1, seeds=1),
                  training={"image": TrainingConfig(model="small-cnn", **tiny), "tabular": TrainingConfig(**tiny)})
    options = RunOptions(suite=suite, storage=f"sqlite:///{tmp_path / 'results.db'}", data_root=str(data_root),
                         device="cpu")
    run_suite(options)
    store = Store(options.storage)
    pairs = {(p.dataset, p.method): p for p in store.pairs("generative-cpu")}
    expected = {(d, m) for m in GENERATIVE for d, modality in ((IMAGE_DATA, "image"), (TABULAR_DATA, "tabular"))
                if modality in method_registry.get(m).modalities}
    assert {k for k, p in pairs.items() if p.status == "complete"} == expected, {
        k: (p.status, p.reason) for k, p in pairs.items() if p.status != "not-applicable"}
    rows = {(r.dataset, r.method): r for r in store.results("generative-cpu")}
    for key in expected:
        row = rows[key]
        assert row.status == "ok", (key, row.reason)
        assert row.timings["generator_seconds"] + row.timings["generator_cached_seconds"] > 0, key
        assert row.timings["total_seconds"] >= row.timings["generator_seconds"]
        fidelity = row.artifacts["fidelity"]
        assert fidelity["classes"] and fidelity["features"], key
        for measures in fidelity["classes"].values():
            assert measures["n_generated"] > 0
            assert measures["memorised_share"] is None or 0.0 <= measures["memorised_share"] <= 1.0
        if fidelity["features"].startswith("penultimate layer"):  # generated images (not embeddings): a grid
            assert row.artifacts["generated_samples"]["format"] == "png-grid/1", key
    built = build_report(store, "generative-cpu", tmp_path / "reports")
    for dataset in (IMAGE_DATA, TABULAR_DATA):
        page = (built.folder / "datasets" / f"{dataset}.html").read_text()
        shown = [m for d, m in expected if d == dataset]
        if not shown:
            continue
        section = re.search(r'<section id="fidelity">.*?</section>', page, re.S).group(0)
        for method in shown:
            assert f"<td class=\"left\">{method}</td>" in section, (dataset, method)
        assert "Memorised" in section and "Frechet" in section
        if dataset == IMAGE_DATA:
            grids = re.search(r'<section id="samples">.*?</section>', page, re.S).group(0)
            for method in shown:
                if "generated_samples" in rows[(dataset, method)].artifacts:
                    assert f"<h3>{method}</h3>" in grids


def test_the_cost_counts_a_reused_generators_training_time():
    """A seed re-run that took its generator from the cache paid no training; the row's cost still counts it."""
    def row(seed, timings):
        return StoredResult(id=seed, suite="s", dataset="d", method="deepsmote", seed=seed, status="ok",
                            timings=timings, metrics={})

    trained = build_entry("deepsmote", None, [row(0, {"total_seconds": 5.0, "generator_seconds": 4.0,
                                                      "generator_cached_seconds": 0.0})], [])
    reused = build_entry("deepsmote", None, [row(0, {"total_seconds": 1.0, "generator_seconds": 0.0,
                                                     "generator_cached_seconds": 4.0})], [])
    assert trained.cost_seconds == pytest.approx(5.0)
    assert reused.cost_seconds == pytest.approx(5.0)
