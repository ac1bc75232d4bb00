"""Reading published bundles as a store: ``--storage DIR`` (or ``bundle:DIR``) for ``report`` and ``results``.

A bundle is loaded into a fresh SQLite store in a temporary folder, through the same tables and Optuna's
own API, so every reader of a store (reports, ``results``, tuning histories, hashes) works on it
unchanged and gives the figures it gives on the original store: one reading code path, not two. The
temporary store is removed when the process ends. Reading a bundle is reading input: the manifest is
checked first (a file edited, added or removed since publishing is refused), and every row, index
entry and array is checked for its type and shape before it is stored.

Several bundles (``--storage A,B``) load into one store, side by side: where two bundles hold rows of the
same method on the same dataset, each such method is named ``<method>@<bundle folder>`` so that the
report shows one row from each.
"""

from __future__ import annotations

import atexit
import datetime as dt
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmark.errors import BenchmarkError
from benchmark.publish.files import (
    BUNDLE_FORMAT,
    FROM_PREDICTIONS,
    PAIRS,
    PREDICTIONS,
    ROWS,
    TRIALS,
    check_manifest,
    is_bundle,
    read_json,
    read_npz,
)
from benchmark.publish.trials import load_studies
from benchmark.store import PairRow, ResultRow, Store
from benchmark.store.predictions import PredictionKey, Predictions, save_many, scoring_from
from benchmark.store.studies import study_name

PREFIX = "bundle:"
_RESULT_FIELDS = {"suite": str, "dataset": str, "method": str, "split_seed": int, "seed": int, "status": str,
                  "params": dict, "metrics": dict, "val_metrics": dict, "per_class": dict, "timings": dict,
                  "provenance": dict, "artifacts": dict}
_PAIR_FIELDS = {"suite": str, "dataset": str, "method": str, "split_seed": int, "status": str, "budget": dict,
                "spent": dict, "info": dict}
_INDEX_FIELDS = {"dataset": str, "method": str, "split_seed": int, "seed": int, "file": str, "proba": str,
                 "labels": str, "sha256": str, "scoring": dict}


def bundle_paths(storage: str | None) -> list[Path] | None:
    """The bundle folders ``--storage`` names (``DIR``, ``bundle:DIR``, comma-separated for several), or
    None when it names a database. ``bundle:`` with a folder that holds no bundle is an error."""
    if not storage:
        return None
    explicit = storage.startswith(PREFIX)
    parts = [p.strip() for p in storage.removeprefix(PREFIX).split(",") if p.strip()]
    if not explicit and ("://" in storage or not parts or not all(is_bundle(p) for p in parts)):
        return None
    missing = [p for p in parts if not is_bundle(p)]
    if missing or not parts:
        raise BenchmarkError(f"--storage {storage}: {', '.join(missing) or 'nothing'} is not a bundle folder "
                             "(no MANIFEST.json)", "give the folder `python -m benchmark publish` wrote")
    return [Path(p) for p in parts]


def open_bundles(folders: Sequence[str | Path]) -> Store:
    """A temporary store holding the rows, predictions and tuning trials of ``folders``' bundles."""
    folders = [Path(f) for f in folders]
    for folder in folders:
        problems = check_manifest(folder)
        if problems:
            raise BenchmarkError(f"the bundle {folder} does not match its manifest: " + "; ".join(problems[:5])
                                 + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""),
                                 "restore the published files (or publish the bundle again from its store)")
    temp = Path(tempfile.mkdtemp(prefix="benchmark-bundle-"))
    atexit.register(shutil.rmtree, temp, True)
    store = Store(f"sqlite:///{temp / 'bundle.db'}")
    contents = [read_bundle(folder) for folder in folders]
    renames = side_by_side([c["rows"] for c in contents], [f.name for f in folders])
    for content, rename in zip(contents, renames, strict=True):
        _store_content(store, content, rename)
    return store


def read_bundle(folder: Path) -> dict[str, Any]:
    """A bundle's parts, checked: its metadata, pairs, rows, trials and predictions."""
    meta = read_json(folder, "bundle.json")
    if meta.get("format") != BUNDLE_FORMAT:
        raise BenchmarkError(f"{folder / 'bundle.json'} has format {meta.get('format')!r}; this version reads "
                             f"format {BUNDLE_FORMAT}", "read it with the benchmark version that published it")
    rows = [_checked(r, _RESULT_FIELDS, folder / ROWS, i) for i, r in enumerate(read_json(folder, ROWS, list))]
    pairs = [_checked(p, _PAIR_FIELDS, folder / PAIRS, i) for i, p in enumerate(read_json(folder, PAIRS, list))]
    return {"meta": meta, "rows": rows, "pairs": pairs, "trials": read_json(folder, TRIALS, list),
            "predictions": read_predictions(folder)}


def _checked(record: Any, fields: dict[str, type], where: Path, i: int) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise BenchmarkError(f"{where}: entry {i} is a {type(record).__name__}, expected an object",
                             "restore the bundle's original files")
    for name, kind in fields.items():
        value = record.get(name)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise BenchmarkError(f"{where}: entry {i} has {name} = {value!r}, expected a {kind.__name__}",
                                 "restore the bundle's original files")
    return record


def read_predictions(folder: Path) -> list[tuple[dict[str, Any], Predictions]]:
    """Each index entry of ``predictions.json.gz`` with its arrays, checked against the entry's shape and SHA-256."""
    out, archives = [], {}
    for i, entry in enumerate(read_json(folder, PREDICTIONS, list)):
        entry = _checked(entry, _INDEX_FIELDS, folder / PREDICTIONS, i)
        path = (folder / entry["file"]).resolve()
        if folder.resolve() not in path.parents:
            raise BenchmarkError(f"{folder / PREDICTIONS}: entry {i} points outside the bundle ({entry['file']})",
                                 "restore the bundle's original files")
        if path not in archives:  # each file read once (setdefault would read it again for every entry)
            archives[path] = read_npz(path)
        arrays = archives[path]
        try:
            proba = arrays[entry["proba"]]
            if "start" in entry:  # a split's seed rows stacked in one array (bundles since the LZMA layout)
                start, rows = entry["start"], entry.get("rows")
                if not isinstance(start, int) or not isinstance(rows, int) or not 0 <= start <= start + rows <= len(proba):
                    raise ValueError(f"rows {start}..{start}+{rows} lie outside its array of {len(proba)}")
                proba = proba[start:start + rows]
            p = Predictions(arrays[entry["labels"]], proba, **scoring_from(entry["scoring"]))
            if proba.dtype.kind != "f" or p.digest() != entry["sha256"]:
                raise ValueError("the arrays' SHA-256 differs from the index's")
        except (KeyError, TypeError, ValueError) as exc:
            raise BenchmarkError(f"{folder / PREDICTIONS}: entry {i} ({entry['dataset']} x {entry['method']} "
                                 f"split {entry['split_seed']} seed {entry['seed']}): {exc}",
                                 "restore the bundle's original files") from None
        out.append((entry, p))
    return out


def side_by_side(rows_of: list[list[dict[str, Any]]], labels: list[str]) -> list[dict[tuple[str, str], str]]:
    """For each bundle, ``(dataset, method) -> shown name``: a method with rows on a dataset in more than
    one bundle is named ``method@label`` in each (labels made unique), so each bundle keeps its row."""
    unique = [label if labels.count(label) == 1 else f"{label}-{i + 1}" for i, label in enumerate(labels)]
    owners: dict[tuple[str, str, str], set[int]] = {}
    for i, rows in enumerate(rows_of):
        for r in rows:
            owners.setdefault((r["suite"], r["dataset"], r["method"]), set()).add(i)
    shared = {k for k, who in owners.items() if len(who) > 1}
    return [{(s, d, m): f"{m}@{unique[i]}" for (s, d, m) in shared} for i in range(len(rows_of))]


def _date(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _store_content(store: Store, content: dict[str, Any], rename: dict[tuple[str, str, str], str]) -> None:
    """Insert one bundle's pairs, rows, predictions and split seed 0's tuning trials into ``store``."""

    def name(r: dict[str, Any]) -> str:
        return rename.get((r["suite"], r["dataset"], r["method"]), r["method"])

    with store.session() as s:
        for p in content["pairs"]:
            s.add(PairRow(suite=p["suite"], dataset=p["dataset"], method=name(p), split_seed=p["split_seed"],
                          status=p["status"], reason=p.get("reason"), engine=p.get("engine"),
                          study_name=p.get("study_name"), budget=p["budget"], spent=p["spent"],
                          best_params=p.get("best_params"), best_value=p.get("best_value"), info=p["info"],
                          updated_at=_date(p.get("updated_at"))))
        curves = {(e["dataset"], e["method"], e["split_seed"], e["seed"]): p for e, p in content["predictions"]}
        for r in content["rows"]:
            p = curves.get((r["dataset"], r["method"], r["split_seed"], r["seed"]))
            if (r["artifacts"] or {}).get("pr_curves") == FROM_PREDICTIONS:  # left out by the writer as derived
                if p is None:
                    raise BenchmarkError(f"a row of {r['dataset']} x {r['method']} computes its curves from predictions "
                                         "the bundle lacks", "restore the bundle's original files")
                r = {**r, "artifacts": {**r["artifacts"], "pr_curves": p.curves()}}
            s.add(ResultRow(suite=r["suite"], dataset=r["dataset"], method=name(r), split_seed=r["split_seed"],
                            seed=r["seed"], status=r["status"], reason=r.get("reason"),
                            **{k: r[k] for k in ("params", "metrics", "val_metrics", "per_class", "timings",
                                                 "provenance", "artifacts")},
                            created_at=_date(r.get("created_at")), updated_at=_date(r.get("updated_at"))))
        s.commit()
    suite = content["meta"].get("suite")
    keyed: list[tuple[PredictionKey, Predictions]] = [
        ((suite, e["dataset"], rename.get((suite, e["dataset"], e["method"]), e["method"]), e["split_seed"], e["seed"]), p)
        for e, p in content["predictions"]]
    save_many(store, keyed)
    shown = {study_name(*key): study_name(key[0], key[1], method) for key, method in rename.items()}
    studies = [{**t, "study_name": shown.get(t.get("study_name"), t.get("study_name"))} if isinstance(t, dict) else t
               for t in content["trials"]]
    try:
        load_studies(store.url, studies)
    except ValueError as exc:
        raise BenchmarkError(f"the bundle's {TRIALS} is malformed: {exc}", "restore the bundle's original files") from None
