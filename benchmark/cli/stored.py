"""``report`` and ``results``: read the store, never run anything, never create a store by reading one."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import tempfile
from enum import Enum
from pathlib import Path

import typer

from benchmark.cli.base import app, check_writable_folder, console
from benchmark.errors import BenchmarkError


class ResultFormat(str, Enum):
    csv = "csv"
    json = "json"


def open_existing_store(storage: str | None):
    """The store at ``storage`` (default ``results/benchmark.db``) for reading. A SQLite file that does not
    exist is an error naming it: reading must not leave an empty store behind (or a results/ folder)."""
    from sqlalchemy.engine import make_url

    from benchmark.publish import bundle_paths, open_bundles
    from benchmark.store import Store
    from benchmark.store.results import DEFAULT_DB

    if (bundles := bundle_paths(storage)) is not None:  # published bundles, read as a store
        return open_bundles(bundles)
    if storage is not None and not storage.strip():
        raise BenchmarkError("--storage is empty", "give the store's URL, e.g. --storage sqlite:///results/benchmark.db, "
                                                   "or leave it out for that default")
    path: Path | None = DEFAULT_DB if storage is None else None
    if storage is not None and storage.startswith("sqlite"):
        try:
            database = make_url(storage).database
        except Exception:  # an unparseable URL: Store names the problem
            database = None
        path = Path(database) if database and database != ":memory:" and not database.startswith("file:") else None
    if path is not None and not path.is_file():
        where = f"--storage {storage}" if storage is not None else f"the default store {path}"
        raise BenchmarkError(f"{where}: no results store at {path.resolve()}",
                             "run a suite first (`python -m benchmark run --suite smoke`), or pass the --storage "
                             "URL of an existing store")
    if path is not None and not writable_folder(path.resolve().parent):
        # A store on a read-only mount (an archived run, a shared supplement): SQLite cannot create the
        # write-ahead log and its index there, so open it immutable (nothing can change it anyway).
        return Store(f"sqlite:///file:{path.resolve()}?mode=ro&immutable=1&uri=true")
    return Store(storage if storage is not None else f"sqlite:///{path.resolve()}")


def writable_folder(folder: Path) -> bool:
    try:
        fd, name = tempfile.mkstemp(prefix=".benchmark-write-test-", dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.unlink(name)
    return True


def check_stored_suite(store, suite: str | None) -> None:
    """An unknown suite, or one the store holds nothing for, is an error naming the suites it does hold."""
    from benchmark.suites import suite_registry

    stored = store.suites()
    if suite is None:
        if not stored:
            raise BenchmarkError(f"the store {store.safe_url} holds no results", "run a suite first, or pass --storage")
        return
    if suite in stored:
        return
    known = ", ".join(stored) or "none"
    if suite not in suite_registry:
        raise BenchmarkError(f"suite '{suite}' is neither registered nor in the store {store.safe_url} "
                             f"(stored suites: {known})", "give one of the stored suites with --suite")
    raise BenchmarkError(f"the store {store.safe_url} holds no results for suite '{suite}' (stored suites: {known})",
                         f"run it first (`python -m benchmark run --suite {suite}`), or pass the --storage that holds it")


@app.command()
def report(
    suite: str | None = typer.Option(None, help="Suite to report; default every suite in the store."),
    storage: str | None = typer.Option(None, help="SQLAlchemy URL of the results store, or published bundle "
                                                  "folders (DIR or A,B side by side)."),
    output: str = typer.Option("reports", help="Folder to write <suite>/index.html into."),
    data_root: str | None = typer.Option(None, help="Folder holding the datasets: dataset cards then show class "
                                                    "counts the store lacks (the split's fingerprint is checked)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only errors and where each report is."),
) -> None:
    """Rebuild HTML reports from stored results, without re-running anything.

    A damaged or incomplete store still gives a report that says what is missing; the exit status is
    non-zero only when the store holds nothing for the suite."""
    if data_root is not None and not data_root.strip():
        raise BenchmarkError("--data-root is empty", "give a folder, or leave the option out")
    check_writable_folder(output, "--output")
    store = open_existing_store(storage)
    suites = [suite] if suite else store.suites()  # an unknown --suite: the builder's error names the stored ones
    if not suites:
        raise BenchmarkError(f"the store {store.safe_url} holds no results", "run a suite first, or pass --storage")
    for name in suites:
        write_report(store, name, output, data_root, notes=not quiet)
    if suite is None:  # every suite of the store (or of bundles side by side): ranks across modalities
        from benchmark.report.modalities import write_modalities_page
        from benchmark.report.records import read_run

        if (page := write_modalities_page([read_run(store, name) for name in suites], output)) is not None:
            console.print(f"ranks across modalities: {page}")


def write_report(store, suite: str, output: str, data_root: str | None, notes: bool = True) -> None:
    """Build one suite's report and say where it is, what it could not show, and its results hash."""
    from benchmark.report import build_report

    if console.is_terminal:  # one live line, replaced at each step
        with console.status(f"report of suite '{suite}': reading the results store") as status:
            built = build_report(store, suite, output, data_root=data_root,
                                 progress=lambda step: status.update(f"report of suite '{suite}': {step}"))
    else:  # a log gets one line saying what the next seconds are spent on, once there are pages to write

        def announce(step: str) -> None:
            if notes and step.startswith("dataset page 1/"):
                console.print(f"writing the report of suite '{suite}' into {Path(output) / suite} "
                              f"({step.split('/')[1].split(':')[0]} dataset pages) ...", markup=False)

        built = build_report(store, suite, output, data_root=data_root, progress=announce)
    if notes:
        for problem in built.problems:
            console.print(f"[yellow]note:[/] {problem}", markup=True)
    console.print(f"report: {built.index} (scores hash sha256:{built.scores_hash[:12]}, "
                  f"results hash sha256:{built.results_hash[:12]})")


@app.command()
def results(
    suite: str | None = typer.Option(None, help="Only this suite."),
    storage: str | None = typer.Option(None, help="SQLAlchemy URL of the results store."),
    format: ResultFormat = typer.Option(ResultFormat.json, "--format", help="csv or json."),
) -> None:
    """Print stored results: one row per (suite, dataset, method, seed); pairs without seed rows
    (not applicable, data unavailable, failed tuning) as one row with seed null. A suite the store does
    not hold is an error (exit status 2), not an empty list."""
    from benchmark.report.records import records_json, result_records

    store = open_existing_store(storage)
    check_stored_suite(store, suite)
    rows = result_records(store, suite)
    if format == ResultFormat.json:
        sys.stdout.write(records_json(rows))
        return
    metric_names = sorted({k for r in rows for k in r["metrics"]})
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    # split_seed: a suite that repeats its split has one row per (split seed, seed); without it they clash
    writer.writerow(["suite", "dataset", "method", "split_seed", "seed", "status", "reason", *metric_names, "params"])
    for r in rows:
        writer.writerow([r["suite"], r["dataset"], r["method"], r["split_seed"], r["seed"], r["status"], r["reason"] or "",
                         *[r["metrics"].get(k, "") for k in metric_names], json.dumps(r["params"])])
    sys.stdout.write(buffer.getvalue())
