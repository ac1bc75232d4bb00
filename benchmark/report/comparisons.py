"""One row against another on one dataset: each method against the baseline, each combined row against
its best part. A difference of means comes with its 95% interval: paired by split over two or more
shared splits (Student-t over the per-split differences), else Welch's over the seeds of one split;
it is clipped to the range a difference of the metric can take (from :data:`benchmark.metrics.METRICS`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from benchmark.metrics import METRICS, difference_interval
from benchmark.report.aggregation import MISSING, Cell, DatasetEntry, interval_cell
from benchmark.report.statistics import clip, paired_split_difference
from benchmark.store import OK

BASELINE = "baseline"


@dataclass
class Delta:
    """A method minus another on one dataset: ``cells`` holds, per metric, the difference of their means
    with its 95% half-width."""

    method: str
    cells: dict[str, Cell]

    def significant(self, metric: str) -> bool:
        """Whether the interval of the difference excludes zero."""
        c = self.cells.get(metric)
        return bool(c is not None and c.ok and c.half is not None and math.isfinite(c.half) and abs(c.mean) > c.half)

    def better(self, metric: str) -> bool:
        """Whether the difference on ``metric`` is in the metric's good direction."""
        c = self.cells.get(metric)
        return bool(c is not None and c.ok and (c.mean > 0) == METRICS[metric].higher_is_better)


@dataclass
class BaselineDelta(Delta):
    """One method against the baseline, with the difference of each minority class's mean test recall."""

    minority_recall: list[tuple[int, float]]  # (minority class, difference of its mean test recall)


@dataclass
class PartDelta(Delta):
    """A combined row against its best part on one dataset."""

    parts: list[str]
    best_part: str | None  # the part with the best mean on the tuning objective here; None: no part has one
    note: str


def _known(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def difference_cells(e: DatasetEntry, base: DatasetEntry, metrics: list[str]) -> dict[str, Cell]:
    """``e`` minus ``base`` on each metric: the difference of their means with its 95% interval, paired
    by split over two or more shared splits, else Welch's over the seeds of one split."""
    cells = {}
    for metric in metrics:
        bounds = METRICS[metric].difference_range
        a, b = e.values.get(metric) or [], base.values.get(metric) or []
        paired = paired_split_difference(e.split_values.get(metric) or {}, base.split_values.get(metric) or {},
                                         bounds)
        if paired is not None:  # two or more shared splits: paired by split
            cells[metric] = interval_cell(paired)
        elif a and b:  # one split: the seeds of two methods are independent runs (Welch)
            diff, half = difference_interval(a, b)
            low, high, clipped = clip(diff, half, bounds)
            cells[metric] = Cell(diff, half, len(a), low=low, high=high, clipped=clipped,
                                 covers=f"difference of the means of {len(a)} and {len(b)} seed re-runs on one "
                                        "split; 95% Welch interval"
                                        + (f" (clipped to [{bounds[0]:g}, {bounds[1]:g}])" if clipped else ""))
        else:
            cells[metric] = Cell(status=MISSING, reason=f"{metric} is not stored for both")
    return cells


def against_baseline(entries: dict[str, DatasetEntry], methods: list[str], metrics: list[str],
                     minority: list[int], baseline: str = BASELINE) -> list[BaselineDelta] | None:
    """Each method with results against the baseline's results on one dataset (None without a baseline
    result): the difference of the seed means of each metric with its interval, and the difference of
    each minority class's mean test recall (the long-tail papers' tail-class figure)."""
    base = entries.get(baseline)
    if base is None or base.status != OK:
        return None
    out = []
    for m in methods:
        e = entries[m]
        if m == baseline or e.status != OK:
            continue
        per_class = []
        if e.per_class_recall and base.per_class_recall and len(e.per_class_recall) == len(base.per_class_recall):
            per_class = [(c, e.per_class_recall[c] - base.per_class_recall[c]) for c in minority
                         if c < len(e.per_class_recall) and _known(e.per_class_recall[c])
                         and _known(base.per_class_recall[c])]
        out.append(BaselineDelta(m, difference_cells(e, base, metrics), per_class))
    return out


def against_best_part(entries: dict[str, DatasetEntry], methods: list[str], metrics: list[str],
                      parts_of: dict[str, list[str]], objective: str) -> list[PartDelta] | None:
    """Does each combined row beat its best part? Its results minus those of the part with the best mean
    on the tuning objective on this dataset (the same intervals as against the baseline); None when the
    page has no combined row with results."""
    goal = METRICS[objective]
    out = []
    for m in methods:
        parts = parts_of.get(m) or []
        if not parts or entries[m].status != OK:
            continue
        scored = [p for p in parts if p in entries and entries[p].status == OK and entries[p].cells[objective].ok]
        absent = [p for p in parts if p not in scored]
        if not scored:
            out.append(PartDelta(m, {}, parts, None, f"no part has a result on {goal.label} here: run the parts "
                                                     "in the same suite to compare"))
            continue
        best = min(scored, key=lambda p: goal.sort_key(entries[p].cells[objective].mean))
        note = (f"best part by mean {goal.label} (the tuning objective): {best}"
                + (f"; without a result here: {', '.join(absent)}" if absent else ""))
        out.append(PartDelta(m, difference_cells(entries[m], entries[best], metrics), parts, best, note))
    return out or None
