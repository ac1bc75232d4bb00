"""Reading a suite's stored rows for reports, tolerant of damage, and hashing what was read.

The report must still be written when a row is damaged (hand-edited JSON, a half-migrated
database, a plugin that stored something odd), so rows are read with their JSON columns as raw
text and decoded one by one here: a row that cannot be decoded or has the wrong shape becomes a
row with status ``corrupt`` and a reason naming the row and the column, instead of an exception
that would hide every other result.

:func:`result_records` gives the rows of ``python -m benchmark results`` (and ``results.json``);
:func:`results_hash` is the content hash of everything a report is built from (equal stored results
give equal hashes); :func:`scores_hash` covers the scores alone, so a re-run that reproduces every
score gives the same one: the figure to quote.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String, select, type_coerce
from sqlalchemy.exc import SQLAlchemyError

from benchmark.errors import StorageError
from benchmark.store import (
    COMPLETE,
    DATA_ERROR,
    DATA_UNAVAILABLE,
    FAILED,
    NOT_APPLICABLE,
    OK,
    PENDING,
    RE_RUNNING,
    RESOURCE_UNAVAILABLE,
    RUNNING,
    TUNING,
    PairRow,
    ResultRow,
    Store,
)

CORRUPT = "corrupt"
SEED_STATUSES = (OK, FAILED, RUNNING)
PAIR_STATUSES = (COMPLETE, FAILED, NOT_APPLICABLE, DATA_UNAVAILABLE, DATA_ERROR, RESOURCE_UNAVAILABLE, PENDING,
                 TUNING, RE_RUNNING)
# Pairs with no seed rows that still belong in `results` output: the reason they have none.
PAIR_ONLY_STATUSES = (NOT_APPLICABLE, DATA_UNAVAILABLE, DATA_ERROR, RESOURCE_UNAVAILABLE, FAILED)
HASH_FORMAT = 2  # 2: records and pairs carry their split seed

_RESULT_JSON = ("params", "metrics", "val_metrics", "per_class", "timings", "provenance", "artifacts")
_PAIR_JSON = ("budget", "spent", "best_params", "info")


@dataclass
class StoredResult:
    """One seed row as the report sees it (``status`` may be ``corrupt``, with the reason)."""

    id: int
    suite: str
    dataset: str
    method: str
    seed: int | None
    status: str
    reason: str | None = None
    split_seed: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    val_metrics: dict[str, Any] = field(default_factory=dict)
    per_class: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, Any] = field(default_factory=dict)
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None


@dataclass
class StoredPair:
    """One (dataset, method) pair row on one split seed: its status, budget, spending and best configuration."""

    suite: str
    dataset: str
    method: str
    status: str
    reason: str | None = None
    split_seed: int = 0
    engine: str | None = None
    study_name: str | None = None
    budget: dict[str, Any] = field(default_factory=dict)
    spent: dict[str, Any] = field(default_factory=dict)
    best_params: dict[str, Any] | None = None
    best_value: float | None = None
    info: dict[str, Any] = field(default_factory=dict)
    updated_at: dt.datetime | None = None


@dataclass
class StoredRun:
    """Everything stored for one suite (or every suite), plus what was wrong with it."""

    suite: str | None
    pairs: list[StoredPair]
    results: list[StoredResult]
    problems: list[str] = field(default_factory=list)


def read_run(store: Store, suite: str | None = None, *, include_running: bool = False) -> StoredRun:
    """Read the pair and seed rows of ``suite`` (all suites when None); damaged rows are kept as
    ``corrupt`` with a reason, and listed in ``problems``."""
    problems: list[str] = []
    try:
        pairs = [_decode_pair(row, problems) for row in _raw_rows(store, PairRow, suite)]
        results = [_decode_result(row, problems) for row in _raw_rows(store, ResultRow, suite)]
    except SQLAlchemyError as exc:
        raise StorageError(f"cannot read the results store {store.safe_url}: {str(exc).splitlines()[0]}",
                           "check --storage and that the database is reachable") from exc
    if not include_running:
        results = [r for r in results if r.status != RUNNING]
    pairs.sort(key=lambda p: (p.suite, p.dataset, p.method, p.split_seed))
    results.sort(key=lambda r: (r.suite, r.dataset, r.method, r.split_seed, r.seed if r.seed is not None else -1, r.id))
    return StoredRun(suite, pairs, results, problems)


def _raw_rows(store: Store, model: type, suite: str | None) -> list[dict[str, Any]]:
    """Rows with JSON and date columns as the database holds them (text), so that one damaged
    value cannot stop the whole read."""
    table = model.__table__
    raw = set(_RESULT_JSON if model is ResultRow else _PAIR_JSON) | {"created_at", "updated_at"}
    columns = [type_coerce(c, String()).label(c.name) if c.name in raw else c for c in table.c]
    query = select(*columns)
    if suite:
        query = query.where(table.c.suite == suite)
    with store.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def _describe(row: dict[str, Any]) -> str:
    split = f" split {row.get('split_seed')}" if row.get("split_seed") else ""
    seed = f"{split} seed {row.get('seed')}" if "seed" in row else split
    return f"{row.get('dataset')} x {row.get('method')}{seed} (row id {row.get('id')})"


def _json_column(row: dict[str, Any], name: str, kind: type, nullable: bool = False) -> Any:
    value = row.get(name)
    if value is None:
        if nullable:
            return None
        return kind()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ValueError(f"column '{name}' is not valid JSON ({exc})") from None
    if value is None and nullable:
        return None
    if not isinstance(value, kind):
        raise ValueError(f"column '{name}' holds a JSON {type(value).__name__}, expected an object")
    return value


def _date(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def _split_seed(row: dict[str, Any]) -> int:
    value = row.get("split_seed")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _is_number(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def _check_result_shapes(values: dict[str, Any]) -> None:
    bad = sorted(k for k, v in values["metrics"].items() if not _is_number(v))
    if bad:
        raise ValueError(f"metric(s) {', '.join(bad)} are not numbers")
    lengths = set()
    for key, seq in values["per_class"].items():
        if not isinstance(seq, list) or not all(_is_number(v) for v in seq):
            raise ValueError(f"per_class['{key}'] is not a list of numbers")
        lengths.add(len(seq))
    if len(lengths) > 1:
        raise ValueError(f"per_class lists have different lengths {sorted(lengths)}")


def _decode_result(row: dict[str, Any], problems: list[str]) -> StoredResult:
    seed = row.get("seed")
    result = StoredResult(id=row["id"], suite=str(row.get("suite")), dataset=str(row.get("dataset")),
                          method=str(row.get("method")), seed=seed if isinstance(seed, int) else None,
                          status=str(row.get("status")), reason=row.get("reason"),
                          split_seed=_split_seed(row), created_at=_date(row.get("created_at")),
                          updated_at=_date(row.get("updated_at")))
    try:
        if not isinstance(seed, int):
            raise ValueError(f"seed {seed!r} is not an integer")
        if result.status not in SEED_STATUSES:
            raise ValueError(f"status {result.status!r} is not one of {', '.join(SEED_STATUSES)}")
        values = {name: _json_column(row, name, dict) for name in _RESULT_JSON}
        _check_result_shapes(values)
    except ValueError as exc:
        result.status, result.reason = CORRUPT, f"stored row is damaged: {exc}"
        problems.append(f"{_describe(row)}: {exc}; the row is left out of every figure")
        return result
    for name, value in values.items():
        setattr(result, name, value)
    return result


def _decode_pair(row: dict[str, Any], problems: list[str]) -> StoredPair:
    pair = StoredPair(suite=str(row.get("suite")), dataset=str(row.get("dataset")), method=str(row.get("method")),
                      status=str(row.get("status")), reason=row.get("reason"), engine=row.get("engine"),
                      study_name=row.get("study_name"), updated_at=_date(row.get("updated_at")),
                      split_seed=_split_seed(row))
    best_value = row.get("best_value")
    pair.best_value = float(best_value) if _is_number(best_value) and best_value is not None else None
    damaged = []
    for name in _PAIR_JSON:
        try:
            setattr(pair, name, _json_column(row, name, dict, nullable=name == "best_params"))
        except ValueError as exc:
            damaged.append(str(exc))
    if pair.status not in PAIR_STATUSES:
        damaged.append(f"status {pair.status!r} is not one of {', '.join(PAIR_STATUSES)}")
    if damaged:
        what = "; ".join(damaged)
        problems.append(f"pair {pair.dataset} x {pair.method}: {what}; its damaged fields are shown empty")
        if pair.status not in PAIR_STATUSES:
            pair.status, pair.reason = CORRUPT, f"stored pair row is damaged: {what}"
    return pair


# -- `python -m benchmark results` rows ----------------------------------------------------------
def records_from_run(run: StoredRun) -> list[dict[str, Any]]:
    """One record per seed row; pairs without seed rows (not applicable, data unavailable, failed
    tuning) as one record with seed null. Corrupt rows appear with status ``corrupt`` and why."""
    records = []
    seen = set()
    for r in run.results:
        seen.add((r.suite, r.dataset, r.method, r.split_seed))
        records.append({"suite": r.suite, "dataset": r.dataset, "method": r.method, "split_seed": r.split_seed,
                        "seed": r.seed,
                        "status": r.status, "reason": r.reason, "params": r.params, "metrics": r.metrics,
                        "val_metrics": r.val_metrics, "per_class": r.per_class, "timings": r.timings,
                        "provenance": r.provenance, "artifacts": r.artifacts})
    for p in run.pairs:
        if (p.suite, p.dataset, p.method, p.split_seed) not in seen and p.status in PAIR_ONLY_STATUSES + (CORRUPT,):
            records.append({"suite": p.suite, "dataset": p.dataset, "method": p.method, "split_seed": p.split_seed,
                            "seed": None,
                            "status": p.status, "reason": p.reason, "params": p.best_params or {}, "metrics": {},
                            "val_metrics": {}, "per_class": {}, "timings": {}, "provenance": {}, "artifacts": {}})
    return records


def result_records(store: Store, suite: str | None = None) -> list[dict[str, Any]]:
    """The rows ``python -m benchmark results`` prints and reports export as ``results.json``."""
    return records_from_run(read_run(store, suite))


def records_json(records: list[dict[str, Any]]) -> str:
    """The JSON text of ``records`` (the format of ``results --format json`` and ``results.json``)."""
    return json.dumps(records, indent=1, default=str) + "\n"


# -- content hash ----------------------------------------------------------------------------------
def _canonical(value: Any) -> Any:
    """NaN and infinities as strings, so the canonical text is strict JSON and stable."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def results_hash(run: StoredRun, trials: dict[str, list[dict[str, Any]]] | None = None) -> str:
    """SHA-256 over the canonical JSON of the stored results a report is built from: the seed rows
    (as in ``results.json``), the pair rows (status, budget, spending, best configuration) and the
    tuning trials (number, state, value). Times of writing are left out, so the same results give
    the same hash wherever and whenever they are read; any changed figure changes it."""
    pairs = [{"suite": p.suite, "dataset": p.dataset, "method": p.method, "split_seed": p.split_seed,
              "status": p.status, "reason": p.reason,
              "engine": p.engine, "budget": p.budget, "spent": p.spent, "best_params": p.best_params,
              "best_value": p.best_value, "info": p.info} for p in run.pairs]
    payload = {"format": HASH_FORMAT, "records": records_from_run(run), "pairs": pairs,
               "trials": {k: trials[k] for k in sorted(trials or {})}}
    text = json.dumps(_canonical(payload), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# -- scores hash: the figure to quote ---------------------------------------------------------------
SCORES_DIGITS = 6  # metrics are rounded to 6 decimals: far below any reported figure, above float noise
SCORES_FORMAT = 1


def _rounded(value: Any) -> Any:
    """Numbers as fixed-point text with :data:`SCORES_DIGITS` decimals (``-0`` as ``0``, NaN and
    infinities by name), so equal scores give equal text on every platform."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        if not math.isfinite(value):
            return repr(float(value))
        text = f"{value:.{SCORES_DIGITS}f}"
        return text[1:] if text.startswith("-") and not text.strip("-0.") else text
    if isinstance(value, dict):
        return {str(k): _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return str(value)


def scores_hash(run: StoredRun) -> str:
    """SHA-256 over the scores alone: the test metrics of every successful seed row, rounded to
    :data:`SCORES_DIGITS` decimals, each with its identity (suite, dataset, method, split seed, seed).

    Timings, provenance, trials and times of writing are left out, so a re-run that reproduces every
    score gives the same hash in a fresh store, on another machine or another day: it is the figure to
    quote. :func:`results_hash` identifies the exact stored results (and changes with timings)."""
    rows = sorted(([r.suite, r.dataset, r.method, r.split_seed, r.seed, _rounded(r.metrics)]
                   for r in run.results if r.status == OK), key=lambda row: json.dumps(row[:5]))
    payload = {"format": SCORES_FORMAT, "digits": SCORES_DIGITS, "rows": rows}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
