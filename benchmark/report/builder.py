"""Build ``reports/<suite>/``: every figure comes from the results store, nothing is re-run.

Writes ``index.html`` (suite leaderboard, statistical ranking, dataset list, provenance, how to
cite), one page per dataset under ``datasets/`` (named by :func:`benchmark.report.pages.page_file`:
card, leaderboard, per-class recall, precision-recall curves, generated samples, tuning history, best
configurations), ``leaderboard.csv``, ``results.json``, ``leaderboard.tex``, ``metrics.json`` (the
metric table: what each column means) and ``references.bib``. Pages are self-contained: styles,
script and figures (SVG) are inline, nothing is fetched from a network, and the folder can be opened
from disk, mailed or archived.

Damaged or incomplete stores still give a report that says what is missing or wrong; only a store
with no row at all for the suite is an error (after writing a page that says so).
"""

from __future__ import annotations

import datetime as dt
import errno
import math
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

import benchmark
from benchmark.errors import BenchmarkError
from benchmark.methods.base import ordered_families
from benchmark.metrics import HEADLINE, METRICS
from benchmark.report import pages, plots
from benchmark.report.aggregation import STATUS_TEXT, Aggregate, aggregate
from benchmark.report.cards import DatasetCard, MethodCard, dataset_card, method_cards
from benchmark.report.citation import report_bibtex, tool_bibtex, unique_entries
from benchmark.report.exports import leaderboard_csv, leaderboard_tex, metrics_json, references_bib
from benchmark.report.history import TuningHistory, read_histories
from benchmark.report.predictions import confusion_matrices, confusion_panels, fill_missing_metrics
from benchmark.report.provenance import private_folders, public_store_url, scrub_paths, summarize
from benchmark.report.records import (
    SCORES_DIGITS,
    StoredRun,
    read_run,
    records_from_run,
    records_json,
    results_hash,
    scores_hash,
)
from benchmark.report.scenarios import robustness_table
from benchmark.report.unlabeled import LEGEND as UNLABELED_LEGEND
from benchmark.report.unlabeled import MARK as UNLABELED_MARK
from benchmark.report.unlabeled import legend_lines, unlabeled_uses
from benchmark.store import Store
from benchmark.store.status import PENDING, RE_RUNNING, TUNING

COST_DEFINITION = ("Device-seconds spent: the wall time of every tuning trial and every seed re-run on its device "
                   "(one CPU or GPU each), summed over datasets.")


@dataclass
class BuiltReport:
    """What :func:`build_report` wrote. Behaves as the path of ``index.html`` (``str()``, ``os.fspath``)."""

    index: Path
    results_hash: str
    problems: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    scores_hash: str = ""  # over the scores alone: the figure to quote (records.scores_hash)

    @property
    def folder(self) -> Path:
        return self.index.parent

    def __fspath__(self) -> str:
        return str(self.index)

    def __str__(self) -> str:
        return str(self.index)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _duration(seconds: float | None) -> str:
    if not seconds:
        return "–"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _date(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "unknown"


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("benchmark", "report/templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters.update(finite=_finite, duration=_duration, date=_date)
    return env


def _asset(name: str) -> Markup:
    # Inline, read as files (not templates): CSS and JS are not Jinja syntax.
    return Markup(resources.files("benchmark.report").joinpath("templates", name).read_text(encoding="utf-8"))


def _write(path: Path, text: str, files: list[Path], private: list[str] = ()) -> None:
    """Write beside and rename, so a reader never sees a half-written page; a write that fails (a full
    disk) removes its temporary file and says which file and how much space it needed. The ``private``
    folders (absolute paths of this machine) are replaced by ``…`` first: pages get published."""
    tmp = path.with_name(path.name + ".tmp")
    data = scrub_paths(text, list(private)).encode("utf-8")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise BenchmarkError(f"no space left on the device to write {path} ({_size(len(data))} needed, "
                                 f"{_size(_free_bytes(path.parent))} free)",
                                 "free some space (or pass another --output) and build the report again: "
                                 "the results store is unchanged") from None
        raise
    files.append(path)


def _free_bytes(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return 0


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def in_progress_note(pairs: list[Any]) -> str | None:
    """What a report built while pairs are unfinished says about them (None when all are final)."""
    unfinished = sorted((p.dataset, p.method, str(p.status)) for p in pairs if p.status in (PENDING, TUNING, RE_RUNNING))
    if not unfinished:
        return None
    shown = ", ".join(f"{d} × {m} ({status})" for d, m, status in unfinished[:20])
    more = f" and {len(unfinished) - 20} more" if len(unfinished) > 20 else ""
    return (f"{len(unfinished)} pair(s) were still in progress when this report was written (running elsewhere, "
            f"or interrupted): {shown}{more}; their results below are partial or missing. Build the report again "
            "once the run has finished (an interrupted run resumes with `python -m benchmark run`).")


def build_report(store: Store, suite: str, output: str | Path = "reports", *,
                 data_root: str | None = None, progress: Callable[[str], None] | None = None,
                 bundle_rows: str | None = None) -> BuiltReport:
    """Write the report of ``suite`` into ``<output>/<suite>/`` and return what was written.

    ``data_root`` (default ``$BENCHMARK_DATA`` when set) lets dataset cards show class counts the
    store lacks: the split is rebuilt and its fingerprint checked against the stored one. ``progress``
    is called with a few words before each step (reading the store, each dataset page, the index, the
    exports): a report of many datasets takes tens of seconds, and the command line shows them. A published
    bundle's report (``bundle_rows``: the path of the bundle's rows file from the report) links the bundle's
    rows instead of writing ``results.json``, a second copy of them (13 MB of 20 for 773 cells). Raises
    :class:`BenchmarkError` only when the store holds nothing for the suite, after writing an
    ``index.html`` that says so.
    """
    from benchmark.suites import suite_registry

    step = progress or (lambda _: None)
    data_root = data_root or os.environ.get("BENCHMARK_DATA") or None
    step("reading the results store")
    run = read_run(store, suite)
    problems = list(run.problems)
    folder = Path(output) / suite
    shown_store = public_store_url(store.url)  # no absolute path of this machine in a page
    private = private_folders(_store_folder(store.url), output, data_root)
    if not run.pairs and not run.results:
        problems.insert(0, _empty_store_problem(store, suite, shown_store, suite in suite_registry))
    if note := in_progress_note(run.pairs):
        problems.insert(0, note)
    histories = _histories(store, run, problems)
    digest = results_hash(run, {f"{d}::{m}": h.trials for (d, m), h in histories.items()})
    prov = summarize(run, histories, digest, scores_hash(run))
    fill_missing_metrics(store, run, problems)  # after the hashes: they cover the scores as stored

    names = sorted({p.method for p in run.pairs} | {r.method for r in run.results})
    mcards = method_cards(names, problems)
    agg = aggregate(run, {m: c.family for m, c in mcards.items()}, {m for m, c in mcards.items() if c.registered},
                    problems)
    unlabeled = unlabeled_uses(run.results, {m: c.tags for m, c in mcards.items()})  # rows marked U
    cards = {d: dataset_card(d, [p for p in run.pairs if p.dataset == d], [r for r in run.results if r.dataset == d],
                             data_root, problems) for d in agg.datasets}
    if agg.rows and not any(row.covered for row in agg.rows):
        problems.append("no (dataset, method) pair has a successful seed re-run: every cell below says why")

    suite_entry = suite_registry.get(suite) if suite in suite_registry else None
    report_bib = report_bibtex(suite, prov, len(agg.datasets), len(agg.methods))
    tool_bib = tool_bibtex(prov.date.year if prov.finished else None)
    method_bibs = unique_entries([(m, mcards[m].paper) for m in agg.methods])
    dataset_bibs = unique_entries([(d, cards[d].citation) for d in agg.datasets])
    common = _common_context(suite, prov, mcards, unlabeled, shown_store)
    env = environment()
    folder.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    _write_dataset_pages(env, common, folder, run, agg, cards, histories, mcards, problems, files, private, step,
                         confusion_matrices(store, run, problems))
    step("the index page")
    html = env.get_template("index.html.j2").render(
        **common, **pages.index_page(agg, cards, prov.budgets), methods=mcards, problems=problems,
        report_bib=report_bib, tool_bib=tool_bib, method_bibs=method_bibs, dataset_bibs=dataset_bibs,
        unlabeled_lines=legend_lines(unlabeled, agg.methods),
        uncited=[m for m in agg.methods if not mcards[m].paper.strip()],
        robustness=robustness_table(run.results, suite_entry.objective if suite_entry else "minority_f1"),
        bundle_rows=bundle_rows,
        suite_description=(suite_entry.description if suite_entry else "This suite is not registered here; "
                           "its results are shown as stored."),
    )
    _write(folder / "index.html", plots.unique_page_ids(html), files, private)
    step("the exports (results.json, leaderboard.csv, leaderboard.tex, references.bib)")
    if bundle_rows is None:
        _write(folder / "results.json", records_json(records_from_run(run)), files, private)
    _write(folder / "leaderboard.csv", leaderboard_csv(agg, mcards, unlabeled), files, private)
    _write(folder / "leaderboard.tex", leaderboard_tex(agg, suite, digest, unlabeled, mcards), files, private)
    _write(folder / "metrics.json", metrics_json(), files, private)
    _write(folder / "references.bib", references_bib(report_bib, [("the tool", tool_bib), *method_bibs, *dataset_bibs]), files, private)
    built = BuiltReport(folder / "index.html", digest, problems, files, prov.scores_hash)
    if not run.pairs and not run.results:
        raise BenchmarkError(problems[0] + f"; {built.index} says so", f"run `python -m benchmark run --suite {suite}`")
    return built


def _empty_store_problem(store: Store, suite: str, shown_store: str, registered: bool) -> str:
    """What the report of a suite without a stored row says; an error when the suite is also unknown."""
    stored = store.suites()
    if not registered and suite not in stored:
        raise BenchmarkError(f"suite '{suite}' is neither registered nor in the store {store.safe_url} "
                             f"(suites with results there: {', '.join(stored) or 'none'})", "check the --suite name")
    return (f"the store {shown_store} holds no results for suite '{suite}' (it holds results for: "
            f"{', '.join(stored) or 'no suite'}); run `python -m benchmark run --suite {suite}` first, or pass the "
            "--storage it used")


def _common_context(suite: str, prov: Any, mcards: dict[str, MethodCard], unlabeled: dict[str, Any],
                    shown_store: str) -> dict[str, Any]:
    """What every page's template reads: the metric table, status words, assets, provenance."""
    from benchmark.store.provenance import git_commit

    return {
        "suite": suite, "prov": prov, "metric_table": METRICS, "headline": HEADLINE,
        "status_text": STATUS_TEXT, "cost_definition": COST_DEFINITION, "scores_digits": SCORES_DIGITS,
        "css": _asset("report.css"), "js": _asset("report.js"), "method_cards": mcards,
        "families": ordered_families(c.family for c in mcards.values()),
        "unlabeled": unlabeled, "unlabeled_symbol": UNLABELED_MARK, "unlabeled_legend": UNLABELED_LEGEND,
        "built": {"version": benchmark.__version__, "commit": git_commit(), "store": shown_store,
                  "at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")},
    }


def _write_dataset_pages(env: jinja2.Environment, common: dict[str, Any], folder: Path, run: StoredRun,
                         agg: Aggregate, cards: dict[str, DatasetCard], histories: dict[tuple[str, str], TuningHistory],
                         mcards: dict[str, MethodCard], problems: list[str], files: list[Path],
                         private: list[str], step: Callable[[str], None],
                         confusions: dict[str, dict[str, Any]] | None = None) -> None:
    """One page per dataset, named by :func:`benchmark.report.pages.page_file`; pages of datasets no
    longer in the results are removed. ``confusions``: each dataset's confusion matrices by method
    (:func:`benchmark.report.predictions.confusion_matrices`)."""
    confusions = confusions or {}
    (folder / "datasets").mkdir(exist_ok=True)
    colors = plots.method_colors(agg.methods)
    parts_of = {m: [p["name"] for p in c.parts] for m, c in mcards.items() if c.parts}
    written = set()
    for i, d in enumerate(agg.datasets, 1):
        step(f"dataset page {i}/{len(agg.datasets)}: {d}")
        split_0 = {p.method: p for p in run.pairs if p.dataset == d and p.split_seed == 0}  # its tuning is shown
        page = pages.dataset_page(d, agg, cards[d], split_0, _rows_by_method(run, d), histories, colors, parts_of)
        labels = [cards[d].class_label(c) for c in range(cards[d].num_classes or 0)]
        page.update(confusion_panels(confusions.get(d, {}), page["methods_order"], labels,
                                     cards[d].head_to_tail(len(labels))))
        html = env.get_template("dataset.html.j2").render(
            **common, **page, problems=[p for p in problems if d in p], objective=agg.objective,
            unlabeled_lines=legend_lines(common["unlabeled"], page["methods_order"], d))
        _write(folder / "datasets" / page["file"], plots.unique_page_ids(html), files, private)
        written.add(page["file"])
    for old in (folder / "datasets").glob("*.html"):
        if old.name not in written:
            old.unlink()


def _store_folder(url: str) -> Path | None:
    """The folder of a SQLite store's file (None for other databases and in-memory SQLite)."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:
        return None
    database = (parsed.database or "").removeprefix("file:").split("?", 1)[0]
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    return Path(database).absolute().parent


def _histories(store: Store, run: StoredRun, problems: list[str]) -> dict[tuple[str, str], TuningHistory]:
    budgets = {(p.dataset, p.method): int(p.budget["trials"]) for p in run.pairs
               if isinstance(p.budget.get("trials"), int)}
    return read_histories(store, run.suite or "", budgets, problems)


def report_hash(store: Store, suite: str) -> str:
    """The results hash a report of ``suite`` built from ``store`` now would show, without building it."""
    run = read_run(store, suite)
    histories = _histories(store, run, [])
    return results_hash(run, {f"{d}::{m}": h.trials for (d, m), h in histories.items()})


def _rows_by_method(run: StoredRun, dataset: str) -> dict[str, list]:
    rows: dict[str, list] = {}
    for r in run.results:
        if r.dataset == dataset:
            rows.setdefault(r.method, []).append(r)
    return rows
