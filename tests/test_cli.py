"""The command line as a contract: JSON listings, and bad input that exits with one clear line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "benchmark", *args], cwd=cwd or ROOT, env=full_env,
                          capture_output=True, text=True, timeout=300)


def test_list_methods_json():
    result = cli("list", "methods", "--format", "json")
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    names = {r["name"] for r in records}
    assert {"baseline", "random-oversampling", "random-undersampling", "smote", "class-weighted-ce",
            "focal-loss"} <= names
    for r in records:
        assert set(r) >= {"name", "family", "modalities", "summary", "paper"}
        assert set(r["modalities"]) <= {"image", "text", "tabular"}


def test_list_datasets_json_with_pattern():
    result = cli("list", "datasets", "keel-*", "--format", "json")
    records = json.loads(result.stdout)
    assert len(records) >= 100
    assert all(r["modality"] == "tabular" and r["num_classes"] == 2 and r["source"] for r in records)


def test_show_method_card():
    result = cli("show", "method", "focal-loss", "--format", "json")
    card = json.loads(result.stdout)
    assert card["family"] == "loss" and "lin2017focal" in card["paper"]


@pytest.mark.parametrize("args, needle", [
    (["run", "--suite", "no-such-suite"], "unknown suite 'no-such-suite'"),
    (["run", "--suite", "smoke", "--methods", "smoet"], "did you mean 'smote'"),
    (["run", "--suite", "smoke", "--datasets", "digits-ltt"], "unknown dataset 'digits-ltt'"),
    (["run", "--suite", "smoke", "--trials", "0"], "--trials 0 is invalid"),
    (["run", "--suite", "smoke", "--seeds", "-1"], "--seeds -1 is invalid"),
    (["run", "--suite", "smoke", "--data-root", "/no/such/folder"], "does not exist"),
    (["run", "--suite", "smoke", "--storage", "postgresql+psycopg://nobody@127.0.0.1:1/none"],
     "cannot open the results store"),
    (["run", "--suite", "smoke", "--objective", "accuracyy"], "objective 'accuracyy' is unknown"),
    (["show", "dataset", "nope"], "unknown dataset 'nope'"),
])
def test_bad_input_exits_with_one_clear_line_and_touches_no_store(tmp_path, monkeypatch, capsys, args, needle):
    """In-process (one torch import for all cases); the subprocess tests above cover the entry point."""
    from benchmark.cli import main

    db = tmp_path / "store.db"
    storage = ["--storage", f"sqlite:///{db}"] if args[0] == "run" and "--storage" not in args else []
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["benchmark", *args, *storage])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    message = " ".join(err.split())
    assert message.startswith("error:") and needle in message, err
    assert "Traceback" not in err
    assert not (tmp_path / "results").exists()  # the default store was never created
    if db.exists():  # an opened store holds no rows
        from benchmark.store import Store

        assert Store(f"sqlite:///{db}").results() == [] and Store(f"sqlite:///{db}").pairs() == []


def test_a_report_that_cannot_be_written_after_a_run_says_the_results_are_stored(tmp_path, monkeypatch, capsys,
                                                                               data_root):
    """A long run must not end in a traceback because its report broke: the error says the results are
    stored and gives the command that builds the report again."""
    import benchmark.report as report
    from benchmark.cli import main
    from benchmark.store import Store

    def broken(*args, **kwargs):
        raise RuntimeError("simulated template error")

    monkeypatch.setattr(report, "build_report", broken)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setattr(sys, "argv", ["benchmark", "run", "--suite", "smoke", "--datasets", "keel-glass1",
                                      "--methods", "baseline", "--trials", "1", "--seeds", "1", "--storage", url,
                                      "--data-root", str(data_root), "--output", str(tmp_path / "reports")])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    message = " ".join(capsys.readouterr().err.split())
    assert "the results are stored, but the report could not be written (RuntimeError: simulated template error)" \
        in message
    assert f"python -m benchmark report --suite smoke --output {tmp_path / 'reports'} --storage {url}" in message
    assert [r.status for r in Store(url).results("smoke")] == ["ok"]
