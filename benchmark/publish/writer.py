"""``python -m benchmark publish``: a finished suite as a versioned, self-contained bundle of plain files.

    <DIR>/
      bundle.json        what the bundle is: format, suite, version, command, hashes, counts, run span
      suite.json         the suite's definition and its digest
      environment.json   the lock (every installed distribution), Python, platform; the hardware rows ran on
      constraints.txt    the lock as pip constraints: install it to verify exactly
      data.json          [path, bytes, SHA-256] of every data file the suite's datasets read
      pairs.json.gz      every pair row: status, budget asked and spent, best parameters, split record
      rows.json.gz       every seed row: scores, per-class figures, parameters, timings (cost), provenance
      trials.json.gz     split seed 0's tuning trials (what the report's tuning histories draw)
      predictions.json.gz  index of the predictions: per seed row, its file, arrays, shape, SHA-256, scoring
      predictions/<dataset>.npz    float16 probabilities of the test split, each split's seed rows stacked, and labels
      report/            the HTML report (and its CSV, LaTeX, BibTeX exports; its rows are rows.json.gz)
      CITATION.cff  CITATION.bib
      MANIFEST.json      size and SHA-256 of every other file

Published bundles are read back like a store (:mod:`benchmark.publish.reader`) and checked by
:mod:`benchmark.publish.verify`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import benchmark
from benchmark.errors import BenchmarkError
from benchmark.publish.citation import bundle_bibtex, bundle_cff
from benchmark.publish.environment import (
    constraints_text,
    data_files,
    environment_lock,
    run_hardware,
    suite_definition,
    suite_digest,
)
from benchmark.publish.files import (
    BUNDLE_FORMAT,
    CONSTRAINTS,
    FROM_PREDICTIONS,
    MANIFEST,
    PAIRS,
    PREDICTIONS,
    ROWS,
    TRIALS,
    is_bundle,
    write_json,
    write_manifest,
    write_npz,
)
from benchmark.publish.trials import study_records
from benchmark.report import build_report
from benchmark.report.records import StoredRun, read_run, scores_hash
from benchmark.store import COMPLETE, OK, Store
from benchmark.store.predictions import PredictionKey, Predictions, load_predictions
from benchmark.suites import Suite, resolve_suite
from benchmark.tuning.budget import Spent


@dataclass
class Published:
    """What :func:`publish_bundle` wrote."""

    folder: Path
    scores_hash: str
    results_hash: str
    version: str
    cells: int
    rows: int
    files: int
    bytes: int


def _plain(record: Any) -> dict[str, Any]:
    """A stored pair or seed row as bundle JSON: dates as ISO text, the database id left out."""
    out = {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in dataclasses.asdict(record).items()}
    out.pop("id", None)
    return out


def default_command(run: StoredRun, suite: Suite) -> str:
    """The run command that gives these results: the suite, and the budget where it differs from the suite's."""
    parts = ["python -m benchmark run --suite", suite.name]
    budgets = [p.budget for p in run.pairs if p.budget]
    if budgets:
        asked = budgets[0]
        for key, option in (("trials", "--trials"), ("seeds", "--seeds"), ("timeout", "--timeout"),
                            ("device_seconds", "--device-seconds")):
            if asked.get(key) is not None and asked.get(key) != getattr(suite.budget, key):
                parts += [option, str(asked[key])]
        if asked.get("objective") not in (None, suite.objective):
            parts += ["--objective", str(asked["objective"])]
    split_seeds = {p.split_seed for p in run.pairs}
    if split_seeds and max(split_seeds) + 1 != suite.split_seeds:
        parts += ["--split-seeds", str(max(split_seeds) + 1)]
    return " ".join(parts)


def _write_predictions(predictions: dict[PredictionKey, Predictions], folder: Path) -> list[dict[str, Any]]:
    """One ``.npz`` per dataset under ``predictions/``: per split seed, every seed row's probabilities stacked in
    one float16 array (methods and seeds in order; the index gives each row's ``start`` and ``rows``) and the
    split's test labels once, LZMA-compressed; and the index of what each holds. Stacked, the probabilities
    of a split compress 3.1x (LZMA finds the structure across rows) where a small array per seed row did not
    compress at all (tabular-cpu: 4.4 MB for 1,130 cells as one array per row, 1.4 MB stacked)."""
    index, grouped = [], {}
    for (_, dataset, method, split_seed, seed), p in predictions.items():
        grouped.setdefault(dataset, {}).setdefault(split_seed, {})[(method, seed)] = p
    for dataset, splits in sorted(grouped.items()):
        rel = f"predictions/{_safe(dataset)}.npz"
        arrays: dict[str, np.ndarray] = {}
        for split_seed, entries in sorted(splits.items()):
            stem, stacked, start = f"split{split_seed}", [], 0
            for (method, seed), p in sorted(entries.items()):
                labels = f"{stem}-labels"  # the rows of a split share its test labels: stored once
                if labels in arrays and not np.array_equal(arrays[labels], p.y_true):
                    labels = f"{stem}-{_safe(method)}-seed{seed}-labels"
                arrays.setdefault(labels, p.y_true)
                proba = f"{stem}-proba-{p.proba.shape[1]}"  # one stack per class count (one, in practice)
                if proba not in arrays:
                    stacked.append(proba)
                    arrays[proba] = []
                start = sum(len(a) for a in arrays[proba])
                arrays[proba].append(p.proba)
                index.append({"dataset": dataset, "method": method, "split_seed": split_seed, "seed": seed,
                              "file": rel, "proba": proba, "start": start, "labels": labels,
                              "rows": int(p.proba.shape[0]), "classes": int(p.proba.shape[1]), "sha256": p.digest(),
                              "scoring": p.scoring()})
            for name in stacked:
                arrays[name] = np.concatenate(arrays[name])
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        write_npz(folder / rel, arrays, compression=zipfile.ZIP_LZMA)
    return index


def _rows_without_curves(run: StoredRun, predictions: dict[PredictionKey, Predictions], suite: str) -> list[dict[str, Any]]:
    """The seed rows, each ``pr_curves`` artifact that its stored predictions give again (:meth:`Predictions.curves`)
    written as :data:`FROM_PREDICTIONS`, which the reader replaces by the curves: a quarter of the rows' size."""
    rows = []
    for r in run.results:
        row = _plain(r)
        p = predictions.get((suite, r.dataset, r.method, r.split_seed, r.seed))
        artifacts = row.get("artifacts") or {}
        if p is not None and "pr_curves" in artifacts and artifacts["pr_curves"] == p.curves():
            row["artifacts"] = {**artifacts, "pr_curves": FROM_PREDICTIONS}
        rows.append(row)
    return rows


def _safe(name: str) -> str:
    """A registry name as a file name (names are ASCII words; anything else becomes '_')."""
    return re.sub(r"[^A-Za-z0-9._+@=-]", "_", name).lstrip(".") or "_"


def run_span(run: StoredRun, trials: list[dict[str, Any]]) -> dict[str, Any]:
    """When the run worked (first trial or row to last row) and the device-seconds it charged."""
    starts = [r.created_at for r in run.results if r.created_at]
    starts += [dt.datetime.fromisoformat(t["datetime_start"]) for s in trials for t in s["trials"] if t["datetime_start"]]
    ends = [r.updated_at for r in run.results if r.updated_at]
    tuning = sum(Spent.from_record(p.spent).seconds for p in run.pairs)
    reruns = sum(float(r.timings.get("total_seconds") or 0) for r in run.results
                 if isinstance(r.timings.get("total_seconds"), int | float))
    start, end = (min(starts) if starts else None), (max(ends) if ends else None)
    return {"started": start.isoformat() if start else None, "finished": end.isoformat() if end else None,
            "span_seconds": round((end - start).total_seconds(), 1) if start and end else None,
            "device_seconds": round(tuning + reruns, 1)}


def publish_bundle(store: Store, suite_name: str, folder: str | Path, *, command: str | None = None,
                   data_root: str | None = None, version: str | None = None,
                   progress: Callable[[str], None] | None = None) -> Published:
    """Write the bundle of ``suite_name`` (as stored in ``store``) into ``folder``, replacing a bundle
    there. The folder must be new, empty or a bundle: nothing else is overwritten."""
    step = progress or (lambda _: None)
    target = Path(folder)
    if target.exists() and not (target.is_dir() and (is_bundle(target) or not any(target.iterdir()))):
        raise BenchmarkError(f"{target} exists and is not a bundle", "give a new or empty folder, or an "
                                                                    "earlier bundle of this suite to replace")
    suite = resolve_suite(suite_name)
    step("reading the store")
    run = read_run(store, suite_name)
    if run.problems:
        raise BenchmarkError(f"the store {store.safe_url} holds damaged rows of suite '{suite_name}': "
                             + "; ".join(run.problems[:3]), "repair or re-run them before publishing")
    if not run.results:
        raise BenchmarkError(f"the store {store.safe_url} holds no seed rows of suite '{suite_name}'",
                             f"run it first: python -m benchmark run --suite {suite_name}")
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.publishing-", dir=target.parent))
    work.chmod(0o755)  # mkdtemp's 0700 would make the published folder private
    try:
        written = _write_bundle(store, run, suite, work, command, data_root, version, step)
        _swap(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    written.folder = target
    return written


def _write_bundle(store: Store, run: StoredRun, suite: Suite, work: Path, command: str | None,
                  data_root: str | None, version: str | None, step: Callable[[str], None]) -> Published:
    """Every file of the bundle into ``work`` (see the module's layout)."""
    step("the tuning trials")
    trials = study_records(store, suite.name, split_seeds=(0,))
    step("the predictions")
    predictions = load_predictions(store, suite.name)  # read once: the arrays and the rows' derived curves
    index = _write_predictions(predictions, work)
    step("the report")
    report_root = Path(tempfile.mkdtemp(prefix="report-", dir=work))
    built = build_report(store, suite.name, report_root, data_root=data_root, bundle_rows="../rows.json.gz")
    shutil.move(str(report_root / suite.name), work / "report")
    report_root.rmdir()
    definition = suite_definition(suite)
    datasets = sorted({p.dataset for p in run.pairs} | {r.dataset for r in run.results})
    published = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    version = version or published.strftime("%Y.%m.%d")
    ok_rows = [r for r in run.results if r.status == OK]
    meta = {"format": BUNDLE_FORMAT, "suite": suite.name, "version": version,
            "published": published.isoformat(), "command": command or default_command(run, suite),
            "benchmark_version": benchmark.__version__, "scores_hash": scores_hash(run),
            "results_hash": built.results_hash, "suite_digest": suite_digest(definition),
            "counts": {"pairs": len(run.pairs), "cells": sum(p.status == COMPLETE for p in run.pairs),
                       "seed_rows": len(run.results), "ok_rows": len(ok_rows), "predictions": len(index),
                       "ok_rows_without_predictions": len({(r.dataset, r.method, r.split_seed, r.seed) for r in ok_rows}
                                                          - {(i["dataset"], i["method"], i["split_seed"], i["seed"])
                                                             for i in index})},
            "run": run_span(run, trials),
            "commits": sorted({str(r.provenance.get("git_commit")) for r in run.results if r.provenance})}
    files = {"bundle.json": meta, "suite.json": {"definition": definition, "digest": meta["suite_digest"]},
             "environment.json": {"lock": (lock := environment_lock()), "hardware": run_hardware(run)},
             "data.json": data_files(datasets, suite, data_root),
             PAIRS: [_plain(p) for p in run.pairs], ROWS: _rows_without_curves(run, predictions, suite.name),
             TRIALS: trials, PREDICTIONS: index}
    for name, value in files.items():
        write_json(work, name, value)
    (work / CONSTRAINTS).write_text(constraints_text(lock), encoding="utf-8")
    (work / "CITATION.cff").write_text(bundle_cff(meta), encoding="utf-8")
    (work / "CITATION.bib").write_text(bundle_bibtex(meta) + "\n", encoding="utf-8")
    step("the manifest")
    manifest = write_manifest(work)
    size = sum(e["bytes"] for e in manifest["files"].values()) + (work / MANIFEST).stat().st_size
    return Published(work, meta["scores_hash"], meta["results_hash"], version, meta["counts"]["cells"],
                     len(run.results), len(manifest["files"]) + 1, size)


def _swap(work: Path, target: Path) -> None:
    """Put the finished bundle in place of ``target``: a reader sees the old bundle or the new one."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.replaced-{os.getpid()}")
        os.replace(target, old)
    os.replace(work, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
