"""Comparing methods over datasets: ranks, the Friedman test and the Nemenyi critical difference.

Follows Demšar (2006), "Statistical Comparisons of Classifiers over Multiple Data Sets", JMLR 7:
methods are ranked on each dataset (1 = best, ties share the average rank); the Friedman test asks
whether the average ranks differ more than chance allows (with Iman and Davenport's F form, which
Demšar recommends as less conservative); the Nemenyi post-hoc test calls two methods different when
their average ranks differ by at least the critical difference CD = q_alpha * sqrt(k (k+1) / (6 N)).

Friedman's test needs complete blocks: every compared method scored on every dataset. When some
pairs have no result (not applicable, failed), :func:`complete_blocks` picks the methods and
datasets that keep the most scores, and says what it left out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

ALPHA = 0.05


def rank_rows(scores: np.ndarray) -> np.ndarray:
    """Ranks within each row of ``scores`` (datasets x methods), higher score = better = rank 1;
    ties get the average of the ranks they span."""
    scores = np.asarray(scores, dtype=np.float64)
    return np.vstack([stats.rankdata(-row, method="average") for row in scores]) if scores.size else scores


@dataclass
class FriedmanResult:
    """Friedman's chi-square and Iman-Davenport's F over ``n_datasets`` blocks of ``n_methods``."""

    n_datasets: int
    n_methods: int
    chi2: float
    p_chi2: float
    f: float
    p_f: float

    def significant(self, alpha: float = ALPHA) -> bool:
        return self.p_f < alpha


def friedman(scores: np.ndarray) -> FriedmanResult:
    """Friedman test on ``scores`` (datasets x methods, higher is better; at least 2 x 3).

    The chi-square statistic is scipy's (with its correction for ties); Iman-Davenport's
    F = (N-1) chi2 / (N (k-1) - chi2) is compared with F(k-1, (k-1)(N-1)).
    """
    scores = np.asarray(scores, dtype=np.float64)
    n, k = scores.shape
    if n < 2 or k < 3:
        raise ValueError(f"the Friedman test needs at least 2 datasets and 3 methods, got {n} x {k}")
    if np.all(scores == scores[:, :1]):  # every method equal on every dataset: nothing to rank
        return FriedmanResult(n, k, 0.0, 1.0, 0.0, 1.0)
    chi2, p_chi2 = stats.friedmanchisquare(*scores.T)
    denominator = n * (k - 1) - chi2
    if denominator <= 0:  # the ranks are identical on every dataset: the F form is unbounded
        f, p_f = math.inf, 0.0
    else:
        f = (n - 1) * chi2 / denominator
        p_f = float(stats.f.sf(f, k - 1, (k - 1) * (n - 1)))
    return FriedmanResult(n, k, float(chi2), float(p_chi2), float(f), p_f)


def nemenyi_critical_difference(n_methods: int, n_datasets: int, alpha: float = ALPHA) -> float:
    """CD = q_alpha sqrt(k (k+1) / (6 N)), q_alpha the studentized range quantile over sqrt(2)."""
    if n_methods < 2 or n_datasets < 1:
        raise ValueError(f"a critical difference needs at least 2 methods and 1 dataset, got {n_methods}, {n_datasets}")
    q = stats.studentized_range.ppf(1 - alpha, n_methods, np.inf) / math.sqrt(2)
    return float(q * math.sqrt(n_methods * (n_methods + 1) / (6.0 * n_datasets)))


def cliques(average_ranks: Sequence[float], cd: float) -> list[list[int]]:
    """Maximal groups of methods (indices) whose average ranks lie within ``cd`` of each other:
    the bars of a critical-difference diagram. Groups of one are left out."""
    order = sorted(range(len(average_ranks)), key=lambda i: average_ranks[i])
    groups = []
    for start in range(len(order)):
        end = start
        while end + 1 < len(order) and average_ranks[order[end + 1]] - average_ranks[order[start]] < cd:
            end += 1
        if end > start:
            group = order[start:end + 1]
            if not groups or not set(group) <= set(groups[-1]):
                groups.append(group)
    return groups


@dataclass
class Blocks:
    """The complete (dataset x method) score matrix a Friedman test runs on, and what it left out."""

    methods: list[str]
    datasets: list[str]
    scores: np.ndarray
    left_out_methods: list[str] = field(default_factory=list)
    left_out_datasets: list[str] = field(default_factory=list)


def complete_blocks(table: Mapping[str, Mapping[str, float | None]], methods: Sequence[str],
                    datasets: Sequence[str]) -> Blocks:
    """Pick methods and datasets so that every method has a score on every dataset.

    ``table[method][dataset]`` is a score or None. Two candidate cuts are tried: keeping the methods
    that cover at least t datasets (for each t), and removing, one at a time, the method or dataset
    with the largest share of missing scores (a dataset first on ties, since the diagram compares
    methods). The cut keeping the most scores wins; more methods break ties.
    """
    def has(m: str, d: str) -> bool:
        v = table.get(m, {}).get(d)
        return v is not None and math.isfinite(v)

    candidates: list[tuple[list[str], list[str]]] = []
    coverage = {m: {d for d in datasets if has(m, d)} for m in methods}
    for threshold in sorted({len(c) for c in coverage.values()}, reverse=True):
        kept = [m for m in methods if len(coverage[m]) >= threshold]
        candidates.append((kept, [d for d in datasets if all(d in coverage[m] for m in kept)]))
    kept_m, kept_d = list(methods), list(datasets)
    while kept_m and kept_d:
        missing_d = {d: sum(not has(m, d) for m in kept_m) / len(kept_m) for d in kept_d}
        missing_m = {m: sum(not has(m, d) for d in kept_d) / len(kept_d) for m in kept_m}
        worst_d = max(kept_d, key=lambda d: missing_d[d])
        worst_m = max(kept_m, key=lambda m: missing_m[m])
        if missing_d[worst_d] == 0 and missing_m[worst_m] == 0:
            break
        if missing_d[worst_d] >= missing_m[worst_m]:
            kept_d.remove(worst_d)
        else:
            kept_m.remove(worst_m)
    candidates.append((kept_m, kept_d))
    scored = [((len(m) * len(d), len(m)), m, d) for m, d in candidates if m and d]
    if not scored:
        return Blocks([], [], np.empty((0, 0)), list(methods), list(datasets))
    _, kept, common = max(scored, key=lambda c: c[0])
    scores = np.array([[table[m][d] for m in kept] for d in common], dtype=np.float64)
    return Blocks(kept, common, scores, [m for m in methods if m not in kept], [d for d in datasets if d not in common])


# -- intervals over splits x seeds -------------------------------------------------------------------


@dataclass
class Interval:
    """A mean with its 95% interval and what the interval covers.

    ``over`` says what the Student-t interval is taken over: ``"splits"`` (the per-split means, when
    there are two or more splits: it then holds the variation of both the split and the training
    seed), ``"seeds"`` (one split: the seed re-runs) or ``""`` (one value: no interval). ``low`` and
    ``high`` are the interval's ends clipped to the metric's range; ``clipped`` says they were (with
    two or three values a t interval easily spans more than the whole range)."""

    mean: float
    half: float
    splits: int
    seeds: int
    over: str
    low: float = math.nan
    high: float = math.nan
    clipped: bool = False

    def describe(self) -> str:
        """What the figure and its interval cover, for tooltips: e.g. 'mean over 5 splits x 3 seeds
        (15 runs); 95% Student-t interval over the 5 per-split means'."""
        runs = f"mean over {self.splits} split{'s' if self.splits != 1 else ''} x {self.seeds} seed" \
               f"{'s' if self.seeds != 1 else ''}"
        if self.over == "splits":
            text = f"{runs}; 95% Student-t interval over the {self.splits} per-split means"
        elif self.over == "seeds":
            text = f"{runs}; 95% Student-t interval over the {self.seeds} seed re-runs"
        else:
            text = f"{runs}; one value, no interval"
        if self.clipped:
            text += (f"; the interval ({self.mean - self.half:.3f} to {self.mean + self.half:.3f}) leaves the "
                     f"metric's range and is shown clipped to it")
        return text


def clip(mean: float, half: float, bounds: tuple[float, float]) -> tuple[float, float, bool]:
    """The interval mean +- half clipped to ``bounds`` (a metric's ``range`` or ``difference_range`` in
    :data:`benchmark.metrics.METRICS`): (low, high, whether it was clipped)."""
    if not (math.isfinite(mean) and math.isfinite(half)):
        return math.nan, math.nan, False
    low, high = mean - half, mean + half
    return max(low, bounds[0]), min(high, bounds[1]), low < bounds[0] or high > bounds[1]


def t_half_width(values: Sequence[float], confidence: float = 0.95) -> float:
    """Half-width of the Student-t interval of the mean of ``values`` (NaN for fewer than 2)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size < 2:
        return math.nan
    return float(stats.t.ppf(0.5 + confidence / 2, arr.size - 1) * arr.std(ddof=1) / math.sqrt(arr.size))


def split_seed_interval(by_split: Mapping[int, Sequence[float]], bounds: tuple[float, float]) -> Interval | None:
    """Mean over splits of the per-split mean over seeds, with its 95% interval.

    Two or more splits: the Student-t interval over the per-split means (the splits are independent
    draws of the data's partition, and each per-split mean already carries its seeds' noise, so this
    interval covers both). One split: the Student-t interval over its seeds. None without values."""
    splits = {k: [float(v) for v in vs if v is not None and math.isfinite(v)] for k, vs in by_split.items()}
    splits = {k: vs for k, vs in splits.items() if vs}
    if not splits:
        return None
    means = [float(np.mean(vs)) for vs in splits.values()]
    seeds = max(len(vs) for vs in splits.values())
    if len(splits) >= 2:
        mean, half, over = float(np.mean(means)), t_half_width(means), "splits"
    else:
        (values,) = splits.values()
        mean, half = float(np.mean(values)), t_half_width(values)
        over = "seeds" if len(values) >= 2 else ""
    low, high, clipped = clip(mean, half, bounds)
    return Interval(mean, half, len(splits), seeds, over, low, high, clipped)


def paired_split_difference(a: Mapping[int, Sequence[float]], b: Mapping[int, Sequence[float]],
                            bounds: tuple[float, float]) -> Interval | None:
    """Difference of two methods' figures over the splits both have (2 or more): the per-split
    differences of seed means, with the Student-t interval over them (the methods share each split,
    so the comparison is paired by split). None when fewer than 2 splits are shared."""
    shared = sorted(k for k in a if k in b and a[k] and b[k])
    if len(shared) < 2:
        return None
    diffs = [float(np.mean(a[k]) - np.mean(b[k])) for k in shared]
    mean, half = float(np.mean(diffs)), t_half_width(diffs)
    low, high, clipped = clip(mean, half, bounds)
    seeds = max(len(a[k]) for k in shared)
    return Interval(mean, half, len(shared), seeds, "splits", low, high, clipped)
