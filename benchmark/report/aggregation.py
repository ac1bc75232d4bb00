"""From stored rows to the figures a report shows: per-dataset seed means, suite means, ranks, wins.

Per dataset, each figure is the mean over the suite's splits (split seeds, each tuned on its own) of
the per-split mean over the seed re-runs of that split's best configuration. Its 95% interval is the
Student-t interval over the per-split means when there are two or more splits (it then covers the
variation of both split and seed), else over the seeds of the one split
(:func:`benchmark.report.statistics.split_seed_interval`); every cell says over how many splits and
seeds in its tooltip. Per suite, a figure is the mean over datasets of those per-dataset means; its
95% interval propagates the per-dataset intervals through the average (half-width sqrt(sum h_d^2) / D):
datasets are the suite's fixed choice, so the interval says how much other splits and seeds could
move the figure. An interval never leaves the metric's range (its ``range`` in
:data:`benchmark.metrics.METRICS`, [0, 1] for every metric today): with two or three values a t interval
can be wider than the range, and is then shown clipped to it and flagged. How methods compare across
datasets is the job of the rank statistics (:mod:`benchmark.report.statistics`); one row against
another on one dataset is :mod:`benchmark.report.comparisons`.

A pair without a result is never a zero: its cell carries a status (not applicable, failed, data
unavailable, corrupt row, not run, in progress) and the stored reason.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchmark.metrics import HEADLINE, METRICS, OBJECTIVES, REPORTED, SUITE_COLUMNS
from benchmark.report.artifacts import SampleGrids, read_sample_grids
from benchmark.report.records import CORRUPT, StoredPair, StoredResult, StoredRun
from benchmark.report.statistics import Interval, clip, rank_rows, split_seed_interval
from benchmark.store import (
    COMPLETE,
    DATA_ERROR,
    DATA_UNAVAILABLE,
    FAILED,
    NOT_APPLICABLE,
    OK,
    RESOURCE_UNAVAILABLE,
)
from benchmark.tuning.budget import Spent, row_cost_seconds

MISSING, IN_PROGRESS, UNREGISTERED, UNDEFINED = "missing", "in-progress", "unregistered", "undefined"
STATUS_TEXT = {
    NOT_APPLICABLE: "not applicable",
    FAILED: "failed",
    DATA_UNAVAILABLE: "data unavailable",
    DATA_ERROR: "data error",
    RESOURCE_UNAVAILABLE: "resource unavailable",
    CORRUPT: "corrupt row",
    MISSING: "not run",
    IN_PROGRESS: "in progress",
    UNDEFINED: "n/a",
}


@dataclass
class Cell:
    """A figure (mean and 95% half-width over ``n`` splits, seeds or datasets) or, without one, a status.

    ``covers`` says what the figure and its interval are over (shown as the cell's tooltip); when the
    interval leaves the metric's range, ``clipped`` is set and ``low``/``high`` hold it clipped."""

    mean: float | None = None
    half: float | None = None
    n: int = 0
    status: str = OK
    reason: str | None = None
    note: str | None = None  # e.g. "mean over 2 of 3 datasets: ..."
    covers: str = ""
    low: float | None = None
    high: float | None = None
    clipped: bool = False

    @property
    def ok(self) -> bool:
        return self.mean is not None and math.isfinite(self.mean)

    def text(self, digits: int = 3) -> str:
        if not self.ok:
            return STATUS_TEXT.get(self.status, self.status)
        if self.clipped and self.low is not None and self.high is not None:
            return f"{self.mean:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]*"
        if self.half is None or not math.isfinite(self.half):
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} ± {self.half:.{digits}f}"


def interval_cell(interval: Interval) -> Cell:
    """The cell of a figure with its interval (clipped to the range where it leaves it)."""
    return Cell(interval.mean, interval.half, interval.splits if interval.over == "splits" else interval.seeds,
                covers=interval.describe(), low=interval.low, high=interval.high, clipped=interval.clipped)


@dataclass
class DatasetEntry:
    """One method on one dataset: its cells and everything its dataset page draws."""

    method: str
    status: str
    reason: str | None
    cells: dict[str, Cell]
    seeds: int = 0
    splits: int = 0  # splits with at least one OK seed row
    seed_note: str | None = None
    cost_seconds: float | None = None
    best_params: dict[str, Any] | None = None
    best_value: float | None = None
    per_class_recall: list[float] | None = None
    values: dict[str, list[float]] = field(default_factory=dict)  # metric -> its value per OK seed
    split_values: dict[str, dict[int, list[float]]] = field(default_factory=dict)  # metric -> split -> values
    pr_curves: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    pr_seed: int | None = None
    samples: SampleGrids | None = None
    fidelity: dict[str, Any] | None = None  # generative rows: the first seed's "fidelity" artifact


@dataclass
class MethodRow:
    """One row of the suite leaderboard."""

    method: str
    family: str
    registered: bool
    cells: dict[str, Cell]
    ranks: dict[str, float | None]
    rank_counts: dict[str, int]
    wins: int
    datasets_won: list[str]
    cost_seconds: float
    covered: int  # datasets with a result


@dataclass
class Aggregate:
    datasets: list[str]
    methods: list[str]
    entries: dict[str, dict[str, DatasetEntry]]  # dataset -> method -> entry
    rows: list[MethodRow]
    objective: str
    designs: dict[str, str] = field(default_factory=dict)  # dataset -> what its figures are over (design_text)
    design: str = ""  # the same for the whole suite

    def interval_text(self, dataset: str | None = None) -> str:
        """What a figure of ``dataset`` (the suite when None) is a mean over and what its interval covers."""
        return self.designs.get(dataset, "") if dataset is not None else self.design


def _status_of(pair: StoredPair | None, rows: list[StoredResult]) -> tuple[str, str | None]:
    """Why a pair has no OK seed row: its pair status, else its rows' status, with a reason."""
    bad = [r for r in rows if r.status != OK]
    row_reasons = "; ".join(sorted({f"seed {r.seed}: {r.reason}" for r in bad if r.reason}))
    if pair is not None and pair.status in (NOT_APPLICABLE, DATA_UNAVAILABLE, DATA_ERROR, RESOURCE_UNAVAILABLE, FAILED,
                                            CORRUPT):
        return pair.status, pair.reason or row_reasons or None
    if any(r.status == CORRUPT for r in rows):
        return CORRUPT, row_reasons
    if any(r.status == FAILED for r in rows):
        return FAILED, row_reasons
    if pair is not None and pair.status != COMPLETE:
        return IN_PROGRESS, f"the pair is '{pair.status}': its run has not finished"
    return MISSING, "no result is stored for this pair"


def _split_text(split_seed: int) -> str:
    return f"split {split_seed} " if split_seed else ""


def _finite(values: list[Any]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def _split_pairs(pair: StoredPair | list[StoredPair] | None) -> list[StoredPair]:
    return sorted(pair if isinstance(pair, list) else ([] if pair is None else [pair]), key=lambda p: p.split_seed)


def _representative(pairs: list[StoredPair]) -> StoredPair | None:
    """The pair row whose status speaks for a method on a dataset: the first split that did not finish
    (its reason explains the gap), else split 0's."""
    unfinished = [p for p in pairs if p.status != COMPLETE]
    return unfinished[0] if unfinished else (pairs[0] if pairs else None)


def build_entry(method: str, pair: StoredPair | list[StoredPair] | None, rows: list[StoredResult],
                problems: list[str]) -> DatasetEntry:
    """One method on one dataset from its pair rows (one per split seed) and seed rows: figures are
    means over splits x seeds (:func:`benchmark.report.statistics.split_seed_interval`)."""
    pairs = _split_pairs(pair)
    ok = [r for r in rows if r.status == OK]
    cost = row_cost_seconds([Spent.from_record(p.spent) for p in pairs],
                            [r.timings for r in rows if isinstance(r.timings, dict)])
    pair = _representative(pairs)
    first_pair = pairs[0] if pairs else None  # split 0's tuning: the configuration the page shows
    entry = DatasetEntry(method=method, status=OK, reason=None, cells={}, seeds=len(ok), cost_seconds=cost or None,
                         best_params=first_pair.best_params if first_pair else (ok[0].params if ok else None),
                         best_value=first_pair.best_value if first_pair else None,
                         splits=len({r.split_seed for r in ok}))
    if not ok:
        entry.status, entry.reason = _status_of(pair, rows)
        entry.cells = {m: Cell(status=entry.status, reason=entry.reason) for m in REPORTED}
        return entry
    for metric in REPORTED:
        values = _finite([r.metrics.get(metric) for r in ok])
        entry.values[metric] = values
        by_split: dict[int, list[float]] = {}
        for r in ok:
            by_split.setdefault(r.split_seed, []).extend(_finite([r.metrics.get(metric)]))
        entry.split_values[metric] = {k: v for k, v in by_split.items() if v}
        interval = split_seed_interval(by_split, METRICS[metric].range)
        if interval is not None:
            entry.cells[metric] = interval_cell(interval)
        elif any(metric in r.metrics for r in ok):  # stored as NaN: no class of the split qualifies
            entry.cells[metric] = Cell(status=UNDEFINED, reason=f"undefined on this split ({METRICS[metric].definition})")
        else:
            entry.cells[metric] = Cell(status=MISSING, reason=f"{metric} not stored")
    bad = [r for r in rows if r.status != OK]
    notes = []
    if bad:
        notes.append(f"{len(bad)} of {len(rows)} seed re-runs left out: " + "; ".join(
            f"{_split_text(r.split_seed)}seed {r.seed} {STATUS_TEXT.get(r.status, r.status)} ({r.reason})"
            for r in bad))
    missing = [p for p in pairs if p.split_seed not in {r.split_seed for r in ok}]
    if missing:
        notes.append(f"figures over {entry.splits} of {len(pairs)} splits; no result on " + "; ".join(
            f"split {p.split_seed} ({STATUS_TEXT.get(p.status, p.status)}{': ' + p.reason if p.reason else ''})"
            for p in missing))
    entry.seed_note = "; ".join(notes) or None
    recalls = [r.per_class.get("recall") for r in ok if isinstance(r.per_class.get("recall"), list)]
    if recalls and len({len(x) for x in recalls}) == 1:
        arr = np.array([[np.nan if v is None else v for v in x] for x in recalls], dtype=np.float64)
        entry.per_class_recall = np.nanmean(arr, axis=0).tolist() if arr.size else None
    first = min(ok, key=lambda r: (r.split_seed, r.seed))
    curves = first.artifacts.get("pr_curves")
    if isinstance(curves, dict):
        entry.pr_curves = {str(c): v for c, v in curves.items() if isinstance(v, dict)
                           and isinstance(v.get("precision"), list) and isinstance(v.get("recall"), list)
                           and len(v["precision"]) == len(v["recall"])}
        entry.pr_seed = first.seed
    entry.fidelity = next((r.artifacts["fidelity"] for r in sorted(ok, key=lambda r: r.seed)
                           if isinstance(r.artifacts.get("fidelity"), dict)
                           and isinstance(r.artifacts["fidelity"].get("classes"), dict)), None)
    for r in sorted(ok, key=lambda r: r.seed):
        if "generated_samples" in r.artifacts:
            try:
                entry.samples = read_sample_grids(r.artifacts["generated_samples"])
            except ValueError as exc:
                problems.append(f"{r.dataset} x {r.method} seed {r.seed}: {exc}; its sample grid is not shown")
            break
    return entry


def defined_metrics(entries: dict[str, DatasetEntry], metrics: list[str] | tuple[str, ...]) -> list[str]:
    """The metrics some method has a figure for on a dataset (few-shot accuracy is undefined where no
    class has fewer than 20 training samples, as in Fashion-MNIST-LT)."""
    return [m for m in metrics if any(e.cells.get(m) is not None and e.cells[m].ok for e in entries.values())]


def suite_cell(entries: list[tuple[str, DatasetEntry]], metric: str, total: int) -> Cell:
    """Mean over datasets of the per-dataset means (over splits x seeds); half-width propagated from the
    per-dataset intervals, clipped to the metric's range."""
    have = [(d, e.cells[metric]) for d, e in entries if e.cells.get(metric) is not None and e.cells[metric].ok]
    missing = [(d, e) for d, e in entries if not (e.cells.get(metric) is not None and e.cells[metric].ok)]
    if not have:
        statuses = Counter(e.status for _, e in missing)
        status = statuses.most_common(1)[0][0] if statuses else MISSING
        reason = "; ".join(f"{where}: {STATUS_TEXT.get(status, status)} ({reason})"
                           for where, status, reason in missing_groups(missing, total))
        return Cell(status=status, reason=reason or "no result on any dataset")
    means = [c.mean for _, c in have]
    halves = [c.half for _, c in have]
    half = math.sqrt(sum(h * h for h in halves)) / len(halves) if all(
        h is not None and math.isfinite(h) for h in halves) else float("nan")
    mean = float(np.mean(means))
    low, high, clipped = clip(mean, half, METRICS[metric].range)
    splits = sorted({e.splits for d, e in entries if e.cells.get(metric) is not None and e.cells[metric].ok})
    seeds = sorted({max(len(v) for v in e.split_values.get(metric, {}).values()) for d, e in entries
                    if e.split_values.get(metric)})
    covers = (f"mean over {len(have)} dataset{'s' if len(have) != 1 else ''} of the per-dataset means over "
              f"{'/'.join(map(str, splits))} split(s) x {'/'.join(map(str, seeds))} seed(s); 95% interval "
              "propagated from the per-dataset intervals" + ("; shown clipped to the metric's range" if clipped else ""))
    cell = Cell(mean, half, len(have), covers=covers, low=low, high=high, clipped=clipped)
    if len(have) < total:
        cell.note = f"mean over {len(have)} of {total} datasets; none on " + "; ".join(
            f"{where} ({STATUS_TEXT.get(status, status)}: {reason})" for where, status, reason in missing_groups(missing, total))
    return cell


def missing_groups(missing: list[tuple[str, DatasetEntry]], total: int) -> list[tuple[str, str, str | None]]:
    """The datasets without a figure, one (datasets, status, reason) per distinct status and reason: a cell's
    hover text names a reason once, not once per dataset (a tabular suite's image rows said the same thing
    for each of 22 datasets, in each of 8 cells)."""
    groups: dict[tuple[str, str | None], list[str]] = {}
    for d, e in missing:
        groups.setdefault((e.status, e.reason), []).append(d)
    return [(f"all {len(ds)} datasets" if len(ds) == total > 1 else ", ".join(ds), status, reason)
            for (status, reason), ds in groups.items()]


def aggregate(run: StoredRun, families: dict[str, str], registered: set[str], problems: list[str],
              objective: str | None = None) -> Aggregate:
    """Tables of the whole report from a suite's stored rows."""
    datasets = sorted({p.dataset for p in run.pairs} | {r.dataset for r in run.results})
    methods = sorted({p.method for p in run.pairs} | {r.method for r in run.results})
    pairs: dict[tuple[str, str], list[StoredPair]] = {}  # one pair row per split seed
    for p in run.pairs:
        pairs.setdefault((p.dataset, p.method), []).append(p)
    rows: dict[tuple[str, str], list[StoredResult]] = {}
    for r in run.results:
        rows.setdefault((r.dataset, r.method), []).append(r)
    if objective is None:
        stored = Counter(p.budget.get("objective") for p in run.pairs if isinstance(p.budget.get("objective"), str))
        objective = stored.most_common(1)[0][0] if stored else "minority_f1"
    if objective not in OBJECTIVES:
        objective = "minority_f1"

    entries: dict[str, dict[str, DatasetEntry]] = {}
    for d in datasets:
        entries[d] = {m: build_entry(m, pairs.get((d, m)), rows.get((d, m), []), problems) for m in methods}

    # Ranks per dataset among the methods with a result there; wins on the tuning objective.
    rank_sum = {metric: dict.fromkeys(methods, 0.0) for metric in HEADLINE}
    rank_n = {metric: dict.fromkeys(methods, 0) for metric in HEADLINE}
    won: dict[str, list[str]] = {m: [] for m in methods}
    for d in datasets:
        for metric in set(HEADLINE) | {objective}:
            present = [m for m in methods if entries[d][m].cells[metric].ok]
            if not present:
                continue
            # ranks and wins read the metric's direction: a lower-is-better figure ranks by its negation
            sign = 1.0 if METRICS[metric].higher_is_better else -1.0
            values = np.array([[sign * entries[d][m].cells[metric].mean for m in present]])
            if metric in HEADLINE:
                for m, rank in zip(present, rank_rows(values)[0], strict=True):
                    rank_sum[metric][m] += float(rank)
                    rank_n[metric][m] += 1
            if metric == objective:
                for m, value in zip(present, values[0], strict=True):
                    if value >= values.max() - 1e-12:
                        won[m].append(d)

    # A dataset on which no method has a result (its data was unavailable, say) cannot tell methods
    # apart: suite means are over the others, and the report says so once instead of on every row.
    scored = [d for d in datasets if any(e.status == OK for e in entries[d].values())]
    for d in datasets:
        if d not in scored:
            statuses = sorted({STATUS_TEXT.get(e.status, e.status) for e in entries[d].values()})
            problems.append(f"dataset '{d}' has no result for any method ({', '.join(statuses)}); the suite "
                            "figures are over the other datasets")
    table_rows = []
    for m in methods:
        per_dataset = [(d, entries[d][m]) for d in (scored or datasets)]
        cells = {metric: suite_cell(per_dataset, metric, len(per_dataset)) for metric in SUITE_COLUMNS}
        table_rows.append(MethodRow(
            method=m, family=families.get(m, "unregistered"), registered=m in registered, cells=cells,
            ranks={k: (rank_sum[k][m] / rank_n[k][m] if rank_n[k][m] else None) for k in HEADLINE},
            rank_counts={k: rank_n[k][m] for k in HEADLINE}, wins=len(won[m]), datasets_won=won[m],
            cost_seconds=sum(entries[d][m].cost_seconds or 0.0 for d in datasets),
            covered=sum(1 for _, e in per_dataset if e.status == OK),
        ))
    # Default order: the tuning objective, best first; rows without a figure last.
    key = METRICS[objective if objective in SUITE_COLUMNS else "minority_f1"]
    table_rows.sort(key=lambda r: (key.sort_key(r.cells[key.name].mean), r.method))
    designs = {d: design_text(entries[d].values()) for d in datasets}
    return Aggregate(datasets, [r.method for r in table_rows], entries, table_rows, objective, designs,
                     design_text([e for d in datasets for e in entries[d].values()]))


def design_text(entries: Any) -> str:
    """How many splits and seeds the figures of ``entries`` are over, and what their intervals cover:
    e.g. '5 splits x 3 seeds per split; 95% Student-t interval over the per-split means'."""
    splits = sorted({e.splits for e in entries if e.status == OK and e.splits})
    seeds = sorted({len(v) for e in entries if e.status == OK
                    for v in (e.split_values.get("minority_f1") or e.split_values.get("balanced_accuracy") or {}).values()})
    if not splits:
        return "no results"
    text = (f"{'/'.join(map(str, splits))} split{'s' if splits != [1] else ''} x {'/'.join(map(str, seeds))} "
            f"seed{'s' if seeds != [1] else ''} per split")
    if max(splits) >= 2:
        return text + "; mean over splits of the per-split seed means, 95% Student-t interval over the per-split means"
    if max(seeds, default=0) >= 2:
        return text + "; mean over seeds, 95% Student-t interval over the seeds"
    return text + "; one value, no interval"
