"""The command line as a contract: JSON listings, tables that fit the width, search spaces, what a run
prints at each verbosity, exit statuses, and bad input that exits with one clear line (the table of
malformed invocations is tests/test_cli_errors.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "benchmark", *args], cwd=cwd or ROOT, env=full_env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow  # starts processes (the CLI or workers): seconds, kept out of -m 'not slow'
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


@pytest.mark.slow  # starts processes (the CLI or workers): seconds, kept out of -m 'not slow'
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


@pytest.mark.slow  # starts processes (the CLI or workers): seconds, kept out of -m 'not slow'
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
    assert {r.status for r in Store(url).results("smoke")} == {"ok"}


# -- plain tables ----------------------------------------------------------------------------------
def invoke(*args: str, columns: int = 80):
    from typer.testing import CliRunner

    from benchmark.cli import app

    return CliRunner().invoke(app, list(args), env={"COLUMNS": str(columns)})


def test_list_methods_is_one_line_per_method_cut_to_the_width():
    from benchmark.methods import method_registry

    for columns in (80, 132):
        result = invoke("list", "methods", columns=columns)
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert lines[0].split()[0] == "name" and "summary" in lines[0]
        assert [line.split()[0] for line in lines[1:]] == method_registry.names()  # one line each, in order
        assert max(len(line) for line in lines) <= columns
        assert any(line.endswith("...") for line in lines)  # long summaries are cut, not wrapped
    wide = invoke("list", "methods", columns=132).stdout.splitlines()[0].split()
    assert wide == ["name", "modalities", "family", "engines", "summary"]  # optional columns fit when wide
    assert invoke("list", "methods", columns=80).stdout.splitlines()[0].split() == ["name", "modalities", "summary"]


def test_patterns_match_in_any_case_and_a_plain_word_anywhere():
    result = invoke("list", "methods", "SMOTE")
    names = [line.split()[0] for line in result.stdout.splitlines()[1:]]
    assert {"smote", "borderline-smote-1", "smote-tomek", "svm-smote"} <= set(names)
    assert all("smote" in n for n in names)
    assert [r["name"] for r in json.loads(invoke("list", "methods", "SMOTE-T*", "--format", "json").stdout)] == \
        ["smote-tomek"]
    nothing = invoke("list", "datasets", "no-such-thing")
    assert nothing.exit_code == 0 and nothing.stdout == ""
    assert "no datasets match 'no-such-thing'" in nothing.stderr


def test_show_method_prints_its_search_space_without_the_shared_training_parameters():
    table = invoke("show", "method", "focal-loss")
    assert table.exit_code == 0, table.output
    assert re.search(r"^search_space +gamma +float in \[0\.5, 5\]$", table.stdout, re.M), table.stdout
    card = json.loads(invoke("show", "method", "class-balanced-loss", "--format", "json").stdout)
    space = card["search_space"]
    assert space["beta"] == {"type": "categorical", "choices": [0.9, 0.99, 0.999, 0.9999], "conditional": False}
    assert space["gamma"]["conditional"] is True  # asked only when loss_type is focal
    assert "lr" not in space and "weight_decay" not in space
    assert json.loads(invoke("show", "method", "baseline", "--format", "json").stdout)["search_space"] == {}


# -- what a run prints, and its exit status ---------------------------------------------------------
def run_in_process(monkeypatch, capsys, tmp_path, *args: str) -> tuple[int, str]:
    from benchmark.cli import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--suite", "smoke", "--methods", "baseline", "--storage", f"sqlite:///{tmp_path / 's.db'}",
              "--output", str(tmp_path / "reports"), *args])
    return exit_info.value.code, capsys.readouterr().err


@pytest.mark.slow  # starts processes (the CLI or workers): seconds, kept out of -m 'not slow'
def test_a_run_whose_pairs_lack_data_exits_1_and_quiet_prints_only_the_summary(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BENCHMARK_OFFLINE", "1")
    empty = tmp_path / "no-data"
    empty.mkdir()
    # keel-yeast4: keel-yeast3 ships in the package (the smoke suite's), so it never lacks data
    status, err = run_in_process(monkeypatch, capsys, tmp_path, "--datasets", "keel-yeast4", "--data-root",
                                 str(empty), "--quiet", "--skip-missing-data")
    assert status == 1, err
    lines = err.splitlines()
    assert re.fullmatch(r"\d+ pairs: 0 already complete; \d+ data-unavailable; [\d.]+ s", lines[0]), err
    assert lines[1].startswith("report: ") and (tmp_path / "reports" / "smoke" / "index.html").exists()
    assert "did not finish (exit status 1)" in lines[2] and len(lines) == 3
    status, err = run_in_process(monkeypatch, capsys, tmp_path, "--datasets", "keel-yeast4", "--data-root", str(empty),
                                 "--skip-missing-data")
    assert status == 1 and "keel-yeast4 x baseline: data-unavailable" in err  # normal: a line per pair


@pytest.mark.slow  # starts processes (the CLI or workers): seconds, kept out of -m 'not slow'
def test_verbose_prints_a_line_per_trial_and_seed_never_wrapped(tmp_path, monkeypatch, capsys, data_root):
    status, err = run_in_process(monkeypatch, capsys, tmp_path, "--datasets", "keel-yeast3", "--trials", "1",
                                 "--seeds", "1", "--data-root", str(data_root), "--verbose")
    assert status == 0, err
    assert re.search(r"^  keel-yeast3\S* x baseline: trial 1/1: 1 done, 0 pruned, 0 failed, best \d\.\d{3}$", err, re.M), err
    assert re.search(r"^  keel-yeast3\S* x baseline: seed 0 ok$", err, re.M), err
    pair = [line for line in err.splitlines() if "x baseline: complete (" in line]
    assert pair and all(line.endswith("device-s)") and len(line) > 80 for line in pair), err  # one line each
    # optuna-dashboard shows each study's objective by name, not as "Objective 0"
    import optuna

    from benchmark.store.studies import optuna_storage

    storage = optuna_storage(f"sqlite:///{tmp_path / 's.db'}", 10)
    names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
    assert names and all(optuna.load_study(study_name=n, storage=storage).metric_names == ["minority_f1"]
                         for n in names)


# -- what resolving a run changes ------------------------------------------------------------------
def test_workers_are_capped_at_the_machine_and_duplicate_names_run_once(tmp_path, monkeypatch):
    import benchmark.run.plan as plan_module
    from benchmark.run import RunOptions

    gib = 1 << 30
    monkeypatch.setattr(plan_module, "machine_capacity", lambda: (2, 24 * gib))
    plan = RunOptions(suite="smoke", workers=16, methods=["baseline", "smote", "baseline"],
                      datasets=["keel-yeast3", "keel-yeast3"], storage=f"sqlite:///{tmp_path / 's.db'}").resolve()
    assert plan.options.workers == 2 and plan.methods == ["baseline", "smote"] and plan.datasets == ["keel-yeast3"]
    assert plan.notes == ["--workers 16 capped at 2: this machine has 2 CPU core(s) and 24.0 GiB of available "
                          "memory, and a local worker needs a core and 1 GiB"]
    monkeypatch.setattr(plan_module, "machine_capacity", lambda: (16, 3 * gib + 1))
    assert RunOptions(suite="smoke", workers=8, storage=f"sqlite:///{tmp_path / 's.db'}").resolve().options.workers == 3
    fits = RunOptions(suite="smoke", workers=2, storage=f"sqlite:///{tmp_path / 's.db'}").resolve()
    assert fits.options.workers == 2 and fits.notes == []


def test_results_and_report_read_a_store_on_a_read_only_mount(tmp_path, monkeypatch):
    """A folder SQLite cannot write to (a read-only mount) holds a store that is still read, and left as it
    is: no write-ahead-log files appear beside it."""
    import benchmark.cli.stored as stored
    from benchmark.store import Store

    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store(url)
    store.update_pair("smoke", "keel-yeast3", "baseline", status="failed", reason="RuntimeError: boom")
    store.engine.dispose()
    # As on a read-only mount, SQLite cannot create the write-ahead log beside it
    # (root ignores permissions, so a folder in the way stands in for the mount).
    (tmp_path / "store.db-wal").mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    monkeypatch.setattr(stored, "writable_folder", lambda folder: folder != tmp_path)
    result = invoke("results", "--suite", "smoke", "--storage", url)
    assert result.exit_code == 0, result.output
    assert [(r["method"], r["status"]) for r in json.loads(result.stdout)] == [("baseline", "failed")]
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_an_interrupt_swallowed_by_a_finaliser_is_sent_again(monkeypatch):
    """A KeyboardInterrupt raised inside a weakref callback is only printed by Python ("Exception ignored"):
    the entry point sends the signal again so that the run still stops."""
    import signal
    import time
    import weakref

    from benchmark.cli.entry import _redeliver_swallowed_interrupts

    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)  # restored after the test
    received: list[int] = []
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: received.append(signum))
    try:
        _redeliver_swallowed_interrupts()

        class Held:
            pass

        def swallowed(ref):
            raise KeyboardInterrupt(f"signal {int(signal.SIGUSR1)}")

        held = Held()
        ref = weakref.ref(held, swallowed)
        del held  # the callback runs now; its exception goes to sys.unraisablehook
        deadline = time.monotonic() + 5
        while not received and time.monotonic() < deadline:
            time.sleep(0.01)
        assert received == [signal.SIGUSR1] and ref() is None
    finally:
        signal.signal(signal.SIGUSR1, previous)
