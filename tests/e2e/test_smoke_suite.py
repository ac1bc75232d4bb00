"""Issue 2's acceptance path: the smoke suite end to end through the real command line."""

from __future__ import annotations

import json
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

    rows = json.loads(cli("results", "--suite", "smoke", "--storage", storage, "--format", "json").stdout)
    pairs = {(r["dataset"], r["method"]) for r in rows}
    assert len(pairs) == 3 * 6
    assert len(rows) == 3 * 6 * 2  # one row per (dataset, method, seed)
    assert {r["seed"] for r in rows} == {0, 1}
    for r in rows:
        assert r["status"] == "ok", r
        for key in ("minority_recall", "minority_f1", "minority_pr_auc", "balanced_accuracy", "macro_f1",
                    "accuracy"):
            assert 0.0 <= r["metrics"][key] <= 1.0

    started = time.monotonic()
    again = cli(*args, cwd=tmp_path)
    assert again.returncode == 0
    assert "18 already complete" in " ".join(again.stderr.split())
    assert time.monotonic() - started < 30
    assert json.loads(cli("results", "--suite", "smoke", "--storage", storage).stdout) == rows
