"""Issue 2's acceptance path: the smoke suite end to end through the real command line."""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.test_cli import cli


@pytest.mark.slow
def test_smoke_suite_runs_reports_and_resumes(tmp_path, data_root):
    storage = f"sqlite:///{tmp_path / 'bench.db'}"
    args = ["run", "--suite", "smoke", "--data-root", str(data_root), "--storage", storage,
            "--output", str(tmp_path / "reports")]
    started = time.monotonic()
    first = cli(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert time.monotonic() - started < 600

    report = (tmp_path / "reports" / "smoke" / "index.html").read_text()
    for dataset in ("digits-lt", "sms-spam-mini", "keel-yeast3"):
        assert dataset in report
    for header in ("Minority recall", "Minority F1", "Minority PR-AUC"):
        assert header in report
    # Issue 15: every interval says what it covers and none leaves the metric's range [0, 1].
    assert "2 splits x 1 seed per split" in report and "over the per-split means" in report
    for page in (tmp_path / "reports" / "smoke").rglob("*.html"):
        html = page.read_text()
        for mean, half in re.findall(r'data-sort="(\d\.\d+)"[^>]*>\d\.\d{3}<span class="ci"> ± (\d+\.\d+)', html):
            assert 0.0 <= float(mean) - float(half) - 1e-3 and float(mean) + float(half) <= 1.0 + 1e-3, page

    rows = json.loads(cli("results", "--suite", "smoke", "--storage", storage, "--format", "json").stdout)
    pairs = {(r["dataset"], r["method"]) for r in rows}
    assert len(pairs) == 3 * 6
    assert len(rows) == 3 * 6 * 2  # one row per (dataset, method, split seed, seed): 2 splits x 1 seed
    assert {(r["split_seed"], r["seed"]) for r in rows} == {(0, 0), (1, 0)}
    for r in rows:
        assert r["status"] == "ok", r
        for key in ("minority_recall", "minority_f1", "minority_pr_auc", "balanced_accuracy", "macro_f1",
                    "accuracy"):
            assert 0.0 <= r["metrics"][key] <= 1.0

    started = time.monotonic()
    again = cli(*args, cwd=tmp_path)
    assert again.returncode == 0
    assert "36 already complete" in " ".join(again.stderr.split())  # 18 pairs on 2 splits
    assert time.monotonic() - started < 30
    assert json.loads(cli("results", "--suite", "smoke", "--storage", storage).stdout) == rows
