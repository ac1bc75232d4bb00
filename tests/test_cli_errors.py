"""Malformed invocations: each exits 2 with exactly one line on stderr naming the problem (and the fix),
no traceback, and a results store that stays byte for byte what it was.

A handful run ``python -m benchmark`` as a subprocess, so the real entry point (and whatever copy of
click typer carries) is what is tested; the rest call :func:`benchmark.cli.main` in this process, the
same code path without paying a torch import per case."""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

import pytest

from benchmark.store import Store
from tests.test_cli import cli

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
STORE = "{store}"  # replaced by the URL of a store that already holds a result


def lines_of(stderr: str) -> list[str]:
    return [line for line in ANSI.sub("", stderr).splitlines() if line.strip()]


@pytest.fixture
def store_url(tmp_path: Path) -> tuple[str, Path]:
    """A store holding one pair row, as a user's real store would."""
    path = tmp_path / "store.db"
    url = f"sqlite:///{path}"
    store = Store(url)
    store.update_pair("smoke", "keel-yeast3", "baseline", status="complete", budget={"trials": 2, "seeds": 2})
    store.engine.dispose()
    return url, path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# (arguments, what the one line must say); {store} is the URL of the existing store.
SUBPROCESS_CASES = [
    (["run", "--suite", "smoke", "--trials", "abc", "--storage", STORE], "--trials 'abc' is not a whole number"),
    (["run", "--storage", STORE], "needs --suite"),
    (["list", "foo"], "'foo' is not one of 'methods', 'datasets', 'suites'"),
    (["frob"], "there is no command 'frob'"),
    (["list", "methods", "--bogus"], "has no option --bogus"),
    (["results", "--suite", "nope", "--storage", STORE], "suite 'nope' is neither registered nor in the store"),
    (["speed", "--lr", "nan", "--device", "cpu"], "--lr nan is invalid"),  # issue 28: was a 46-line traceback
]

IN_PROCESS_CASES = [
    (["run", "--suite", "smoke", "--trials", "0", "--storage", STORE], "--trials 0 is invalid"),
    (["run", "--suite", "smoke", "--seeds", "-1", "--storage", STORE], "--seeds -1 is invalid"),
    (["run", "--suite", "smoke", "--workers", "0", "--storage", STORE], "--workers 0 is invalid"),
    (["run", "--suite", "smoke", "--stack-trials", "0", "--storage", STORE], "--stack-trials 0 is invalid"),
    (["run", "--suite", "smoke", "--gpu-fraction", "2", "--storage", STORE], "--gpu-fraction 2.0 is invalid"),
    (["run", "--suite", "smoke", "--timeout", "soon", "--storage", STORE], "--timeout 'soon' is not a number"),
    (["run", "--suite", "smoke", "--storage", ""], "--storage is empty"),
    (["run", "--suite", "smoke", "--data-root", "", "--storage", STORE], "--data-root is empty"),
    (["run", "--suite", "smoke", "--methods", "", "--storage", STORE], "--methods '' names nothing"),
    (["run", "--suite", "smoke", "--datasets", " , ", "--storage", STORE], "--datasets ' , ' names nothing"),
    (["run", "--suite", "smoke", "--objective", "", "--storage", STORE], "--objective is empty"),
    (["run", "--suite", "smoke", "--output", "{file}/reports", "--storage", STORE], "is not a folder"),
    (["run", "--suite", "smoke", "--device", "tpu", "--storage", STORE], "device 'tpu' is unknown"),
    (["run", "--suite", "no-such-suite", "--storage", STORE], "unknown suite 'no-such-suite'"),
    (["run", "--suite", "smoke", "--methods", "smoet", "--storage", STORE], "did you mean 'smote'"),
    (["run", "--suite", "smoke", "--datasets", "digits-ltt", "--storage", STORE], "unknown dataset 'digits-ltt'"),
    (["run", "--suite", "smoke", "--objective", "nope", "--storage", STORE], "objective 'nope' is unknown"),
    (["run", "--suite", "smoke", "--pruner", "nope", "--storage", STORE], "pruner 'nope' is unknown"),
    (["run", "--suite", "smoke", "--executor", "nope", "--storage", STORE], "executor 'nope' is unknown"),
    (["run", "--suite", "smoke", "--ray-address", "ray://x:1", "--storage", STORE], "add --executor ray"),
    (["run", "--suite", "smoke", "--data-root", "/no/such/folder", "--storage", STORE], "does not exist"),
    (["run", "--suite", "smoke", "--quiet", "--verbose", "--storage", STORE], "--quiet and --verbose"),
    (["run", "--storage", STORE, "--suite"], "option '--suite' requires an argument"),
    (["lst", "methods"], "did you mean 'list'"),
    (["list", "methods", "--format", "xml"], "'xml' is not one of 'table', 'json'"),
    (["list"], "needs the kind argument"),
    (["show", "widget", "x"], "'widget' is not one of 'method', 'dataset', 'suite'"),
    (["show", "method", "nope"], "unknown method 'nope'"),
    (["show", "dataset", "keel-yeast3", "--data-root", ""], "--data-root is empty"),
    (["results", "--suite", "smokee", "--storage", STORE], "neither registered nor in the store"),
    (["results", "--suite", "tabular", "--storage", STORE], "holds no results for suite 'tabular'"),
    (["results", "--storage", "sqlite:///{tmp}/absent.db"], "no results store at"),
    (["results", "--storage", ""], "--storage is empty"),
    (["results", "--format", "xml", "--storage", STORE], "'xml' is not one of 'csv', 'json'"),
    (["report", "--suite", "nope", "--storage", STORE, "--output", "{tmp}/r"], "neither registered nor in the store"),
    (["report", "--storage", STORE, "--output", "{file}/r"], "is not a folder"),
    (["speed", "--lr", "0", "--device", "cpu"], "--lr 0.0 is invalid"),
    (["speed", "--repeats", "0", "--device", "cpu"], "--repeats 0 is invalid"),
    (["speed", "--threads", "0", "--device", "cpu"], "--threads 0 is invalid"),
    (["speed", "--epochs", "0", "--device", "cpu"], "--epochs 0 is invalid"),
    (["speed", "--seed", "-1", "--device", "cpu"], "--seed -1 is invalid"),
    (["speed", "--dataset", "keel-yeast33", "--device", "cpu"], "unknown dataset 'keel-yeast33'"),
]


def expand(args: list[str], url: str, tmp_path: Path) -> list[str]:
    afile = tmp_path / "a-file"
    afile.write_text("not a folder")
    return [a.replace(STORE, url).replace("{file}", str(afile)).replace("{tmp}", str(tmp_path)) for a in args]


def check(status: int, stderr: str, needle: str, path: Path, before: str, tmp_path: Path) -> None:
    lines = lines_of(stderr)
    assert status == 2, stderr
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert lines[0].startswith("error: ") and needle in lines[0], lines[0]
    assert digest(path) == before  # the store is unchanged
    assert not (tmp_path / "results").exists()  # no default store was created
    assert not (tmp_path / "reports").exists()  # nor a report folder


@pytest.mark.parametrize("args, needle", SUBPROCESS_CASES, ids=[" ".join(a) for a, _ in SUBPROCESS_CASES])
def test_malformed_invocation_through_the_entry_point(args, needle, store_url, tmp_path):
    url, path = store_url
    before = digest(path)
    done = cli(*expand(args, url, tmp_path), cwd=tmp_path)
    check(done.returncode, done.stderr, needle, path, before, tmp_path)


@pytest.mark.parametrize("args, needle", IN_PROCESS_CASES, ids=[" ".join(a) for a, _ in IN_PROCESS_CASES])
def test_malformed_invocation(args, needle, store_url, tmp_path, monkeypatch, capsys):
    from benchmark.cli import main

    url, path = store_url
    before = digest(path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["benchmark"])
    with pytest.raises(SystemExit) as exit_info:
        main(expand(args, url, tmp_path))
    check(exit_info.value.code, capsys.readouterr().err, needle, path, before, tmp_path)


def test_no_arguments_print_the_help_and_version_prints_the_version(tmp_path):
    bare = cli(cwd=tmp_path)
    assert bare.returncode == 0 and "Usage:" in bare.stdout and "Exit status" in bare.stdout, bare.stderr
    assert "Traceback" not in bare.stderr
    version = cli("--version", cwd=tmp_path)
    from benchmark import __version__

    assert version.returncode == 0 and version.stdout.strip() == f"imbalance-benchmark {__version__}"


def test_a_read_only_store_is_refused_before_any_work(store_url, tmp_path, monkeypatch, capsys, data_root):
    """A store that opens but cannot be written fails at once, with the store left as it was."""
    from benchmark.cli import main

    url, path = store_url
    before = digest(path)
    read_only = f"sqlite:///file:{path}?mode=ro&uri=true"
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--suite", "smoke", "--datasets", "keel-yeast3", "--methods", "baseline", "--storage",
              read_only, "--data-root", str(data_root), "--output", str(tmp_path / "out")])
    check(exit_info.value.code, capsys.readouterr().err, "cannot be written", path, before, tmp_path)
    assert not (tmp_path / "out").exists()
