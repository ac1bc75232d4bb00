"""Acceptance of published results (issue 27) on the smoke suite, through ``scripts/reference-run``: run,
publish, read the bundle back as a store, verify 3 cells exactly; every stored metric recomputed from the
stored predictions equals the stored score; an edited score fails verification."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

from benchmark.publish import open_bundles
from benchmark.report.records import read_run
from benchmark.store import OK, Store
from benchmark.store.predictions import load_predictions

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, env: dict[str, str], timeout: int = 1200) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def test_smoke_round_trip_run_publish_verify_and_an_edited_score_fails(tmp_path, data_root):
    env = {**os.environ, "PYTHON": sys.executable, "WORKERS": "1", "PUBLISH_EVERY": "0",
           "REFERENCE_RESULTS": str(tmp_path / "results"), "REFERENCE_REPORTS": str(tmp_path / "reports"),
           "REFERENCE_WORK": str(tmp_path / "work"), "BENCHMARK_DATA": str(data_root)}
    done = cli("scripts/reference-run", "smoke", env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    bundle = tmp_path / "results" / "smoke"
    assert (tmp_path / "results" / "smoke" / "report" / "index.html").is_file()
    assert "ROC-AUC" in (tmp_path / "results" / "smoke" / "report" / "datasets" / "keel-yeast3.html").read_text()
    index = (tmp_path / "reports" / "index.html").read_text()  # links the bundle's report, not a copy of it
    assert 'href="../results/smoke/report/index.html"' in index and not (tmp_path / "reports" / "smoke").exists()
    assert "Spearman" in (tmp_path / "reports" / "modalities.html").read_text()  # smoke spans three modalities
    summary = (tmp_path / "work" / "smoke.summary").read_text()
    assert "36 cells" in summary and "scores hash sha256:" in summary

    # every stored metric, recomputed from the stored predictions, is the stored score (bit for bit)
    store = Store(f"sqlite:///{tmp_path / 'work' / 'smoke.db'}")
    predictions = load_predictions(store, "smoke")
    rows = [r for r in read_run(store, "smoke").results if r.status == OK]
    assert rows and len(predictions) == len(rows)
    for r in rows:
        recomputed, per_class = predictions[(r.suite, r.dataset, r.method, r.split_seed, r.seed)].scores()
        assert json.dumps(recomputed, sort_keys=True) == json.dumps(r.metrics, sort_keys=True), (r.dataset, r.method)
        assert per_class == r.per_class
    # the bundle read back is the store: the same scores (JSON text: NaN equals NaN) and artifacts, the PR
    # curves, which the bundle leaves out as derived, computed again from its predictions
    again = [r for r in read_run(open_bundles([bundle]), "smoke").results if r.status == OK]
    assert json.dumps([r.metrics for r in again], sort_keys=True) == json.dumps([r.metrics for r in rows], sort_keys=True)
    assert json.dumps([r.artifacts for r in again], sort_keys=True) == json.dumps([r.artifacts for r in rows],
                                                                                  sort_keys=True)
    stored_rows = json.loads(gzip.decompress((bundle / "rows.json.gz").read_bytes()))
    assert {json.dumps(r["artifacts"].get("pr_curves")) for r in stored_rows if r["status"] == OK} == {'"from predictions"'}

    checked = cli(sys.executable, "-m", "benchmark", "verify", str(bundle), "--cells", "3", "--seed", "7", env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr[-3000:]
    assert checked.stdout.count("  exact ") == 3 and "verification passed" in checked.stdout

    rows_file = bundle / "rows.json.gz"
    edited = json.loads(gzip.decompress(rows_file.read_bytes()))
    first = next(r for r in edited if r["status"] == OK)
    first["metrics"]["minority_f1"] = round(first["metrics"]["minority_f1"] + 0.01, 6)
    rows_file.write_bytes(gzip.compress(json.dumps(edited).encode(), mtime=0))
    failed = cli(sys.executable, "-m", "benchmark", "verify", str(bundle), "--cells", "1", env=env)
    assert failed.returncode == 1
    assert "rows.json.gz was changed after publishing" in failed.stdout and "verification FAILED" in failed.stdout
