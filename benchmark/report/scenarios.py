"""The robustness section of a suite with stress scenarios (:mod:`benchmark.datasets.scenarios`).

For each method, scenario and headline metric: the change from clean to the scenario, as a mean with a
95% Student-t interval over the (dataset, split seed) blocks where both were scored. A block's change is
paired on the split: the scenario's figure (mean over its seed re-runs) minus the clean pair's on the
same dataset and split seed. The scenarios are the retraining ones found among the stored datasets
(``keel-yeast3@label-noise-0.2`` against ``keel-yeast3``) and the two re-weighted test priors of the
clean seed rows (``minority_f1@balanced-prior`` against ``minority_f1``). Methods are ranked by
robustness: the mean, over the scenarios, of the change of the suite's objective (the least loss first).
Everything comes from the stored rows, so the section is rebuilt from the store like the rest.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmark.datasets.scenarios import PRIORS, SEPARATOR, split_name
from benchmark.metrics import HEADLINE, METRICS, mean_interval
from benchmark.report.statistics import clip
from benchmark.store.status import OK


@dataclass(frozen=True)
class Delta:
    """The change of one metric from clean to one scenario: mean, interval bounds, the blocks behind it."""

    mean: float
    low: float
    high: float
    blocks: int

    @property
    def has_interval(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)


@dataclass
class RobustnessRow:
    method: str
    deltas: dict[tuple[str, str], Delta] = field(default_factory=dict)  # (scenario, metric) -> change
    score: float = float("nan")  # mean change of the objective over the scenarios
    rank: int = 0


@dataclass
class RobustnessTable:
    scenarios: list[str]
    metrics: list[str]
    objective: str
    rows: list[RobustnessRow]


def _means(rows: Iterable[Any], metric: str) -> dict[tuple[str, str, int], float]:
    """(dataset, method, split seed) -> mean over the seed rows of ``metric`` (finite values only)."""
    values: dict[tuple[str, str, int], list[float]] = {}
    for r in rows:
        v = (r.metrics or {}).get(metric)
        if isinstance(v, int | float) and math.isfinite(v):
            values.setdefault((r.dataset, r.method, r.split_seed), []).append(float(v))
    return {k: sum(v) / len(v) for k, v in values.items()}


def _delta(changes: Sequence[float], metric: str) -> Delta:
    mean, half = mean_interval(changes)
    if not math.isfinite(half):
        return Delta(mean, float("nan"), float("nan"), len(changes))
    low, high, _ = clip(mean, half, METRICS[metric].difference_range)
    return Delta(mean, low, high, len(changes))


def scenario_changes(results: Iterable[Any], metric: str) -> dict[tuple[str, str], list[float]]:
    """(method, scenario) -> the paired changes of ``metric`` over (dataset, split seed) blocks."""
    ok = [r for r in results if r.status == OK]
    clean = _means(ok, metric)
    changes: dict[tuple[str, str], list[float]] = {}
    for (dataset, method, split), value in sorted(clean.items()):
        base, scenario = split_name(dataset)
        if scenario is not None and (base, method, split) in clean:
            changes.setdefault((method, scenario), []).append(value - clean[(base, method, split)])
    for prior in PRIORS:
        shifted = _means(ok, f"{metric}{SEPARATOR}{prior}")
        for key, value in sorted(shifted.items()):
            if split_name(key[0])[1] is None and key in clean:
                changes.setdefault((key[1], f"prior-shift: {prior}"), []).append(value - clean[key])
    return changes


def robustness_table(results: Sequence[Any], objective: str = "minority_f1") -> RobustnessTable | None:
    """The section's table, or None when no stored row was scored under a scenario."""
    metrics = list(HEADLINE)
    changes = {m: scenario_changes(results, m) for m in metrics}
    scenarios = sorted({s for per in changes.values() for _, s in per}, key=lambda s: (s.startswith("prior"), s))
    if not scenarios:
        return None
    ranked = objective if objective in metrics else metrics[0]
    rows = []
    for method in sorted({m for per in changes.values() for m, _ in per}):
        row = RobustnessRow(method)
        for metric in metrics:
            for scenario in scenarios:
                if changes[metric].get((method, scenario)):
                    row.deltas[(scenario, metric)] = _delta(changes[metric][(method, scenario)], metric)
        own = [row.deltas[(s, ranked)].mean for s in scenarios if (s, ranked) in row.deltas]
        row.score = sum(own) / len(own) if own else float("nan")
        rows.append(row)
    rows.sort(key=lambda r: (not math.isfinite(r.score), -r.score if math.isfinite(r.score) else 0.0, r.method))
    for i, row in enumerate(rows, 1):
        row.rank = i
    return RobustnessTable(scenarios, metrics, ranked, rows)
