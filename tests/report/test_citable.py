"""Reports people can cite as they are (issue 17): a scores hash that a reproduction reproduces, no
absolute path of the machine in any page, G-mean and ECE shown, the baseline in the PR curves."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys

import pytest
from sqlalchemy import update

from benchmark.report import build_report
from benchmark.report.plots import pr_curve_panels
from benchmark.report.provenance import public_store_url, scrub_paths
from benchmark.report.records import read_run, results_hash, scores_hash
from benchmark.store import PairRow, ResultRow
from tests.report.test_report import SUITE, write_run


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """The report tests' fixture run, in a store whose path and a failure reason name this machine's
    folders, built into a report with that folder as its data root."""
    folder = tmp_path_factory.mktemp("private-folder")
    url = f"sqlite:///{folder / 'results.db'}"
    store = write_run(url, with_trials=False)
    with store.engine.begin() as conn:  # a reason naming an absolute path, as a data error does
        conn.execute(update(PairRow).where(PairRow.dataset == "cifar10-lt", PairRow.method == "smote")
                     .values(reason=f"{folder}/cifar-10-batches-py/test_batch is truncated"))
    built = build_report(store, SUITE, folder / "reports", data_root=str(folder))
    return folder, store, built


# -- (a) the scores hash ---------------------------------------------------------------------------
def test_scores_hash_ignores_timings_provenance_and_noise_but_not_scores(stored):
    _, store, built = stored
    run = read_run(store, SUITE)
    assert built.scores_hash == scores_hash(run) and len(built.scores_hash) == 64
    rerun = copy.deepcopy(run)
    for r in rerun.results:  # another machine, another day, slower: the same scores
        r.timings = {"total_seconds": 99.0}
        r.provenance = {**r.provenance, "host": "elsewhere", "git_commit": "def456"}
        r.created_at = r.updated_at = None
        r.metrics = {k: v + 1e-9 for k, v in r.metrics.items()}  # float noise below the 6th decimal
    assert scores_hash(rerun) == scores_hash(run)
    assert results_hash(rerun) != results_hash(run)
    rerun.results.reverse()  # the order rows were stored in is not part of the scores
    assert scores_hash(rerun) == scores_hash(run)
    changed = copy.deepcopy(run)
    ok = next(r for r in changed.results if r.status == "ok")
    ok.metrics["minority_f1"] += 2e-6  # a score that differs at the 6th decimal
    assert scores_hash(changed) != scores_hash(run)
    moved = copy.deepcopy(run)
    next(r for r in moved.results if r.status == "ok").seed = 7  # the same figure on another seed
    assert scores_hash(moved) != scores_hash(run)


def test_both_hashes_are_shown_cited_and_in_provenance(stored):
    _, _, built = stored
    index = (built.folder / "index.html").read_text()
    assert f'<meta name="scores-hash" content="sha256:{built.scores_hash}">' in index
    assert "scores hash <code title=\"SHA-256 over the scores alone" in index
    assert f"<dt>Scores hash</dt><dd><code>sha256:{built.scores_hash}</code>" in index
    assert f"<dt>Results hash</dt><dd><code>sha256:{built.results_hash}</code>" in index
    bib = (built.folder / "references.bib").read_text()
    note = re.search(r"note = \{(.*?)\}\n", bib, re.S).group(1)
    assert f"scores hash sha256:{built.scores_hash}" in note and f"results hash sha256:{built.results_hash}" in note
    dataset_page = (built.folder / "datasets" / "keel-yeast3.html").read_text()
    assert f"scores hash <code>sha256:{built.scores_hash[:16]}" in dataset_page  # the footer of every page


def run_smoke_part(tmp_path, name: str, data_root) -> tuple[str, str]:
    """One run of the smoke suite's baseline on its KEEL set (2 splits) into a fresh store; the report's hashes."""
    store = tmp_path / name / "r.db"
    store.parent.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "benchmark", "run", "--suite", "smoke", "--datasets", "keel-yeast3", "--methods",
         "baseline", "--storage", f"sqlite:///{store}", "--output", str(tmp_path / name),
         "--data-root", str(data_root)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    html = (tmp_path / name / "smoke" / "index.html").read_text()
    return (re.search(r'name="scores-hash" content="sha256:([0-9a-f]{64})"', html).group(1),
            re.search(r'name="results-hash" content="sha256:([0-9a-f]{64})"', html).group(1))


@pytest.mark.slow
def test_rerun_into_a_fresh_store_gives_the_same_scores_hash(tmp_path, data_root):
    """Acceptance 17.5: a re-run into a fresh store reproduces the scores hash; the results hash,
    which covers timings and provenance, does not stay the same."""
    first_scores, first_results = run_smoke_part(tmp_path, "first", data_root)
    second_scores, second_results = run_smoke_part(tmp_path, "second", data_root)
    assert first_scores == second_scores
    assert first_results != second_results


# -- (b) no absolute path of this machine ----------------------------------------------------------
@pytest.mark.parametrize("url, shown", [
    ("sqlite:////home/someone/bench/results/benchmark.db", "sqlite:///…/benchmark.db"),
    ("sqlite:///results/benchmark.db", "sqlite:///…/benchmark.db"),
    ("sqlite:///file:/srv/shared/benchmark.db?immutable=1&uri=true", "sqlite:///file:…/benchmark.db?immutable=1&uri=true"),
    ("postgresql+psycopg://alice:s3cret@db.example.org/bench", "postgresql+psycopg://alice:***@db.example.org/bench"),
    ("sqlite://", "sqlite://"),
])
def test_store_urls_are_shown_without_paths_or_passwords(url, shown):
    assert public_store_url(url) == shown


def test_no_output_file_holds_the_machines_paths(stored):
    folder, _, built = stored
    written = [p for p in built.folder.rglob("*") if p.is_file()]
    assert {p.name for p in written} >= {"index.html", "results.json", "leaderboard.csv", "leaderboard.tex",
                                         "references.bib", "keel-yeast3.html"}
    for path in written:
        assert str(folder) not in path.read_text(), path
    index = (built.folder / "index.html").read_text()
    assert "from the results store <code>sqlite:///…/results.db</code>" in index
    cifar = (built.folder / "datasets" / "cifar10-lt.html").read_text()
    assert "…/cifar-10-batches-py/test_batch is truncated" in cifar  # the reason is kept, the folder hidden
    records = json.loads((built.folder / "results.json").read_text())
    assert any("…/cifar-10-batches-py" in (r["reason"] or "") for r in records)


def test_scrub_paths_replaces_whole_folders_only():
    text = "/data/x/f.db, /data/xy/f.db and https://example.org/data/x"
    assert scrub_paths(text, ["/data/x"]) == "…/f.db, /data/xy/f.db and https://example.org/data/x"


# -- (c) G-mean and ECE on the dataset pages --------------------------------------------------------
def test_gmean_and_ece_columns_with_definitions(stored):
    _, _, built = stored
    page = (built.folder / "datasets" / "keel-yeast3.html").read_text()
    header = re.search(r'<table class="leaderboard sortable" id="dataset-leaderboard".*?</thead>', page, re.S).group(0)
    gmean = re.search(r'<th [^>]*title="Geometric mean of per-class recalls[^"]*">G-mean</th>', header)
    ece = re.search(r'<th [^>]*data-first="ascending"[^>]*title="Expected calibration error[^"]*Lower is better.">ECE'
                    r'</th>', header)
    assert gmean and ece
    row = re.search(r'<tr data-method="smote".*?</tr>', page, re.S).group(0)
    cells = re.findall(r'<td class="num[^"]*" data-sort="([0-9.]+)"', row)
    # columns: the 5 suite metrics, then G-mean, then ECE (0.05 in every stored row), then seeds and cost
    assert float(cells[5]) == pytest.approx(0.74 - 0.04 + 0.02, abs=0.02) and float(cells[6]) == pytest.approx(0.05)


def test_lowest_ece_is_marked_best(tmp_path):
    store = write_run(f"sqlite:///{tmp_path / 'r.db'}", with_trials=False)
    with store.engine.begin() as conn:
        for row in conn.execute(ResultRow.__table__.select().where(ResultRow.dataset == "keel-yeast3",
                                                                   ResultRow.method == "smote")):
            metrics = json.loads(row.metrics) if isinstance(row.metrics, str) else dict(row.metrics)
            metrics["ece"] = 0.01
            conn.execute(update(ResultRow).where(ResultRow.id == row.id).values(metrics=metrics))
    built = build_report(store, SUITE, tmp_path / "reports")
    page = (built.folder / "datasets" / "keel-yeast3.html").read_text()
    best_ece = [re.search(r'data-method="([^"]+)"', tr).group(1) for tr in re.findall(r"<tr data-method=.*?</tr>",
                page.split('id="dataset-leaderboard"')[1].split("</table>")[0], re.S)
                if 'class="num best" data-sort="0.010000"' in tr]
    assert best_ece == ["smote"]


# -- (d) the baseline in the precision-recall curves ------------------------------------------------
def test_pr_panels_draw_the_baseline_and_the_no_skill_line():
    curve = {"recall": [0.0, 0.5, 1.0], "precision": [1.0, 0.8, 0.2]}
    svg = pr_curve_panels({"1": {"smote": curve, "baseline": curve}}, {"1": "positive"}, {"smote": "#1f77b4"},
                          "PR", baseline="baseline", prevalence={"1": 0.11})
    assert "baseline (baseline)" in svg and "no skill (precision = prevalence)" in svg
    assert "stroke-dasharray" in svg  # the baseline's dashes and the dotted no-skill line


def test_dataset_page_pr_curves_include_baseline_and_prevalence(stored):
    _, _, built = stored
    page = (built.folder / "datasets" / "keel-yeast3.html").read_text()
    pr = page.split('id="pr"')[1].split("</section>")[0]
    assert "baseline (baseline)" in pr and "no skill (precision = prevalence)" in pr
    assert "and the baseline (baseline, dashed)" in pr and "Dotted: the share of the class in the test split" in pr
