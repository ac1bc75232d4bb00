"""Does a remedy that wins on one kind of data win on another? Each method's rank on tabular, text and
image data, and the rank correlation between modalities, with its interval.

What only a registry across modalities can show. For every (suite, dataset) of a store (several
suites: several bundles read side by side, ``--storage A,B,C``), methods are ranked on the dataset by
their mean ``metric`` over its seed rows (1 = best, ties share the average rank: Demšar's ranks,
:func:`benchmark.report.statistics.rank_rows` on one row), and the rank is scaled to [0, 1] by the
dataset's number of ranked methods (0 best, 1 worst) so that datasets of different fields weigh alike.
A method's rank on a modality is its mean scaled rank over that modality's datasets.

For each pair of modalities: Spearman's rank correlation over the methods ranked on both, and a 95%
percentile bootstrap interval that resamples the datasets of each modality (2,000 resamples with a fixed
seed, so the page is reproducible): the uncertainty that matters is which datasets happened to be in
the suites. Where both modalities have a single dataset there is nothing to resample, and the interval
is Fisher's z interval over the methods instead (the page marks it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from benchmark.datasets import dataset_registry
from benchmark.datasets.scenarios import split_name
from benchmark.report.records import StoredRun
from benchmark.report.statistics import rank_rows
from benchmark.store import OK

MODALITY_ORDER = ("tabular", "text", "image")
RESAMPLES = 2000
BOOTSTRAP_SEED = 0
MIN_METHODS = 3  # a correlation over fewer methods says nothing


@dataclass
class ModalityCorrelation:
    """Spearman's rho between two modalities' method ranks, over ``methods``, with its interval."""

    first: str
    second: str
    methods: list[str]
    rho: float
    low: float
    high: float
    interval: str = "bootstrap"  # or "fisher": both modalities have one dataset each, nothing to resample

    @property
    def defined(self) -> bool:
        return len(self.methods) >= MIN_METHODS and math.isfinite(self.rho)


@dataclass
class ModalityComparison:
    """Every method's scaled rank per modality and the correlations between modalities."""

    metric: str
    datasets: dict[str, list[str]]  # modality -> its "suite/dataset" blocks
    ranks: dict[str, dict[str, float]]  # method -> modality -> mean scaled rank
    correlations: list[ModalityCorrelation] = field(default_factory=list)

    @property
    def modalities(self) -> list[str]:
        return [m for m in MODALITY_ORDER if m in self.datasets] + sorted(set(self.datasets) - set(MODALITY_ORDER))


def dataset_modality(name: str, stored_card: Mapping[str, Any] | None = None) -> str | None:
    """A dataset's modality: from the registry (a scenario variant: its clean dataset's), else the card a
    pair stored for a dataset read from a file; None when unknown."""
    for candidate in (name, split_name(name)[0]):
        if candidate in dataset_registry:
            return dataset_registry.get(candidate).modality
    return (stored_card or {}).get("modality")


def dataset_scores(runs: Sequence[StoredRun], metric: str) -> dict[tuple[str, str], dict[str, float]]:
    """(suite, dataset) -> method -> mean ``metric`` over its successful seed rows (every split seed)."""
    values: dict[tuple[str, str], dict[str, list[float]]] = {}
    for run in runs:
        for r in run.results:
            value = r.metrics.get(metric)
            if r.status == OK and isinstance(value, int | float) and math.isfinite(value):
                values.setdefault((r.suite, r.dataset), {}).setdefault(r.method, []).append(float(value))
    return {key: {m: float(np.mean(v)) for m, v in by_method.items()} for key, by_method in values.items()}


def scaled_ranks(scores: Mapping[str, float], higher_is_better: bool = True) -> dict[str, float]:
    """Each method's rank on one dataset scaled to [0, 1] (0 best); one method alone is not ranked."""
    methods = sorted(scores)
    if len(methods) < 2:
        return {}
    row = np.array([[scores[m] if higher_is_better else -scores[m] for m in methods]])
    ranks = rank_rows(row)[0]
    return {m: float((r - 1) / (len(methods) - 1)) for m, r in zip(methods, ranks, strict=True)}


def _mean_ranks(blocks: Mapping[str, Sequence[dict[str, float]]]) -> dict[str, dict[str, float]]:
    """method -> modality -> mean of its scaled ranks over the modality's blocks (where it was ranked)."""
    sums: dict[str, dict[str, list[float]]] = {}
    for modality, ranked in blocks.items():
        for ranks in ranked:
            for method, r in ranks.items():
                sums.setdefault(method, {}).setdefault(modality, []).append(r)
    return {m: {mod: float(np.mean(v)) for mod, v in by.items()} for m, by in sums.items()}


def _spearman(ranks: Mapping[str, Mapping[str, float]], a: str, b: str) -> tuple[list[str], float]:
    both = sorted(m for m, by in ranks.items() if a in by and b in by)
    if len(both) < MIN_METHODS:
        return both, float("nan")
    x, y = [ranks[m][a] for m in both], [ranks[m][b] for m in both]
    if np.ptp(x) == 0 or np.ptp(y) == 0:  # a constant ranking correlates with nothing
        return both, float("nan")
    return both, float(stats.spearmanr(x, y).statistic)


def compare_modalities(runs: Sequence[StoredRun], metric: str = "minority_f1", higher_is_better: bool = True,
                       modality_of: Mapping[tuple[str, str], str | None] | None = None) -> ModalityComparison:
    """The cross-modality comparison of ``runs`` (one per suite) on ``metric``. ``modality_of`` overrides
    :func:`dataset_modality` for (suite, dataset) blocks (tests; datasets known only from their cards)."""
    blocks: dict[str, list[tuple[str, dict[str, float]]]] = {}
    cards = {(p.suite, p.dataset): p.info.get("dataset_card") for run in runs for p in run.pairs}
    for (suite, dataset), scores in sorted(dataset_scores(runs, metric).items()):
        modality = (modality_of or {}).get((suite, dataset)) or dataset_modality(dataset, cards.get((suite, dataset)))
        ranked = scaled_ranks(scores, higher_is_better)
        if modality and ranked:
            blocks.setdefault(modality, []).append((f"{suite}/{dataset}", ranked))
    ranks = _mean_ranks({mod: [r for _, r in bl] for mod, bl in blocks.items()})
    out = ModalityComparison(metric, {mod: [name for name, _ in bl] for mod, bl in blocks.items()}, ranks)
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    mods = out.modalities
    for i, a in enumerate(mods):
        for b in mods[i + 1:]:
            methods, rho = _spearman(ranks, a, b)
            resampled = len(blocks[a]) > 1 or len(blocks[b]) > 1
            if len(methods) < MIN_METHODS or not math.isfinite(rho):
                low = high = float("nan")
            else:
                low, high = _bootstrap(blocks, a, b, rng) if resampled else fisher_interval(rho, len(methods))
            out.correlations.append(ModalityCorrelation(a, b, methods, rho, low, high,
                                                        "bootstrap" if resampled else "fisher"))
    return out


def fisher_interval(rho: float, n: int) -> tuple[float, float]:
    """95% interval of Spearman's rho over ``n`` methods by Fisher's z with Fieller, Hartley and Pearson's
    (1957) variance 1.06 / (n - 3): the interval when no modality has datasets to resample."""
    if n <= 3 or abs(rho) >= 1:
        return (rho, rho) if abs(rho) >= 1 else (float("nan"), float("nan"))
    half = stats.norm.ppf(0.975) * math.sqrt(1.06 / (n - 3))
    return math.tanh(math.atanh(rho) - half), math.tanh(math.atanh(rho) + half)


def _bootstrap(blocks: Mapping[str, list[tuple[str, dict[str, float]]]], a: str, b: str,
               rng: np.random.Generator) -> tuple[float, float]:
    """95% percentile interval of rho, resampling each modality's datasets with replacement."""
    draws = []
    for _ in range(RESAMPLES):
        picked = {mod: [blocks[mod][k][1] for k in rng.integers(0, len(blocks[mod]), len(blocks[mod]))]
                  for mod in (a, b)}
        _, rho = _spearman(_mean_ranks(picked), a, b)
        if math.isfinite(rho):
            draws.append(rho)
    if len(draws) < RESAMPLES // 2:  # most resamples left too few methods or a constant ranking
        return float("nan"), float("nan")
    return float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))


def write_modalities_page(runs: Sequence[StoredRun], output: str | Path, metric: str = "minority_f1") -> Path | None:
    """Write ``<output>/modalities.html`` for ``runs`` (one per suite) when their datasets span two or more
    modalities; returns its path, else None. Each suite's report sits beside it, at ``<suite>/index.html``."""
    import datetime as dt
    from importlib import resources

    import benchmark
    from benchmark.metrics import METRICS
    from benchmark.report.builder import environment

    comparison = compare_modalities(runs, metric, METRICS[metric].higher_is_better)
    if len(comparison.modalities) < 2:
        return None
    css = resources.files("benchmark.report").joinpath("templates", "report.css").read_text(encoding="utf-8")
    methods = sorted(comparison.ranks, key=lambda m: (np.mean(list(comparison.ranks[m].values())), m))
    html = environment().get_template("modalities.html.j2").render(
        comparison=comparison, methods=methods, metric=METRICS[metric], css=css, resamples=RESAMPLES,
        suites=sorted({run.suite for run in runs if run.suite}), min_methods=MIN_METHODS,
        built={"version": benchmark.__version__, "at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")})
    path = Path(output) / "modalities.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path
