"""The template context of each page: the suite page's leaderboard, rankings and dataset list, and each
dataset page's sections (leaderboard, per-class recall, PR curves, comparisons, generated samples,
tuning); :func:`page_file` names every dataset page."""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmark.metrics import COMPARED, DATASET_COLUMNS, HEADLINE, METRICS, SUITE_COLUMNS
from benchmark.report import plots
from benchmark.report.aggregation import Aggregate, DatasetEntry, defined_metrics
from benchmark.report.cards import DatasetCard
from benchmark.report.comparisons import BASELINE, against_baseline, against_best_part
from benchmark.report.history import TuningHistory
from benchmark.report.records import StoredPair, StoredResult
from benchmark.report.statistics import (
    ALPHA,
    cliques,
    complete_blocks,
    friedman,
    nemenyi_critical_difference,
    rank_rows,
)
from benchmark.store import NOT_APPLICABLE, OK
from benchmark.store.status import reason_rule
from benchmark.tuning.budget import RETRIES_PER_SLOT, Spent

TOP_METHODS_PR = 3  # precision-recall curves of the best methods by minority PR-AUC
MAX_PR_CLASSES = 6  # the rarest minority classes get a panel


@dataclass
class Ranking:
    metric: str
    summary: str
    svg: str | None = None
    methods: list[str] | None = None
    average_ranks: list[float] | None = None
    critical_difference: float | None = None
    p_value: float | None = None


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _stat(value: float) -> str:
    return "∞ (identical ranks on every dataset)" if math.isinf(value) else f"{value:.2f}"


def ranking(agg: Aggregate, metric: str) -> Ranking:
    """Friedman test and Nemenyi critical-difference diagram for one metric over the suite."""
    sign = 1.0 if METRICS[metric].higher_is_better else -1.0  # ranks read the metric's direction
    table = {m: {d: sign * agg.entries[d][m].cells[metric].mean for d in agg.datasets
                 if agg.entries[d][m].cells[metric].ok} for m in agg.methods}
    blocks = complete_blocks(table, agg.methods, agg.datasets)
    n, k = len(blocks.datasets), len(blocks.methods)
    left_out = []
    if blocks.left_out_methods:
        left_out.append("left out for lack of results on every compared dataset: " + ", ".join(blocks.left_out_methods))
    if blocks.left_out_datasets:
        left_out.append("datasets left out (a compared method has no result there): "
                        + ", ".join(blocks.left_out_datasets))
    if n < 2 or k < 3:
        return Ranking(metric, f"The Friedman test needs at least 2 datasets and 3 methods with results on all of them; "
                               f"this suite has {n} dataset(s) x {k} method(s) with complete results. "
                       + " ".join(s.capitalize() + "." for s in left_out))
    result = friedman(blocks.scores)
    ranks = rank_rows(blocks.scores).mean(axis=0).tolist()
    cd = nemenyi_critical_difference(k, n, ALPHA)
    groups = cliques(ranks, cd)
    verdict = ("the average ranks differ significantly" if result.significant()
               else "the test does not reject that all methods are equivalent, so the post-hoc groups are shown "
                    "for reference only")
    summary = (f"Friedman over {n} datasets and {k} methods: χ²({k - 1}) = {result.chi2:.2f}, {_p(result.p_chi2)}; "
               f"Iman-Davenport F({k - 1}, {(k - 1) * (n - 1)}) = {_stat(result.f)}, {_p(result.p_f)}: {verdict} "
               f"(α = {ALPHA}). Nemenyi critical difference CD = {cd:.2f}.")
    if n < 10:
        summary += f" With {n} datasets the chi-square approximation is rough; read the test as indicative."
    if left_out:
        summary += " " + " ".join(s.capitalize() + "." for s in left_out)
    svg = plots.cd_diagram(blocks.methods, ranks, cd, groups)
    return Ranking(metric, summary, svg, blocks.methods, ranks, cd, result.p_f)


def rankings(agg: Aggregate) -> list[Ranking]:
    return [ranking(agg, metric) for metric in HEADLINE]


# -- page file names ----------------------------------------------------------------------------------
SLUG_LENGTH = 80  # characters of a name kept readable in its page's file name


def page_file(name: str) -> str:
    """The file name of ``name``'s page (``datasets/<this>``), the one rule every link and writer uses.

    A name made only of ``A-Za-z0-9._-`` (and at most ``SLUG_LENGTH`` long) is its own file name, so
    existing pages keep their URLs. Any other name gets a readable slug of it, bounded in length, plus
    the first 10 hex digits of the SHA-256 of the exact name: two names never share a page because
    their slugs agree ('データ✓' and 'ключ' both slug to nothing), and no name is too long for a file
    system (255 bytes a file name)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")[:SLUG_LENGTH].rstrip("-.")
    if slug and slug == name:
        return f"{name}.html"
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:10]
    return f"{slug or 'dataset'}-{digest}.html"


# -- the index page -----------------------------------------------------------------------------------
RANK_DEFINITION = ("Mean over datasets of the method's rank among the methods with a result on that dataset "
                   "(1 = best; ties share the average rank).")


def index_page(agg: Aggregate, cards: dict[str, DatasetCard], budgets: list[dict[str, Any]]) -> dict[str, Any]:
    """Template context of the suite page's tables: the leaderboard's best cells, the rankings and the
    dataset list (each linked to its page)."""
    best = {m: METRICS[m].best(r.cells[m].mean for r in agg.rows if r.cells[m].ok) for m in SUITE_COLUMNS}
    best_rank = {m: min((r.ranks[m] for r in agg.rows if r.ranks[m] is not None), default=None) for m in HEADLINE}
    dataset_rows = [{"name": d, "href": f"datasets/{page_file(d)}", "card": cards[d],
                     "winners": [r.method for r in agg.rows if d in r.datasets_won],
                     "covered": sum(1 for e in agg.entries[d].values() if e.status == OK)} for d in agg.datasets]
    nowhere = {r.method: agg.entries[agg.datasets[0]][r.method].reason for r in agg.rows if agg.datasets and all(
        agg.entries[d][r.method].status == NOT_APPLICABLE for d in agg.datasets)}
    return {"agg": agg, "shown": SUITE_COLUMNS, "best": best, "best_rank": best_rank, "rankings": rankings(agg),
            "rows": [r for r in agg.rows if r.method not in nowhere],
            "not_applicable": not_applicable_lines(nowhere, agg.datasets[0] if agg.datasets else None,
                                                   rule=len(agg.datasets) > 1),
            "dataset_rows": dataset_rows, "rank_definition": RANK_DEFINITION,
            "budget_text": ", ".join(f"{b.get('trials')} trials, {b.get('seeds')} seeds" for b in budgets)}


def not_applicable_lines(reasons: dict[str, str | None], dataset: str | None = None, *,
                         rule: bool = False) -> list[dict[str, Any]]:
    """Methods that do not apply (to one dataset, or to every dataset of a suite), one line per reason with
    its methods, largest group first: ``{"reason": ..., "methods": [...]}``. A method's name at the head of
    its reason is dropped ('affine supports image data, not tabular'), so the methods one rule refuses share
    a line; with ``rule`` the reason is cut to its rule (:func:`benchmark.store.status.reason_rule`: the
    details after ': ' or '; ' vary by dataset). The pages list these lines instead of a row of empty cells
    per method (46 rows of a tabular suite's pages)."""
    groups: dict[str, list[str]] = {}
    for method, reason in sorted(reasons.items()):
        text = reason or "no reason recorded"
        text = reason_rule(text, method, dataset).replace("<dataset>", "a dataset") if rule else text.replace(
            method, "<method>")
        text = text.removeprefix("<method> ").replace("<method>", "this method")
        groups.setdefault(text, []).append(method)
    return [{"reason": text, "methods": methods}
            for text, methods in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))]


# -- the dataset pages --------------------------------------------------------------------------------
def _params_text(params: dict[str, Any] | None) -> str:
    if not params:
        return "(none: the method has no hyper-parameters)" if params is not None else "–"
    return ", ".join(f"{key}={_value_text(value)}" for key, value in sorted(params.items()))


def _value_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(map(_value_text, value)) + "]"
    return str(value)


def _fitted_text(rows: list[StoredResult]) -> str | None:
    """What a post-hoc step chose on validation in each seed re-run (tau-normalisation's tau, threshold
    moving's offsets), from the rows' ``fitted`` artifact."""
    parts = []
    for r in sorted((r for r in rows if r.status == OK), key=lambda r: r.seed if r.seed is not None else -1):
        fitted = r.artifacts.get("fitted") if isinstance(r.artifacts, dict) else None
        if isinstance(fitted, dict) and fitted:
            parts.append(f"seed {r.seed}: {_params_text(fitted)}")
    return "; ".join(parts) or None


def dataset_page(d: str, agg: Aggregate, card: DatasetCard, pairs: dict[str, StoredPair],
                 rows: dict[str, list[StoredResult]], histories: dict[tuple[str, str], TuningHistory],
                 colors: dict[str, str], parts_of: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """Template context of one dataset page: its figures and tables, one section each. ``parts_of``:
    each combined row's parts (method cards' ``parts``), for the comparison with its best part."""
    entries = agg.entries[d]
    goal = METRICS[agg.objective]
    # Leaderboard order on the page: the suite objective's per-dataset mean, best first.
    # Methods that do not apply here get one line per reason under the leaderboard instead of a row of each
    # table (leaderboard, tuning, best configurations).
    refused = {m: entries[m].reason for m in agg.methods if entries[m].status == NOT_APPLICABLE}
    order = sorted((m for m in agg.methods if m not in refused),
                   key=lambda m: (goal.sort_key(entries[m].cells[goal.name].mean), m))
    ctx: dict[str, Any] = {"card": card, "entries": entries, "interval_text": agg.interval_text(d),
                           "methods_order": order, "file": page_file(d),
                           "not_applicable": not_applicable_lines(refused, d)}
    ctx.update(_leaderboard_columns(entries))
    ctx.update(_heatmap(entries, order, card, goal.label))
    ctx.update(_pr_panels(entries, [m for m in order if entries[m].status == OK], card, colors))
    ctx.update(_comparisons(entries, order, card, parts_of or {}, goal.name))
    ctx.update(_generated(entries, order))
    ctx.update(_tuning(d, entries, order, pairs, histories, colors, goal.name))
    ctx["compute"] = {m: training_compute(pairs.get(m), rows.get(m, [])) for m in agg.methods}
    ctx["compute_definition"] = COMPUTE_DEFINITION
    for p in ctx["params"]:
        p["fitted"] = _fitted_text(rows.get(p["method"], []))
    configs = {}
    for m in agg.methods:
        for r in rows.get(m, []):
            if r.provenance.get("config"):
                configs.setdefault(r.provenance.get("engine") or "?", json.dumps(r.provenance["config"], sort_keys=True))
    ctx["configs"] = [{"engine": e, "text": t} for e, t in sorted(configs.items())]
    return ctx


def _leaderboard_columns(entries: dict[str, DatasetEntry]) -> dict[str, Any]:
    """The suite's columns, then the dataset-page metrics some method has a figure for, with each
    column's best figure in the metric's direction."""
    metrics = list(SUITE_COLUMNS) + defined_metrics(entries, DATASET_COLUMNS)
    best = {m: METRICS[m].best(e.cells[m].mean for e in entries.values() if e.cells[m].ok) for m in metrics}
    return {"metrics": metrics, "best": best}


def _heatmap(entries: dict[str, DatasetEntry], order: list[str], card: DatasetCard, key_label: str) -> dict[str, Any]:
    """Per-class recall heatmap, classes head to tail."""
    with_recall = [m for m in order if entries[m].per_class_recall]
    sizes = {len(entries[m].per_class_recall) for m in with_recall}
    if not with_recall or len(sizes) != 1:
        return {"heatmap": None}
    num_classes = sizes.pop()
    classes = card.head_to_tail(num_classes)
    matrix = np.array([[entries[m].per_class_recall[c] for c in classes] for m in with_recall], dtype=np.float64)
    train = (card.class_counts or {}).get("train")
    labels = [f"{card.class_label(c)}" + (f"\n({train[c]})" if train and len(train) == num_classes else "")
              for c in classes]
    minority = [c in card.minority_classes for c in classes]
    return {"heatmap": plots.recall_heatmap(with_recall, labels, matrix, minority,
                                            "Per-class test recall (mean over seeds)"),
            "heatmap_caption": (
                "Rows: methods (best first on " + key_label + "). Columns: classes from head to tail"
                + (" by training count (in brackets)" if train else "; training counts are unknown, so in class order")
                + ". Minority classes in red with •. Recall per class is the mean over seed re-runs.")}


def _pr_panels(entries: dict[str, DatasetEntry], ok_methods: list[str], card: DatasetCard,
               colors: dict[str, str]) -> dict[str, Any]:
    """Precision-recall curves of the top methods by minority PR-AUC, for the rarest minority classes."""
    pr_auc = METRICS["minority_pr_auc"]
    by_ap = sorted((m for m in ok_methods if entries[m].cells[pr_auc.name].ok and entries[m].pr_curves),
                   key=lambda m: pr_auc.sort_key(entries[m].cells[pr_auc.name].mean))[:TOP_METHODS_PR]
    if not by_ap:
        return {"pr_plot": None}
    # the baseline's curve is always drawn (dashed), so each curve reads as a gain or loss against it
    drawn = list(by_ap)
    if BASELINE in ok_methods and BASELINE not in drawn and entries[BASELINE].pr_curves:
        drawn.append(BASELINE)
    all_classes = {c for m in by_ap for c in entries[m].pr_curves}
    classes = sorted(all_classes, key=_rarity(card))[:MAX_PR_CLASSES]
    curves = {c: {m: entries[m].pr_curves[c] for m in drawn if c in entries[m].pr_curves} for c in classes}
    labels = {c: card.class_label(int(c)) if c.isdigit() else c for c in classes}
    test_counts = (card.class_counts or {}).get("test") or []
    prevalence = {c: test_counts[int(c)] / sum(test_counts) for c in classes
                  if c.isdigit() and int(c) < len(test_counts) and sum(test_counts)}
    seeds = sorted({entries[m].pr_seed for m in drawn if entries[m].pr_seed is not None})
    caption = (f"The {len(by_ap)} method(s) with the best mean minority PR-AUC on this dataset"
               + (f", and the baseline ({BASELINE}, dashed)" if BASELINE in drawn else "")
               + f"; curve of seed {', '.join(map(str, seeds))} (the first re-run), one panel per minority class"
               + (f" (the {MAX_PR_CLASSES} rarest shown)" if len(all_classes) > MAX_PR_CLASSES else "")
               + (". Dotted: the share of the class in the test split, the precision of a classifier without skill"
                  if prevalence else "") + ".")
    return {"pr_plot": plots.pr_curve_panels(curves, labels, colors, "Precision-recall, minority classes (test split)",
                                             baseline=BASELINE, prevalence=prevalence),
            "pr_caption": caption}


def _comparisons(entries: dict[str, DatasetEntry], order: list[str], card: DatasetCard,
                 parts_of: dict[str, list[str]], objective: str) -> dict[str, Any]:
    """Each method against the baseline (differences with their intervals, and per minority class), and
    each combined row against its best part."""
    compared = defined_metrics(entries, COMPARED)
    return {"vs_baseline": against_baseline(entries, order, compared, list(card.minority_classes)),
            "vs_metrics": compared, "baseline": BASELINE,
            "vs_parts": against_best_part(entries, order, compared, parts_of, objective)}


def _generated(entries: dict[str, DatasetEntry], order: list[str]) -> dict[str, Any]:
    """Generated-sample grids and fidelity figures of the generative rows."""
    return {"samples": [{"method": m, "grids": entries[m].samples} for m in order if entries[m].samples],
            "fidelity": [{"method": m, **entries[m].fidelity} for m in order if entries[m].fidelity],
            "fidelity_definition": FIDELITY_DEFINITION}


def _tuning(d: str, entries: dict[str, DatasetEntry], order: list[str], pairs: dict[str, StoredPair],
            histories: dict[tuple[str, str], TuningHistory], colors: dict[str, str], objective: str) -> dict[str, Any]:
    """Tuning history plot and each method's best configuration with its trial counts."""
    best_lines, dots, budget = {}, {}, None
    for m in order:
        h = histories.get((d, m))
        if h is None:
            continue
        best_lines[m] = h.best_so_far()
        dots[m] = [(t["number"], t["value"]) for t in h.trials if t["state"] == "COMPLETE"
                   and t["value"] is not None and math.isfinite(t["value"])]
        budget = max(budget or 0, len(h.trials))
    history = (plots.tuning_history_plot(best_lines, dots, colors, objective, budget)
               if any(best_lines.values()) else None)
    params = []
    for m in order:
        pair = pairs.get(m)
        spent = Spent.from_record(pair.spent if pair is not None else None)
        params.append({
            "method": m,
            "value": pair.best_value if pair is not None else None,
            "trials": spent.trials,
            "trials_text": f"{spent.complete} / {spent.pruned} / {spent.failed}" if spent.trials else "–",
            "failures": ("; ".join(spent.failures) or "no failed trials")
            + (f"; {spent.interrupted} interrupted trial(s) run again, not charged" if spent.interrupted else "")
            + (f"; {spent.worker_deaths} trial(s) whose worker died while the run went on (a slot's first "
               f"{RETRIES_PER_SLOT} run again; later ones are failures above)" if spent.worker_deaths else ""),
            "text": _params_text(entries[m].best_params) if entries[m].status != NOT_APPLICABLE
            else "not applicable: " + (entries[m].reason or ""),
        })
    return {"history": history, "params": params}


FIDELITY_DEFINITION = (
    "Per class that received generated samples (first seed re-run): Frechet distance (FD) of Gaussians fitted to "
    "the real training and the generated samples' features (lower is closer); precision and recall of Kynkaanniemi "
    "et al. 2019 (k = 3 nearest-neighbour manifolds: the share of generated samples inside the real manifold, and "
    "of real samples inside the generated one); memorised: the share of generated samples nearer to a training "
    "sample than the 5th percentile of the real samples' own nearest-neighbour distances (copies score 1).")


COMPUTE_DEFINITION = ("Training samples / optimiser steps of the row: every tuning trial within the budget plus "
                      "every seed re-run. An epoch is the original training split's size in samples for every "
                      "method (samplers and resampled sets are drawn from until that count), so rows of one "
                      "dataset differ only by pruned trials. The classical engine has no epochs: none shown.")


def _count(n: int) -> str:
    for size, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= size:
            return f"{n / size:.3g}{unit}"
    return str(n)


def training_compute(pair: StoredPair | None, rows: list[StoredResult]) -> dict[str, Any]:
    """A row's training samples and optimiser steps (tuning trials + seed re-runs), shown beside its cost."""
    spent = Spent.from_record(pair.spent if pair is not None else None)
    timed = [r.timings for r in rows if isinstance(r.timings, dict) and r.timings.get("train_samples") is not None]
    tuning = (spent.samples, spent.steps)
    seeds = (sum(int(t["train_samples"]) for t in timed), sum(int(t.get("train_steps") or 0) for t in timed))
    if tuning[0] is None and not timed:
        return {"samples": None, "text": "–", "title": "no training samples recorded (the classical engine has no "
                                                        "epochs or optimiser steps)"}
    samples = (tuning[0] or 0) + seeds[0]
    steps = (tuning[1] or 0) + seeds[1]
    title = (f"tuning: {tuning[0] or 0:,} samples, {tuning[1] or 0:,} steps over {spent.trials} trial(s); "
             f"seed re-runs: {seeds[0]:,} samples, {seeds[1]:,} steps over {len(timed)} re-run(s)")
    return {"samples": samples, "text": f"{_count(samples)} / {_count(steps)}", "title": title}


def _rarity(card: DatasetCard):
    train = (card.class_counts or {}).get("train")

    def key(c: str) -> tuple:
        idx = int(c) if c.isdigit() else -1
        count = train[idx] if train and 0 <= idx < len(train) else math.inf
        return (count, idx)

    return key
