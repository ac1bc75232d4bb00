"""Reports rendered from a small stored run written straight into a temporary SQLite store.

The stored run has four datasets (one whose data was unavailable) and five methods (one no longer
registered), with a not-applicable pair, a failed pair, a pair never run and one damaged row, so
every kind of cell a reader can meet is rendered and checked.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats
from sqlalchemy import text
from typer.testing import CliRunner

from benchmark.errors import BenchmarkError
from benchmark.report import build_report
from benchmark.report.artifacts import read_sample_grids, sample_grid_artifact
from benchmark.report.builder import report_hash
from benchmark.report.records import read_run, results_hash
from benchmark.store import PairRow, ResultRow, Store

SUITE = "smoke"
SEEDS = (0, 1, 2)
BUDGET = {"trials": 3, "seeds": 3, "timeout": None, "objective": "minority_f1", "tune": []}
# Minority F1 and minority PR-AUC order the methods differently, so sorting by PR-AUC reorders rows.
QUALITY = {"random-oversampling": 0.80, "smote": 0.74, "focal-loss": 0.70, "class-weighted-ce": 0.66,
           "old-plugin": 0.62, "baseline": 0.55}
PR_AUC = {"baseline": 0.86, "smote": 0.78, "class-weighted-ce": 0.74, "random-oversampling": 0.70, "focal-loss": 0.66,
          "old-plugin": 0.60}
DATASETS = {"digits-lt": 10, "keel-yeast3": 2, "sms-spam-mini": 2}
OFFSET = {"digits-lt": 0.05, "keel-yeast3": -0.04, "sms-spam-mini": 0.0}
DIGITS_COUNTS = [107, 82, 64, 50, 38, 30, 22, 18, 14, 10]
NOT_APPLICABLE = ("sms-spam-mini", "smote", "smote interpolates numeric features; sms-spam-mini is text")
FAILED = ("keel-yeast3", "focal-loss", "no tuning trial completed: DivergedError: NaN loss at epoch 3")
UNAVAILABLE_REASON = "data for 'cifar10-lt' is unavailable: cifar-10-python.tar.gz not found"
CORRUPT = ("keel-yeast3", "baseline", 2)


def metric_values(dataset: str, method: str, seed: int) -> dict[str, float]:
    q = QUALITY[method] + OFFSET[dataset] + 0.01 * (seed - 1) * (1 + len(method) % 3)
    values = {"minority_recall": q + 0.05, "minority_f1": q, "minority_pr_auc": PR_AUC[method] + OFFSET[dataset]
              + 0.005 * seed, "balanced_accuracy": q + 0.1, "macro_f1": q + 0.08, "accuracy": q + 0.12,
              "gmean": q + 0.02, "ece": 0.05}
    if DATASETS[dataset] > 2:
        values.update(many_shot_accuracy=0.97, medium_shot_accuracy=q + 0.1, few_shot_accuracy=q - 0.1)
    return values


def minority(dataset: str) -> list[int]:
    return [6, 7, 8, 9] if DATASETS[dataset] > 2 else [1]


def write_run(url: str, *, with_trials: bool = True) -> Store:
    """The fixture run, written straight into the store's tables in one transaction (and Optuna's
    tables through Optuna, for the tuning histories)."""
    store = Store(url)
    methods = list(QUALITY)
    rows: list = [PairRow(suite=SUITE, dataset="cifar10-lt", method=m, status="data-unavailable",
                          reason=UNAVAILABLE_REASON, budget=BUDGET, spent={}, info={}) for m in methods]
    for dataset, num_classes in DATASETS.items():
        info = {"split_seed": 0, "split_fingerprint": f"{dataset}-fingerprint"}
        if dataset == "digits-lt":
            info.update(class_names=[str(c) for c in range(10)], minority_classes=[6, 7, 8, 9], imbalance_ratio=10.7,
                        class_counts={"train": DIGITS_COUNTS, "val": [c // 4 for c in DIGITS_COUNTS],
                                      "test": [40] * 10})
        else:  # the split summary the runner stores with each pair
            info.update(class_names=["negative", "positive"], minority_classes=[1], imbalance_ratio=8.07,
                        class_counts={"train": [694, 86], "val": [231, 28], "test": [396, 49]})
        for method in methods:
            pair = PairRow(suite=SUITE, dataset=dataset, method=method, budget=BUDGET, info=info, engine="deep")
            if method == "old-plugin" and dataset != "digits-lt":
                continue  # never run there: "not run"
            if (dataset, method) == NOT_APPLICABLE[:2]:
                pair.status, pair.reason, pair.spent = "not-applicable", NOT_APPLICABLE[2], {}
                rows.append(pair)
                continue
            if (dataset, method) == FAILED[:2]:
                pair.status, pair.reason = "failed", FAILED[2]
                pair.spent = {"trials": 3, "complete": 0, "pruned": 0, "failed": 3, "seconds": 4.0,
                              "failures": ["DivergedError: NaN loss at epoch 3"]}
                rows.append(pair)
                continue
            params = {"k_neighbors": 5} if method == "smote" else {}
            pair.status, pair.best_params, pair.best_value = "complete", params, QUALITY[method]
            pair.study_name = f"{SUITE}::{dataset}::{method}"
            pair.spent = {"trials": 3, "complete": 3, "pruned": 0, "failed": 0, "seconds": 30.0, "failures": []}
            rows.append(pair)
            for seed in SEEDS:
                m = metric_values(dataset, method, seed)
                recall = [min(1.0, 0.98 - 0.04 * c * (1 - QUALITY[method])) for c in range(num_classes)]
                grid = np.linspace(0, 1, 12)
                curves = {str(c): {"recall": grid.round(4).tolist(),
                                   "precision": (1 - grid ** 3 * (1 - QUALITY[method])).round(4).tolist()}
                          for c in minority(dataset)}
                artifacts = {"pr_curves": curves}
                if (dataset, method, seed) == ("digits-lt", "smote", 0):
                    artifacts["generated_samples"] = samples_artifact()
                rows.append(ResultRow(
                    suite=SUITE, dataset=dataset, method=method, seed=seed, status="ok", params=params, metrics=m,
                    val_metrics=m, per_class={"recall": recall, "f1": recall, "precision": recall},
                    timings={"total_seconds": 2.0 + seed}, artifacts=artifacts,
                    provenance={"benchmark_version": "0.1.0", "git_commit": "abc123", "host": "ci",
                                "packages": {"torch": "2.14.1", "optuna": "5.0.0"}, "device": "cpu",
                                "device_name": "cpu (x86_64)", "engine": "deep", "split_seed": 0,
                                "split_fingerprint": info["split_fingerprint"], "budget": BUDGET,
                                "config": {"epochs": 2, "batch_size": 64}}))
    with store.session() as session:
        session.add_all(rows)
        session.commit()
    with store.engine.begin() as conn:  # a damaged row, as a hand edit or a broken migration leaves it
        conn.execute(text("UPDATE benchmark_results SET metrics = '{\"minority_f1\": 0.5,' "
                          "WHERE dataset = :d AND method = :m AND seed = :s"),
                     {"d": CORRUPT[0], "m": CORRUPT[1], "s": CORRUPT[2]})
    if with_trials:
        write_trials(url)
    return store


def write_trials(url: str) -> None:
    import optuna

    for method in ("baseline", "smote", "random-oversampling"):
        study = optuna.create_study(storage=url, study_name=f"{SUITE}::digits-lt::{method}", direction="maximize")
        for number, value in enumerate((0.4, QUALITY[method] - 0.1, QUALITY[method])):
            study.add_trial(optuna.trial.create_trial(value=value, params={}, distributions={}))
            assert study.trials[number].number == number


def samples_artifact() -> dict:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, size=(32, 1, 8, 8), dtype=np.uint8)
    labels = np.repeat([8, 9], 16)
    return sample_grid_artifact(images, labels, images[::-1], labels, classes=[8, 9], per_class=4,
                                caption="test grid")


def seed_mean_and_half(dataset: str, method: str, metric: str, seeds=SEEDS) -> tuple[float, float]:
    values = np.array([metric_values(dataset, method, s)[metric] for s in seeds])
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values))
    return float(values.mean()), float(half)


@pytest.fixture(scope="module")
def run_url(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'results.db'}"
    write_run(url)
    return url


@pytest.fixture(scope="module")
def built(run_url, tmp_path_factory):
    return build_report(Store(run_url), SUITE, tmp_path_factory.mktemp("reports"))


def rows_of(html: str, table_id: str) -> list[str]:
    table = re.search(rf'<table[^>]*id="{table_id}".*?</table>', html, re.S).group(0)
    return re.findall(r'<tr data-method="([^"]+)"', table)


def suite_csv(built) -> dict[str, dict[str, str]]:
    rows = csv.DictReader(io.StringIO((built.folder / "leaderboard.csv").read_text()))
    return {(r["scope"], r["method"]): r for r in rows}


# -- what the report contains --------------------------------------------------------------------
def test_report_writes_every_page_figure_and_export(built):
    folder = built.folder
    for name in ("index.html", "leaderboard.csv", "results.json", "leaderboard.tex", "references.bib"):
        assert (folder / name).stat().st_size > 0, name
    index = (folder / "index.html").read_text()
    assert sorted(rows_of(index, "suite-leaderboard")) == sorted(QUALITY)
    for header in ("Minority recall", "Minority F1", "Minority PR-AUC", "Balanced accuracy", "Macro-F1", "Wins", "Cost"):
        assert f">{header}</th>" in index, header
    # Column headers carry the written definitions.
    assert 'title="Mean average precision (area under the precision-recall curve, one-vs-rest)' in index
    # One critical-difference diagram per headline metric: 3 datasets x 3 methods have complete results.
    diagrams = re.findall(r'<figure[^>]*data-figure="cd-diagram"[^>]*>\s*(<svg.*?</svg>)', index, re.S)
    assert len(diagrams) == 3
    for method in ("random-oversampling", "class-weighted-ce", "baseline"):
        assert all(method in svg for svg in diagrams)
    assert "Friedman over 3 datasets and 3 methods" in index
    assert "Left out for lack of results on every compared dataset: smote, focal-loss, old-plugin." in index
    for dataset in (*DATASETS, "cifar10-lt"):
        page = (folder / "datasets" / f"{dataset}.html").read_text()
        assert f'href="datasets/{dataset}.html"' in index
        has_results = dataset in DATASETS
        assert ('data-figure="heatmap"' in page) == has_results, dataset
        assert ('data-figure="pr-curves"' in page) == has_results, dataset
    digits = (folder / "datasets" / "digits-lt.html").read_text()
    assert 'data-figure="tuning-history"' in digits
    assert "Many-shot" in digits and "Few-shot" in digits  # long-tailed: shot columns
    assert "Many-shot" not in (folder / "datasets" / "keel-yeast3.html").read_text()
    assert "k_neighbors=5" in digits
    assert "107 / 82 / 64" in digits and "Minority classes</dt><dd>6, 7, 8, 9" in digits


def test_heatmap_orders_classes_head_to_tail_and_marks_minority(built):
    digits = (built.folder / "datasets" / "digits-lt.html").read_text()
    svg = re.search(r'data-figure="heatmap">\s*(<svg.*?</svg>)', digits, re.S).group(1)
    labels = re.findall(r"\((\d+)\)", svg)  # training counts under the class labels, left to right
    assert [int(x) for x in labels] == sorted(DIGITS_COUNTS, reverse=True)
    assert svg.count("•") >= 4  # the four tail classes are marked


def test_suite_figures_match_hand_computation(built):
    rows = suite_csv(built)
    for method in ("random-oversampling", "smote", "baseline"):
        datasets = [d for d in DATASETS if (d, method) not in (NOT_APPLICABLE[:2], FAILED[:2])]
        for metric in ("minority_f1", "minority_pr_auc"):
            per = [seed_mean_and_half(d, method, metric, SEEDS[:2] if (d, method) == CORRUPT[:2] else SEEDS)
                   for d in datasets]
            row = rows[("suite", method)]
            assert float(row[f"{metric}_mean"]) == pytest.approx(np.mean([m for m, _ in per]), abs=1e-6)
            assert float(row[f"{metric}_ci95"]) == pytest.approx(math.sqrt(sum(h * h for _, h in per)) / len(per),
                                                                 abs=1e-6)
    # Per dataset: mean and Student-t half-width over the three seeds.
    mean, half = seed_mean_and_half("digits-lt", "smote", "minority_recall")
    assert float(rows[("digits-lt", "smote")]["minority_recall_mean"]) == pytest.approx(mean, abs=1e-6)
    assert float(rows[("digits-lt", "smote")]["minority_recall_ci95"]) == pytest.approx(half, abs=1e-6)
    # random-oversampling has the best minority F1 (the objective) on every dataset it ran on.
    assert rows[("suite", "random-oversampling")]["datasets_won"] == "3"
    assert float(rows[("suite", "random-oversampling")]["avg_rank_minority_f1"]) == 1.0
    assert float(rows[("suite", "baseline")]["avg_rank_minority_pr_auc"]) == 1.0
    # Cost: tuning seconds plus re-run seconds, over datasets.
    assert float(rows[("suite", "smote")]["cost_device_seconds"]) == pytest.approx(2 * (30 + 2 + 3 + 4))


def test_each_method_is_compared_with_the_baseline_by_welch_intervals_and_per_tail_class(built):
    digits = (built.folder / "datasets" / "digits-lt.html").read_text()
    assert 'href="#vs-baseline"' in digits
    methods = rows_of(digits, "vs-baseline-table")
    assert "baseline" not in methods and sorted(methods) == sorted(m for m in QUALITY if m != "baseline")
    table = re.search(r'<table[^>]*id="vs-baseline-table".*?</table>', digits, re.S).group(0)
    row = re.search(r'<tr data-method="smote".*?</tr>', table, re.S).group(0)
    smote = [metric_values("digits-lt", "smote", s)["minority_f1"] for s in SEEDS]
    base = [metric_values("digits-lt", "baseline", s)["minority_f1"] for s in SEEDS]
    ci = stats.ttest_ind(smote, base, equal_var=False).confidence_interval(0.95)
    diff, half = np.mean(smote) - np.mean(base), (ci.high - ci.low) / 2
    assert f"{diff:+.3f}" in row and f"± {half:.3f}" in row
    assert 'class="num better"' in row  # smote's minority F1 is clearly above the baseline's
    # Tail-class recall: the fixture's per-class recall is 0.98 - 0.04 c (1 - quality), so the
    # difference for class c is 0.04 c (quality - baseline quality).
    tail = ", ".join(f"{c}: {0.04 * c * (QUALITY['smote'] - QUALITY['baseline']):+.2f}" for c in (6, 7, 8, 9))
    assert tail in row
    # A recall of zero is a figure like any other, not a missing one.
    from benchmark.report.aggregation import Cell, DatasetEntry
    from benchmark.report.comparisons import against_baseline

    def entry(name, recall):
        return DatasetEntry(name, "ok", None, {"minority_f1": Cell(0.5, 0.0, 2)}, values={"minority_f1": [0.5, 0.5]},
                            per_class_recall=recall)

    deltas = against_baseline({"baseline": entry("baseline", [0.9, 0.0]), "m": entry("m", [0.9, 0.25])},
                              ["baseline", "m"], ["minority_f1"], [1])
    assert [(d.method, d.minority_recall, d.cells["minority_f1"].mean) for d in deltas] == [("m", [(1, 0.25)], 0.0)]
    # Without a baseline result (keel-yeast3 has its baseline, but cifar10-lt has nothing) there is no table.
    assert "vs-baseline-table" not in (built.folder / "datasets" / "cifar10-lt.html").read_text()


def test_missing_results_are_statuses_with_reasons_never_zeros(built):
    rows = suite_csv(built)
    expected = {("sms-spam-mini", "smote"): "not-applicable", ("keel-yeast3", "focal-loss"): "failed",
                ("cifar10-lt", "baseline"): "data-unavailable", ("keel-yeast3", "old-plugin"): "missing"}
    for key, status in expected.items():
        assert rows[key]["status"] == status
        assert rows[key]["minority_f1_mean"] == "" and rows[key]["minority_pr_auc_mean"] == ""
    sms = (built.folder / "datasets" / "sms-spam-mini.html").read_text()
    # A method that does not apply is one line under the leaderboard (its reason, without its own name at
    # the head), not a row of empty cells in each table.
    assert '<tr data-method="smote"' not in sms
    box = re.search(r'<div class="not-applicable".*?</div>', sms, re.S).group(0)
    assert "Not applicable to this dataset (1 method, no row above)" in box
    assert ('<li data-reason="interpolates numeric features; sms-spam-mini is text">interpolates numeric features; '
            'sms-spam-mini is text (1): <span data-method="smote">smote</span></li>') in box
    # On the suite page the row stays (smote has figures on other datasets), its hover naming the reason once.
    index = (built.folder / "index.html").read_text()
    row = re.search(r'<tr data-method="smote".*?</tr>', index, re.S).group(0)
    assert "sms-spam-mini (not applicable: " + NOT_APPLICABLE[2] + ")" in row
    keel = (built.folder / "datasets" / "keel-yeast3.html").read_text()
    assert "title=\"no tuning trial completed: DivergedError: NaN loss at epoch 3\">failed</td>" in keel
    cifar = (built.folder / "datasets" / "cifar10-lt.html").read_text()
    assert "data unavailable</td>" in cifar and "cifar-10-python.tar.gz not found" in cifar
    # A method with results on only some datasets is marked, and says which are missing and why.
    index = (built.folder / "index.html").read_text()
    focal = re.search(r'<tr data-method="focal-loss".*?</tr>', index, re.S).group(0)
    assert "mean over 2 of 3 datasets" in focal and "keel-yeast3 (failed" in focal


def test_damaged_rows_and_unregistered_methods_are_reported_not_fatal(built):
    problems = " ".join(built.problems)
    assert "keel-yeast3 x baseline seed 2" in problems and "not valid JSON" in problems
    assert "method 'old-plugin' has stored results but is not in the method registry" in problems
    index = (built.folder / "index.html").read_text()
    assert "What is missing or wrong" in index and "old-plugin" in index and "unregistered" in index
    assert "dataset 'cifar10-lt' has no result for any method (data unavailable)" in problems
    # Rows that have every scored dataset carry no "fewer datasets" mark.
    table = re.search(r'<table[^>]*id="suite-leaderboard".*?</table>', index, re.S).group(0)
    assert "†" not in re.search(r'<tr data-method="random-oversampling".*?</tr>', table, re.S).group(0)
    records = json.loads((built.folder / "results.json").read_text())
    corrupt = [r for r in records if r["status"] == "corrupt"]
    assert [(r["dataset"], r["method"], r["seed"]) for r in corrupt] == [CORRUPT]
    # The two good seeds of that pair still count.
    assert suite_csv(built)[("keel-yeast3", "baseline")]["n"] == "2"


def test_results_json_holds_the_rows_of_the_results_command(built, run_url):
    from benchmark.cli import app

    out = CliRunner().invoke(app, ["results", "--suite", SUITE, "--storage", run_url])
    assert out.exit_code == 0, out.output
    assert out.stdout == (built.folder / "results.json").read_text()
    records = json.loads(out.stdout)
    assert len([r for r in records if r["seed"] is not None]) == 14 * 3  # 14 pairs re-run, 3 seeds each
    assert {r["status"] for r in records if r["seed"] is None} == {"not-applicable", "failed", "data-unavailable"}


def test_same_results_same_hash_and_one_changed_row_changes_it(built, run_url, tmp_path):
    again = build_report(Store(run_url), SUITE, tmp_path / "again")
    assert again.results_hash == built.results_hash
    assert f"sha256:{built.results_hash}" in (tmp_path / "again" / SUITE / "index.html").read_text()
    assert report_hash(Store(run_url), SUITE) == built.results_hash
    # The same results written into another store, at another time, hash the same.
    other_url = f"sqlite:///{tmp_path / 'other.db'}"
    other = write_run(other_url)
    assert report_hash(other, SUITE) == built.results_hash
    # One changed figure in one row changes it; so does one changed tuning trial.
    m = metric_values("digits-lt", "baseline", 1)
    m["minority_f1"] += 0.001
    other.finish_seed(SUITE, "digits-lt", "baseline", 1, metrics=m)
    assert report_hash(other, SUITE) != built.results_hash
    assert results_hash(read_run(other, SUITE), {}) != results_hash(read_run(Store(run_url), SUITE), {})
    third = write_run(f"sqlite:///{tmp_path / 'third.db'}", with_trials=False)
    assert report_hash(third, SUITE) != built.results_hash


def test_latex_export_is_a_booktabs_table_with_the_best_in_bold(built, tmp_path):
    tex = (built.folder / "leaderboard.tex").read_text()
    assert tex.count("\\begin{table}") == 1 + 3 and "\\toprule" in tex and "\\bottomrule" in tex
    suite_table = tex.split("\\end{table}")[0]
    # methods as papers name them, cited with the keys of references.bib
    best_f1 = re.search(r"^Random oversampling~\\cite\{lemaitre2017imbalanced\} & (.*?) \\\\$", suite_table,
                        re.M).group(1).split(" & ")[1]
    assert best_f1.startswith("$\\mathbf{") and "\\pm" in best_f1
    baseline = re.search(r"^Baseline & (.*?) \\\\$", suite_table, re.M).group(1).split(" & ")
    assert baseline[2].startswith("$\\mathbf{") and not baseline[1].startswith("$\\mathbf{")  # best PR-AUC only
    assert "\\textit{n/a}" in tex and "\\textit{failed}" in tex and "% No table for dataset 'cifar10-lt'" in tex
    assert "Old plugin" in tex
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed: the LaTeX export was checked, not compiled")
    doc = tmp_path / "paper.tex"
    doc.write_text("\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n\\input{"
                   + str(built.folder / "leaderboard.tex") + "}\n\\end{document}\n")
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]
    assert (tmp_path / "paper.pdf").stat().st_size > 0
    assert "Overfull" not in (tmp_path / "paper.log").read_text()  # fits a plain article's text width


def test_how_to_cite_has_the_report_methods_and_datasets(built):
    bib = (built.folder / "references.bib").read_text()
    assert f"results hash sha256:{built.results_hash}" in bib
    assert re.search(rf"@misc\{{imbalance-benchmark-smoke-\d{{4}}-{built.results_hash[:8]},", bib)
    from benchmark.datasets import dataset_registry
    from benchmark.methods import method_registry

    for method in ("smote", "focal-loss", "random-oversampling"):
        assert method_registry.get(method).paper.strip() in bib
    assert dataset_registry.get("digits-lt").citation.strip() in bib
    index = (built.folder / "index.html").read_text()
    assert "No paper to cite for: " in index and "baseline" in index.split("No paper to cite for: ")[1][:200]
    assert bib.count("@") == len(re.findall(r"^@\w+\{", bib, re.M))  # every entry starts a line


def test_generated_sample_grids_are_shown_and_bad_ones_reported(built, tmp_path):
    digits = (built.folder / "datasets" / "digits-lt.html").read_text()
    grids = read_sample_grids(samples_artifact())
    assert f'src="data:image/png;base64,{grids.generated}"' in digits
    assert f'src="data:image/png;base64,{grids.real}"' in digits
    import base64

    from PIL import Image

    image = Image.open(io.BytesIO(base64.b64decode(grids.generated)))
    scale = 48 // 8
    assert image.size == ((4 * 10 + 2) * scale, (2 * 10 + 2) * scale)  # 4 samples x 2 classes, 2-pixel gutters
    with pytest.raises(ValueError, match="not a base64-encoded PNG"):
        read_sample_grids({**samples_artifact(), "real": "bm90IGEgcG5n"})
    store = Store(f"sqlite:///{tmp_path / 'bad.db'}")
    write_pair_with_artifact(store, {"generated_samples": {**samples_artifact(), "format": "jpeg"}})
    report = build_report(store, SUITE, tmp_path / "out")
    assert any("generated_samples has format 'jpeg'" in p for p in report.problems)


def write_pair_with_artifact(store: Store, artifacts: dict) -> None:
    store.update_pair(SUITE, "digits-lt", "smote", status="complete", budget=BUDGET)
    store.claim_seed(SUITE, "digits-lt", "smote", 0)
    store.finish_seed(SUITE, "digits-lt", "smote", 0, status="ok", metrics=metric_values("digits-lt", "smote", 0),
                      per_class={"recall": [0.5] * 10}, artifacts=artifacts)


def test_pages_are_self_contained(built):
    for page in [built.folder / "index.html", *sorted((built.folder / "datasets").glob("*.html"))]:
        html = page.read_text()
        assert not re.search(r'<(script|img|link|iframe)[^>]+(src|href)="(https?:)?//', html), page
        assert "<script src" not in html and "@import" not in html and "url(http" not in html
        assert html.count("<svg") >= (3 if page.name == "index.html" else 0)


# -- bad input ------------------------------------------------------------------------------------
def test_empty_store_writes_a_page_saying_so_and_exits_non_zero(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    Store(url)
    with pytest.raises(BenchmarkError, match="holds no results for suite 'smoke'"):
        build_report(Store(url), SUITE, tmp_path / "reports")
    assert "holds no results for suite" in (tmp_path / "reports" / SUITE / "index.html").read_text()
    with pytest.raises(BenchmarkError, match="neither registered nor in the store"):
        build_report(Store(url), "smokee", tmp_path / "reports")
    assert not (tmp_path / "reports" / "smokee").exists()
    # Through the command line's entry point: exit status 2 and the message.
    from benchmark.cli import main

    monkeypatch.setattr(sys, "argv", ["benchmark", "report", "--suite", SUITE, "--storage", url,
                                      "--output", str(tmp_path / "cli")])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    assert "holds no results for suite 'smoke'" in " ".join(capsys.readouterr().err.split())


def test_a_suite_with_only_failed_pairs_still_gets_a_report(tmp_path):
    url = f"sqlite:///{tmp_path / 'failed.db'}"
    store = Store(url)
    for dataset in DATASETS:
        for method in ("baseline", "smote", "focal-loss"):
            store.update_pair(SUITE, dataset, method, status="failed", reason=f"OutOfMemoryError: {method} ran out",
                              budget=BUDGET)
    from benchmark.cli import app

    out = CliRunner().invoke(app, ["report", "--suite", SUITE, "--storage", url, "--output", str(tmp_path / "r")])
    assert out.exit_code == 0, out.output
    index = (tmp_path / "r" / SUITE / "index.html").read_text()
    assert "no (dataset, method) pair has a successful seed re-run" in index
    table = re.search(r'<table[^>]*id="suite-leaderboard".*?</table>', index, re.S).group(0)
    assert "OutOfMemoryError: smote ran out" in table
    assert not re.search(r">\s*0\.0+\s*<", table)  # no figure anywhere, so no zero shown
    assert "The Friedman test needs at least 2 datasets and 3 methods" in index


def test_each_kind_of_damage_is_named_and_the_report_still_builds(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'damaged.db'}")
    good = metric_values("digits-lt", "smote", 0)
    rows = [
        ResultRow(suite=SUITE, dataset="digits-lt", method="smote", seed=0, status="ok", metrics=good,
                  per_class={"recall": [0.5] * 10}),
        ResultRow(suite=SUITE, dataset="digits-lt", method="smote", seed=1, status="ok",
                  metrics={**good, "minority_f1": "high"}),
        ResultRow(suite=SUITE, dataset="digits-lt", method="smote", seed=2, status="ok", metrics=good,
                  per_class={"recall": [0.5] * 10, "f1": [0.5] * 9}),
        ResultRow(suite=SUITE, dataset="digits-lt", method="smote", seed=3, status="finished", metrics=good),
        ResultRow(suite=SUITE, dataset="retired-dataset", method="smote", seed=0, status="ok", metrics=good),
        PairRow(suite=SUITE, dataset="digits-lt", method="smote", status="complete", budget=BUDGET, info={}),
    ]
    with store.session() as session:
        session.add_all(rows)
        session.commit()
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE benchmark_pairs SET spent = '[1, 2' WHERE method = 'smote'"))
    run = read_run(store, SUITE)
    status = {(r.dataset, r.seed): (r.status, r.reason) for r in run.results}
    assert status[("digits-lt", 0)] == ("ok", None)
    assert "metric(s) minority_f1 are not numbers" in status[("digits-lt", 1)][1]
    assert "per_class lists have different lengths [9, 10]" in status[("digits-lt", 2)][1]
    assert "status 'finished' is not one of ok, failed, running" in status[("digits-lt", 3)][1]
    assert {s for (d, seed), (s, _) in status.items() if d == "digits-lt" and seed != 0} == {"corrupt"}
    assert any("pair digits-lt x smote: column 'spent' is not valid JSON" in p for p in run.problems)
    built = build_report(store, SUITE, tmp_path / "out")
    assert any("dataset 'retired-dataset' has stored results but is not in the dataset registry" in p
               for p in built.problems)
    rows = suite_csv(built)
    assert rows[("digits-lt", "smote")]["n"] == "1"  # only the good seed counts
    assert float(rows[("digits-lt", "smote")]["minority_f1_mean"]) == pytest.approx(good["minority_f1"])


def test_latex_escaping_and_shared_bibtex_entries():
    from benchmark.report.citation import unique_entries
    from benchmark.report.exports import tex_escape

    assert tex_escape("a_b & 50% #1 {x} ~") == r"a\_b \& 50\% \#1 \{x\} \textasciitilde{}"
    bib = "@article{smith2020, title={T}}"
    merged = unique_entries([("m1", bib), ("m2", ""), ("m3", " " + bib + "\n"), ("m4", "@misc{other, title={O}}")])
    assert merged == [("m1, m3", bib), ("m4", "@misc{other, title={O}}")]


def test_dataset_cards_never_download_missing_data(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'cifar.db'}")
    write_pair_with_artifact(store, {})  # digits-lt: bundled with scikit-learn, so it can be rebuilt
    store.update_pair(SUITE, "cifar10-lt", "smote", status="complete", budget=BUDGET,
                      info={"split_seed": 0, "split_fingerprint": "abc"})
    store.claim_seed(SUITE, "cifar10-lt", "smote", 0)
    store.finish_seed(SUITE, "cifar10-lt", "smote", 0, status="ok", metrics=metric_values("digits-lt", "smote", 0))
    empty = tmp_path / "no-data"
    empty.mkdir()
    built = build_report(store, SUITE, tmp_path / "out", data_root=str(empty))
    problems = " ".join(built.problems)
    assert "dataset 'cifar10-lt': class counts are not stored, and neither its cached split nor its files" in problems
    assert "download" not in problems.lower()
    digits = (tmp_path / "out" / SUITE / "datasets" / "digits-lt.html").read_text()
    assert "rebuilt from the data root (fingerprint checked)" in digits  # no fingerprint stored to differ from


def test_a_metric_undefined_on_the_split_is_shown_as_such_not_as_not_run():
    """Fashion-MNIST-LT has no class under 20 training samples: few-shot accuracy is NaN in every row.
    It is 'n/a' with the definition as reason, and dataset pages drop the column."""
    from benchmark.report.aggregation import STATUS_TEXT, build_entry, defined_metrics
    from benchmark.report.records import StoredResult

    rows = [StoredResult(id=s, suite="s", dataset="d", method="m", seed=s, status="ok",
                         metrics={"minority_f1": 0.5 + s / 10, "few_shot_accuracy": math.nan}) for s in (0, 1)]
    entry = build_entry("m", None, rows, [])
    few = entry.cells["few_shot_accuracy"]
    assert (few.ok, few.text(), STATUS_TEXT[few.status]) == (False, "n/a", "n/a")
    assert "fewer than 20 training samples" in few.reason
    assert entry.cells["gmean"].reason == "gmean not stored"
    assert defined_metrics({"m": entry}, ["minority_f1", "few_shot_accuracy"]) == ["minority_f1"]
