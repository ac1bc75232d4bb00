"""What each page shows beyond the tables: the statistical ranking and the per-dataset figures."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmark.metrics import HEADLINE
from benchmark.report import plots
from benchmark.report.aggregation import (
    BASELINE,
    LABELS,
    Aggregate,
    Cell,
    DatasetEntry,
    against_baseline,
    defined_metrics,
    difference_cells,
)
from benchmark.report.cards import DatasetCard
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
    table = {m: {d: agg.entries[d][m].cells[metric].mean for d in agg.datasets if agg.entries[d][m].cells[metric].ok}
             for m in agg.methods}
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


@dataclass
class PartDelta:
    """A combined row against its best part on one dataset: differences of means with 95% intervals."""

    method: str
    parts: list[str]
    best_part: str | None  # the part with the best mean on the tuning objective here; None: no part has one
    cells: dict[str, Cell]
    note: str

    def significant(self, metric: str) -> bool:
        """Whether the interval of the difference excludes zero."""
        c = self.cells.get(metric)
        return bool(c is not None and c.ok and c.half is not None and math.isfinite(c.half) and abs(c.mean) > c.half)


def against_best_part(entries: dict[str, DatasetEntry], methods: list[str], metrics: list[str],
                      parts_of: dict[str, list[str]], objective: str) -> list[PartDelta] | None:
    """Does each combined row beat its best part? Its results minus those of the part with the best mean
    on the tuning objective on this dataset (the same intervals as against the baseline); None when the
    page has no combined row with results."""
    out = []
    for m in methods:
        parts = parts_of.get(m) or []
        if not parts or entries[m].status != OK:
            continue
        scored = [p for p in parts if p in entries and entries[p].status == OK and entries[p].cells[objective].ok]
        absent = [p for p in parts if p not in scored]
        if not scored:
            out.append(PartDelta(m, parts, None, {}, f"no part has a result on {LABELS.get(objective, objective)} "
                                                     "here: run the parts in the same suite to compare"))
            continue
        best = max(scored, key=lambda p: entries[p].cells[objective].mean)
        note = (f"best part by mean {LABELS.get(objective, objective)} (the tuning objective): {best}"
                + (f"; without a result here: {', '.join(absent)}" if absent else ""))
        out.append(PartDelta(m, parts, best, difference_cells(entries[m], entries[best], metrics), note))
    return out or None


def rankings(agg: Aggregate) -> list[Ranking]:
    return [ranking(agg, metric) for metric in HEADLINE]


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
    """Template context of one dataset page: its figures and tables. ``parts_of``: each combined row's
    parts (method cards' ``parts``), for the comparison with its best part."""
    entries = agg.entries[d]
    ok_methods = [m for m in agg.methods if entries[m].status == OK]
    ctx: dict[str, Any] = {"card": card, "entries": entries, "interval_text": agg.interval_text(d)}

    # Leaderboard order on the page: the suite objective's per-dataset mean, best first.
    key = agg.objective
    ctx["methods_order"] = sorted(agg.methods, key=lambda m: (not entries[m].cells[key].ok,
                                                               -(entries[m].cells[key].mean or 0.0), m))

    # Per-class recall heatmap, classes head to tail.
    with_recall = [m for m in ctx["methods_order"] if entries[m].per_class_recall]
    sizes = {len(entries[m].per_class_recall) for m in with_recall}
    ctx["heatmap"] = None
    if with_recall and len(sizes) == 1:
        num_classes = sizes.pop()
        order = card.head_to_tail(num_classes)
        matrix = np.array([[entries[m].per_class_recall[c] for c in order] for m in with_recall], dtype=np.float64)
        train = (card.class_counts or {}).get("train")
        labels = [f"{card.class_label(c)}" + (f"\n({train[c]})" if train and len(train) == num_classes else "")
                  for c in order]
        minority = [c in card.minority_classes for c in order]
        ctx["heatmap"] = plots.recall_heatmap(with_recall, labels, matrix, minority,
                                              "Per-class test recall (mean over seeds)")
        ctx["heatmap_caption"] = (
            "Rows: methods (best first on " + LABELS.get(key, key) + "). Columns: classes from head to tail"
            + (" by training count (in brackets)" if train else "; training counts are unknown, so in class order")
            + ". Minority classes in red with •. Recall per class is the mean over seed re-runs.")

    # Precision-recall curves of the top methods by minority PR-AUC, for the rarest minority classes.
    by_ap = sorted((m for m in ok_methods if entries[m].cells["minority_pr_auc"].ok and entries[m].pr_curves),
                   key=lambda m: -entries[m].cells["minority_pr_auc"].mean)[:TOP_METHODS_PR]
    ctx["pr_plot"] = None
    if by_ap:
        # the baseline's curve is always drawn (dashed), so each curve reads as a gain or loss against it
        drawn = list(by_ap)
        if BASELINE in ok_methods and BASELINE not in drawn and entries[BASELINE].pr_curves:
            drawn.append(BASELINE)
        classes = sorted({c for m in by_ap for c in entries[m].pr_curves}, key=_rarity(card))[:MAX_PR_CLASSES]
        curves = {c: {m: entries[m].pr_curves[c] for m in drawn if c in entries[m].pr_curves} for c in classes}
        labels = {c: card.class_label(int(c)) if c.isdigit() else c for c in classes}
        test_counts = (card.class_counts or {}).get("test") or []
        prevalence = {c: test_counts[int(c)] / sum(test_counts) for c in classes
                      if c.isdigit() and int(c) < len(test_counts) and sum(test_counts)}
        ctx["pr_plot"] = plots.pr_curve_panels(curves, labels, colors,
                                               "Precision-recall, minority classes (test split)",
                                               baseline=BASELINE, prevalence=prevalence)
        seeds = sorted({entries[m].pr_seed for m in drawn if entries[m].pr_seed is not None})
        ctx["pr_caption"] = (
            f"The {len(by_ap)} method(s) with the best mean minority PR-AUC on this dataset"
            + (f", and the baseline ({BASELINE}, dashed)" if BASELINE in drawn else "")
            + f"; curve of seed {', '.join(map(str, seeds))} (the first re-run), one panel per minority class"
            + (f" (the {MAX_PR_CLASSES} rarest shown)" if len({c for m in by_ap for c in entries[m].pr_curves})
               > MAX_PR_CLASSES else "")
            + (". Dotted: the share of the class in the test split, the precision of a classifier without skill"
               if prevalence else "") + ".")

    # Each method against the baseline: differences with Welch intervals, and per minority class.
    compared = defined_metrics(entries, [*HEADLINE, "balanced_accuracy", "few_shot_accuracy"])
    ctx["vs_baseline"] = against_baseline(entries, ctx["methods_order"], compared, list(card.minority_classes))
    ctx["vs_metrics"] = compared
    ctx["baseline"] = BASELINE
    ctx["vs_parts"] = against_best_part(entries, ctx["methods_order"], compared, parts_of or {}, key)

    ctx["samples"] = [{"method": m, "grids": entries[m].samples} for m in ctx["methods_order"] if entries[m].samples]
    ctx["fidelity"] = [{"method": m, **entries[m].fidelity} for m in ctx["methods_order"] if entries[m].fidelity]
    ctx["fidelity_definition"] = FIDELITY_DEFINITION

    # Tuning history and best configurations.
    best_lines, dots, budget = {}, {}, None
    for m in ctx["methods_order"]:
        h = histories.get((d, m))
        if h is None:
            continue
        best_lines[m] = h.best_so_far()
        dots[m] = [(t["number"], t["value"]) for t in h.trials if t["state"] == "COMPLETE"
                   and t["value"] is not None and math.isfinite(t["value"])]
        budget = max(budget or 0, len(h.trials))
    ctx["history"] = (plots.tuning_history_plot(best_lines, dots, colors, key, budget)
                      if any(best_lines.values()) else None)
    params = []
    for m in ctx["methods_order"]:
        pair = pairs.get(m)
        spent = pair.spent if pair is not None and isinstance(pair.spent, dict) else {}
        trials = spent.get("trials")
        params.append({
            "method": m,
            "value": pair.best_value if pair is not None else None,
            "trials": trials or 0,
            "trials_text": (f"{spent.get('complete', 0)} / {spent.get('pruned', 0)} / {spent.get('failed', 0)}"
                            if trials is not None else "–"),
            "failures": ("; ".join(spent.get("failures") or []) or "no failed trials")
            + (f"; {spent['interrupted']} interrupted trial(s) run again, not charged" if spent.get("interrupted") else ""),
            "text": _params_text(entries[m].best_params) if entries[m].status != NOT_APPLICABLE
            else "not applicable: " + (entries[m].reason or ""),
            "fitted": _fitted_text(rows.get(m, [])),
        })
    ctx["params"] = params
    ctx["compute"] = {m: training_compute(pairs.get(m), rows.get(m, [])) for m in agg.methods}
    ctx["compute_definition"] = COMPUTE_DEFINITION

    configs = {}
    for m in agg.methods:
        for r in rows.get(m, []):
            if r.provenance.get("config"):
                engine = r.provenance.get("engine") or "?"
                configs.setdefault(engine, json.dumps(r.provenance["config"], sort_keys=True))
    ctx["configs"] = [{"engine": e, "text": t} for e, t in sorted(configs.items())]
    return ctx


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
    spent = pair.spent if pair is not None and isinstance(pair.spent, dict) else {}
    timed = [r.timings for r in rows if isinstance(r.timings, dict) and r.timings.get("train_samples") is not None]
    tuning = (spent.get("samples"), spent.get("steps"))
    seeds = (sum(int(t["train_samples"]) for t in timed), sum(int(t.get("train_steps") or 0) for t in timed))
    if tuning[0] is None and not timed:
        return {"samples": None, "text": "–", "title": "no training samples recorded (the classical engine has no "
                                                        "epochs or optimiser steps)"}
    samples = (tuning[0] or 0) + seeds[0]
    steps = (tuning[1] or 0) + seeds[1]
    title = (f"tuning: {tuning[0] or 0:,} samples, {tuning[1] or 0:,} steps over {spent.get('trials', 0)} trial(s); "
             f"seed re-runs: {seeds[0]:,} samples, {seeds[1]:,} steps over {len(timed)} re-run(s)")
    return {"samples": samples, "text": f"{_count(samples)} / {_count(steps)}", "title": title}


def _rarity(card: DatasetCard):
    train = (card.class_counts or {}).get("train")

    def key(c: str) -> tuple:
        idx = int(c) if c.isdigit() else -1
        count = train[idx] if train and 0 <= idx < len(train) else math.inf
        return (count, idx)

    return key
