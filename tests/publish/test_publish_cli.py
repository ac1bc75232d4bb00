"""``publish``, ``verify`` and ``report``/``results`` on bundles, from the command line (in one process)."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from benchmark.cli import app, main

from ._fabricated import SUITE, fabricate


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def status(*args: str) -> int:
    """The exit status ``python -m benchmark ARGS`` gives (errors mapped as the entry point maps them)."""
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    return exited.value.code


def test_publish_then_read_the_bundle_like_a_store_then_verify_it(tmp_path):
    store = fabricate(tmp_path / "s.db", methods=("baseline", "smote"), seeds=1, split_seeds=1)
    bundle = tmp_path / "bundle"
    done = invoke("publish", str(bundle), "--suite", SUITE, "--storage", store.url, "--version", "1.0")
    assert done.exit_code == 0, done.output
    assert "version 1.0" in done.output and (bundle / "MANIFEST.json").is_file()
    rows = invoke("results", "--storage", str(bundle), "--format", "json")
    assert rows.exit_code == 0, rows.output
    assert {(r["dataset"], r["method"]) for r in json.loads(rows.stdout)} == {
        (d, m) for d in ("keel-yeast3", "digits-lt") for m in ("baseline", "smote")}
    report = invoke("report", "--storage", f"bundle:{bundle}", "--output", str(tmp_path / "reports"), "-q")
    assert report.exit_code == 0, report.output
    assert (tmp_path / "reports" / SUITE / "index.html").is_file()
    checked = invoke("verify", str(bundle), "--cells", "0")
    assert checked.exit_code == 0, checked.output
    assert "4 seed rows rescored" in checked.stdout and "verification passed" in checked.stdout

    edited = tmp_path / "edited"
    shutil.copytree(bundle, edited)
    meta = json.loads((edited / "bundle.json").read_text())
    meta["scores_hash"] = "0" * 64
    (edited / "bundle.json").write_text(json.dumps(meta))
    failed = invoke("verify", str(edited), "--cells", "2")
    assert failed.exit_code == 1
    assert "FAILED integrity: bundle.json was changed after publishing" in failed.stdout
    assert status("results", "--storage", str(edited)) == 2  # "does not match its manifest"
    assert "does not match its manifest" in str(invoke("results", "--storage", str(edited)).exception)


def test_bad_input_is_refused_before_any_work(tmp_path):
    assert status("verify", str(tmp_path), "--cells", "1") == 2  # not a bundle
    store = fabricate(tmp_path / "s.db", methods=("baseline",), seeds=1, split_seeds=1)
    bundle = tmp_path / "b"
    assert status("publish", str(bundle), "--suite", SUITE, "--storage", store.url) == 0
    assert status("verify", str(bundle), "--cells", "-1") == 2
    assert status("publish", str(bundle), "--suite", "tabular", "--storage", store.url) == 2  # not stored
