"""First contact (issue 29): what a new user meets in the first hour, each with the test that failed on the
code before the fix: the CSV export's split seed, a file path given as --storage, missing data offline,
the plugin and hardware in the HTML provenance, progress while the report is written, `show` and `list`
as tables, the terminal at 80 columns, unique SVG ids, the LaTeX table's names and citations, and a
user's own data as a first-class dataset."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter

import pytest
from typer.testing import CliRunner

from benchmark.cli import app
from benchmark.report import build_report
from benchmark.store import Store

METRICS = {"minority_f1": 0.5, "minority_recall": 0.6, "minority_pr_auc": 0.4, "balanced_accuracy": 0.7}
HARDWARE = {"machine": "x86_64", "cpu": "AMD EPYC 7763 64-Core Processor", "cores": 16, "memory_gib": 125.8,
            "gpu": "NVIDIA H100 80GB HBM3", "gpu_memory_gib": 79.1}
PLUGINS = {"my-plugin": {"version": "1.2.0", "entry_points": ["benchmark.methods:weighted-focal-loss"]}}


def invoke(*args: str, columns: int = 80):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": str(columns)})


def status_of(capsys, *args: str) -> tuple[int, str]:
    """The exit status and stderr of the command as `python -m benchmark` runs it (errors mapped to 2)."""
    from benchmark.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    return exit_info.value.code, " ".join(capsys.readouterr().err.split())


@pytest.fixture(scope="module")
def store_url(tmp_path_factory) -> str:
    """Two methods on keel-yeast3 over two split seeds x two seeds, as `run` stores them."""
    url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'results.db'}"
    store = Store(url)
    for method in ("baseline", "smote"):
        for split_seed in (0, 1):
            store.update_pair("fc", "keel-yeast3", method, split_seed=split_seed, status="complete",
                              budget={"trials": 1, "seeds": 2}, info={"split_seed": split_seed})
            for seed in (0, 1):
                store.claim_seed("fc", "keel-yeast3", method, seed, split_seed=split_seed)
                store.finish_seed("fc", "keel-yeast3", method, seed, split_seed=split_seed, status="ok",
                                  metrics={k: v + 0.01 * (seed + 2 * split_seed) for k, v in METRICS.items()},
                                  per_class={"recall": [0.9, 0.6]},
                                  provenance={"benchmark_version": "0.1.0", "device": "cuda", "hardware": HARDWARE,
                                              "device_name": "NVIDIA H100 80GB HBM3", "plugins": PLUGINS,
                                              "host": "node1"})
    return url


@pytest.fixture(scope="module")
def built(store_url, tmp_path_factory):
    steps: list[str] = []
    report = build_report(Store(store_url), "fc", tmp_path_factory.mktemp("reports"), progress=steps.append)
    return report, steps


def test_results_csv_tells_the_split_seeds_apart(store_url):
    result = invoke("results", "--storage", store_url, "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 8 and {r["split_seed"] for r in rows} == {"0", "1"}
    keys = Counter((r["dataset"], r["method"], r["split_seed"], r["seed"]) for r in rows)
    assert max(keys.values()) == 1  # every row is told apart, as in the JSON export


def test_a_file_path_as_storage_names_the_url_it_means(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for args in (["results", "--storage", "results.db"], ["run", "--suite", "smoke", "--storage", "results.db"]):
        status, err = status_of(capsys, *args)
        assert status == 2, err
        assert "<unparseable URL>" not in err and "--storage sqlite:///results.db" in err
    assert not (tmp_path / "results.db").exists() and not (tmp_path / "results").exists()


def test_missing_data_offline_stops_before_any_work_and_names_the_fix(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BENCHMARK_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    db = tmp_path / "s.db"
    status, text = status_of(capsys, "run", "--suite", "smoke", "--datasets", "keel-yeast3,keel-yeast4", "--methods",
                             "baseline", "--data-root", str(tmp_path / "empty"), "--storage", f"sqlite:///{db}",
                             "--output", str(tmp_path / "reports"))
    assert status == 2, text
    assert "keel-yeast4 (needs keel/yeast4.dat" in text and "--skip-missing-data" in text
    assert "keel-yeast3" not in text.split("lack their files")[1].split("--")[0]  # it ships in the package
    assert not db.exists() and not (tmp_path / "reports").exists()  # nothing was run, stored or written


def test_html_provenance_names_the_plugins_and_the_hardware(built):
    index = (built[0].folder / "index.html").read_text()
    assert "my-plugin 1.2.0 (benchmark.methods:weighted-focal-loss)" in index
    assert "AMD EPYC 7763 64-Core Processor (x86_64), 16 cores, 125.8 GiB memory; GPU NVIDIA H100 80GB HBM3, 79.1 GiB" \
        in index
    from benchmark.store.provenance import hardware

    facts = hardware("cpu")  # this machine, as a row stores it
    assert facts["cores"] >= 1 and facts["memory_gib"] > 0 and "gpu" not in facts


def test_report_progress_names_each_step(built, store_url, tmp_path, capsys):
    _, steps = built
    assert steps[0] == "reading the results store" and "dataset page 1/1: keel-yeast3" in steps
    assert steps[-1].startswith("the exports") and "the index page" in steps
    from benchmark.cli.stored import write_report

    write_report(Store(store_url), "fc", str(tmp_path), None)  # stderr is not a terminal here: one line first
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("writing the report of suite 'fc' into") and err[-1].startswith("report: ")


def test_show_renders_tables_not_json_fragments():
    method = invoke("show", "method", "focal-loss")
    assert method.exit_code == 0, method.output
    assert not re.search(r"\{\}|\bnull\b|^requires +\{", method.stdout, re.M), method.stdout
    assert re.search(r"^requires +-$", method.stdout, re.M)
    dataset = invoke("show", "dataset", "keel-yeast3", "--format", "table")
    assert dataset.exit_code == 0, dataset.output
    assert '"samples"' not in dataset.stdout and re.search(r"^stats +samples +1484$", dataset.stdout, re.M)
    assert all(len(line) <= 80 and line == line.rstrip() for line in dataset.stdout.splitlines())


def test_list_datasets_shows_size_and_imbalance_at_80_columns():
    result = invoke("list", "datasets", "keel-yeast*")
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["name", "rows", "imbalance", "classes", "modality"]
    assert re.search(r"^keel-yeast3 +1,484 +8\.1 +2 +tabular$", result.stdout, re.M)
    assert "http" not in result.stdout and all(len(line) <= 80 for line in lines)


def test_help_at_80_columns_is_wrapped_not_cut_and_flags_have_no_type():
    for args in ([], ["run"], ["report"], ["show"]):
        text = invoke(*args, "--help").stdout
        assert "…" not in text and "..." not in text.replace("[ARGS]...", ""), text
        assert "<bool>" not in text and all(len(line) <= 80 for line in text.splitlines())
    run_help = invoke("run", "--help").stdout
    assert "sqlite:///results/benchmark.db." in run_help and re.search(r"^  --plan  ", run_help, re.M)


def test_progress_bars_keep_the_pair_count_at_80_columns():
    from rich.console import Console

    from benchmark.cli.run_command import progress_bars

    screen = Console(width=80, force_terminal=True, record=True, file=io.StringIO())
    bars = progress_bars(False, screen)
    bars.add_task("pairs", total=36, completed=12, eta="eta 1:23")
    bars.add_task("  keel-winequality-white-3-9_vs_5 x class-reorganisation-sampling: 12 done, 3 pruned",
                  total=20, completed=15, eta="")
    screen.print(bars.make_tasks_table(bars.tasks))  # the frame a live display draws
    last = [line.rstrip() for line in screen.export_text().splitlines()[-2:]]
    pairs = next(line for line in last if line.startswith("pairs"))
    assert "12/36" in pairs and "eta 1:23" in pairs and all(len(line) <= 80 for line in last)
    assert "15/20" in next(line for line in last if "keel-winequality" in line)


def test_every_page_has_unique_element_ids(tmp_path):
    from tests.report.test_report import SUITE, write_run

    report = build_report(write_run(f"sqlite:///{tmp_path / 'r.db'}", with_trials=False), SUITE, tmp_path / "out")
    pages = [report.folder / "index.html", *(report.folder / "datasets").glob("*.html")]
    assert sum(page.read_text().count("<svg") for page in pages) >= 3  # the figures are there to check
    for page in pages:
        html = page.read_text()
        ids = Counter(re.findall(r'\sid="([^"]+)"', html))
        assert not [i for i, n in ids.items() if n > 1], (page.name, ids.most_common(3))
        for ref in re.findall(r'(?:href="#|url\(#)([^")]+)', html):
            assert ref in ids, (page.name, ref)  # every reference still finds its element


def test_latex_names_methods_and_cites_keys_of_references_bib(built):
    report, _ = built
    tex = (report.folder / "leaderboard.tex").read_text()
    bib = (report.folder / "references.bib").read_text()
    assert re.search(r"^SMOTE~\\cite\{chawla2002smote\} & ", tex, re.M) and re.search(r"^Baseline & ", tex, re.M)
    keys = {k for group in re.findall(r"\\cite\{([^}]+)\}", tex) for k in group.split(",")}
    assert keys and all(re.search(r"@\w+\{" + re.escape(k) + ",", bib) for k in keys)
    assert "@software{imbalance_benchmark," in bib  # the tool's own entry, beside the report's
    index = (report.folder / "index.html").read_text()
    assert "The benchmark tool (imbalance-benchmark" in index


def test_a_csv_dataset_of_a_suite_file_gets_its_card_in_the_report(tmp_path, monkeypatch):
    """Acceptance check 4: a suite file with a CSV dataset; its report shows the dataset's card and its
    'What is missing or wrong' box says nothing of it."""
    import numpy as np

    from benchmark.run import RunOptions, run_suite

    rng = np.random.default_rng(0)
    rows = ["x1,x2,label"] + [f"{a:.3f},{b:.3f},{'rare' if i % 10 == 0 else 'common'}"
                              for i, (a, b) in enumerate(rng.normal(size=(300, 2)))]
    rows += rows[1:4]  # three exact duplicates
    (tmp_path / "mine.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "mine.toml").write_text(
        'name = "mine"\ndatasets = [{file = "mine.csv", target = "label"}]\nmethods = ["baseline"]\n'
        'split_seeds = 1\n[budget]\ntrials = 1\nseeds = 1\n[training.tabular]\nepochs = 2\n')
    url = f"sqlite:///{tmp_path / 'r.db'}"
    summary = run_suite(RunOptions(suite=str(tmp_path / "mine.toml"), storage=url, device="cpu"))
    assert summary.statuses == {"complete": 1}, summary.statuses
    report = build_report(Store(url), "mine", tmp_path / "reports")
    assert not [p for p in report.problems if "mine" in p], report.problems
    page = (report.folder / "datasets" / "mine.html").read_text()
    import hashlib

    digest = hashlib.sha256((tmp_path / "mine.csv").read_bytes()).hexdigest()
    assert digest in page and "mine.csv" in page and "303 in 2 classes, imbalance ratio" in page
    assert "3 duplicate rows in 3 groups" in page
    assert "not in the dataset registry" not in page and "modality unknown" not in page
    assert 'class="problems"' not in page or "mine" not in page.split('class="problems"')[1].split("</")[0]
