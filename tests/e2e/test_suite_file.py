"""Acceptance check 4 of issue 17, through the command line: a suite file with two KEEL sets, a CSV
dataset and three methods runs, resumes (the second run skips everything) and reports under its own
name; a bad key is one line on stderr naming the valid keys (exit 2); a changed file under the same
name is refused with a message saying so, and nothing is run."""

from __future__ import annotations

import re
import textwrap

import pandas as pd

from benchmark.datasets._keel_format import read_keel
from benchmark.store import Store
from tests.test_cli import cli

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
SUITE = """
    # Two KEEL sets by their registry names, a table of our own, three methods.
    name = "my-quick"
    description = "acceptance check: KEEL and a CSV file"
    datasets = ["keel-glass1", "keel-ecoli1", {file = "tables/thyroid.csv", target = "diagnosis"}]
    methods = ["baseline", "random-oversampling", "class-weighted-ce"]

    [budget]
    trials = 2
    seeds = 1

    [training.tabular]
    epochs = 3
    batch_size = 64
    lr = 3e-3
"""


def stderr_lines(text: str) -> list[str]:
    return [line for line in ANSI.sub("", text).splitlines() if line.strip()]


def test_a_suite_file_runs_resumes_reports_and_is_checked(tmp_path, data_root):
    # The CSV dataset: a KEEL file written as a table with named columns and text labels.
    table = read_keel(data_root / "keel" / "new_thyroid1.dat")
    (tmp_path / "tables").mkdir()
    frame = pd.DataFrame(table.X, columns=table.feature_names)
    frame["diagnosis"] = ["hyper" if v else "normal" for v in table.y]
    frame.to_csv(tmp_path / "tables" / "thyroid.csv", index=False)
    suite = tmp_path / "my-quick.toml"
    suite.write_text(textwrap.dedent(SUITE))
    store = f"sqlite:///{tmp_path / 'results.db'}"
    args = ["run", "--suite", str(suite), "--storage", store, "--data-root", str(data_root),
            "--output", str(tmp_path / "reports"), "--device", "cpu"]

    first = cli(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr + first.stdout
    pairs = Store(store).pairs("my-quick")
    assert len(pairs) == 9 and {p.status for p in pairs} == {"complete"}
    assert {p.dataset for p in pairs} == {"keel-glass1", "keel-ecoli1", "thyroid"}
    assert all(p.budget["suite_digest"] for p in pairs)
    thyroid = next(p for p in pairs if p.dataset == "thyroid")
    assert thyroid.info["class_names"] == ["normal", "hyper"] and thyroid.info["minority_classes"] == [1]
    index = tmp_path / "reports" / "my-quick" / "index.html"
    assert index.is_file() and "thyroid" in index.read_text()

    again = cli(*args, cwd=tmp_path)  # resumes: every pair is complete, nothing runs
    assert again.returncode == 0, again.stderr
    assert "9 pairs: 9 already complete; nothing new" in again.stdout + again.stderr

    bad = tmp_path / "bad.toml"
    bad.write_text(textwrap.dedent(SUITE).replace("epochs = 3", "epochz = 3"))
    refused = cli("run", "--suite", str(bad), "--storage", store, cwd=tmp_path)
    lines = stderr_lines(refused.stderr)
    assert refused.returncode == 2 and len(lines) == 1 and "Traceback" not in refused.stderr, refused.stderr
    assert "unknown key 'training.tabular.epochz'" in lines[0]
    assert "valid keys of [training.tabular]: epochs, batch_size, lr," in lines[0]

    suite.write_text(textwrap.dedent(SUITE).replace("epochs = 3", "epochs = 4"))  # same name, other settings
    changed = cli(*args, cwd=tmp_path)
    lines = stderr_lines(changed.stderr)
    assert changed.returncode == 2 and len(lines) == 1, changed.stderr
    assert "suite 'my-quick' is stored" in lines[0] and "the file (or an option given with it) changed" in lines[0]
    assert "give the changed suite another name" in lines[0]
    assert [(p.dataset, p.method, p.status, p.updated_at) for p in Store(store).pairs("my-quick")] == [
        (p.dataset, p.method, p.status, p.updated_at) for p in pairs]  # nothing ran
