"""Issues 8 and 9, acceptance on the CPU: the mixing, decoupling and EOS rows run a real
Fashion-MNIST-LT suite end to end (a small sibling of the dataset, tiny settings) and are scored per class."""

from __future__ import annotations

import math
import re

import pytest

from benchmark.protocol import Budget
from benchmark.report import build_report
from benchmark.run import RunOptions, run_suite
from benchmark.store import Store
from benchmark.suites import Suite
from benchmark.training.base import TrainingConfig

METHODS = ("baseline", "mixup", "cutmix", "remix", "remix-drw", "crt", "tau-normalisation", "lws", "eos")


@pytest.mark.slow
def test_vision_methods_run_on_fashion_mnist_lt(tmp_path, data_root):
    suite = Suite(name="vision-methods-cpu", description="test", datasets=("fashion-mnist-lt-mini",), methods=METHODS,
                  budget=Budget(trials=1, seeds=1),
                  training={"image": TrainingConfig(epochs=3, batch_size=64, lr=3e-3, model="small-cnn")})
    options = RunOptions(suite=suite, storage=f"sqlite:///{tmp_path / 'results.db'}", data_root=str(data_root),
                         device="cpu")
    summary = run_suite(options)
    assert summary.statuses == {"complete": len(METHODS)}
    rows = {r.method: r for r in Store(options.storage).results("vision-methods-cpu")}
    assert set(rows) == set(METHODS)
    for row in rows.values():
        assert row.status == "ok"
        tail = [row.per_class["recall"][c] for c in (6, 7, 8, 9)]  # the tail third of Fashion-MNIST-LT
        assert all(0.0 <= r <= 1.0 for r in tail) and math.isfinite(row.metrics["minority_recall"])
        assert row.metrics["minority_recall"] == pytest.approx(sum(tail) / 4)
    # EOS's embedding, neighbour search, generation and head re-training are timed on their own
    assert rows["eos"].timings["feature_resample_seconds"] > 0
    assert rows["eos"].timings["feature_stage_seconds"] >= rows["eos"].timings["feature_resample_seconds"]
    # What tau-normalisation chose on validation is stored with its row and shown on the page.
    fitted = rows["tau-normalisation"].artifacts["fitted"]
    assert 0.0 <= fitted["tau"] <= 2.0 and fitted["norm_ratio"] >= 1.0
    # The report states each row's tail-class recall against the baseline .
    built = build_report(Store(options.storage), "vision-methods-cpu", tmp_path / "reports")
    page = (built.folder / "datasets" / "fashion-mnist-lt-mini.html").read_text()
    table = re.search(r'<table[^>]*id="vs-baseline-table".*?</table>', page, re.S).group(0)
    assert sorted(re.findall(r'<tr data-method="([^"]+)"', table)) == sorted(m for m in METHODS if m != "baseline")
    assert f"fitted on validation: seed 0: norm_ratio={fitted['norm_ratio']:.4g}, tau={fitted['tau']:.4g}" in page
    eos = re.search(r'<tr data-method="eos".*?</tr>', table, re.S).group(0)
    base, names = rows["baseline"].per_class["recall"], Store(options.storage).pairs("vision-methods-cpu")[0].info["class_names"]
    tail = ", ".join(f"{names[c]}: {rows['eos'].per_class['recall'][c] - base[c]:+.2f}" for c in (6, 7, 8, 9))
    assert tail in eos  # e.g. "Shirt: +0.15, Sneaker: +0.86, Bag: +0.37, Ankle boot: +0.91"
