"""The metric table (benchmark.metrics.METRICS) is the one home of every metric fact: it covers what
compute_metrics returns, its flags are true of the computation, and no second copy of a fact lives
elsewhere in the package."""

from __future__ import annotations

import ast
import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

import benchmark
from benchmark import metrics as metrics_module
from benchmark.metrics import METRICS, OBJECTIVES, Metric, compute_metrics, metric

PACKAGE = Path(benchmark.__file__).resolve().parent
# Names the copies had before the table (and names a new copy would likely take).
COPY_NAMES = {"LOWER_BETTER", "HIGHER_BETTER", "LABELS", "SHORT", "TEX_LABELS", "DEFINITIONS", "PAGE_EXTRA",
              "SHOWN", "EXPORTED", "SHOTS", "METRIC_RANGE", "DIFFERENCE_RANGE", "METRIC_LABELS"}


def random_case(seed: int, n: int = 400, classes: int = 6):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, size=n)
    logits = rng.normal(size=(n, classes)) + 1.5 * np.eye(classes)[y] * rng.random((n, 1))
    return y, np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


def test_the_table_covers_exactly_what_compute_metrics_returns():
    y, proba = random_case(0)
    scored, _ = compute_metrics(y, proba, [4, 5], train_counts=[500, 200, 60, 30, 10, 5])
    assert list(scored) == list(METRICS)  # every metric computed has an entry, in the table's order
    binary, _ = compute_metrics((y > 3).astype(int), np.stack([proba[:, :4].sum(1), proba[:, 4:].sum(1)], 1), [1])
    assert set(binary) == {m.name for m in METRICS.values() if not m.needs_train_counts}


@pytest.mark.parametrize("seed", range(3))
def test_needs_probabilities_is_true_of_each_metric(seed):
    """A metric that says it needs only the predictions gives the same figure from the one-hot argmax;
    one that says it needs probabilities gives another (else the flag would be wrong)."""
    y, proba = random_case(seed)
    counts = [500, 200, 60, 30, 10, 5]
    from_proba, _ = compute_metrics(y, proba, [4, 5], train_counts=counts)
    from_labels, _ = compute_metrics(y, np.eye(proba.shape[1])[proba.argmax(1)], [4, 5], train_counts=counts)
    for name, m in METRICS.items():
        if m.needs_probabilities:
            assert from_labels[name] != pytest.approx(from_proba[name]), name
        else:
            assert from_labels[name] == pytest.approx(from_proba[name]), name


def test_every_figure_lies_in_its_declared_range():
    for seed in range(5):
        y, proba = random_case(seed)
        scored, _ = compute_metrics(y, proba, [4, 5], train_counts=[500, 200, 60, 30, 10, 5])
        for name, value in scored.items():
            low, high = METRICS[name].range
            assert math.isnan(value) or low <= value <= high, (name, value)


def test_entries_are_checked_when_declared():
    base = METRICS["minority_f1"]
    with pytest.raises(ValueError, match="cannot be a tuning objective"):
        dataclasses.replace(base, higher_is_better=False)  # studies maximise: a lower-is-better objective is wrong
    with pytest.raises(ValueError, match="aggregation 'median' is unknown"):
        dataclasses.replace(base, aggregation="median")
    with pytest.raises(ValueError, match="shown='nowhere' is unknown"):
        dataclasses.replace(base, shown="nowhere")
    with pytest.raises(KeyError, match="brier_score.*known: minority_recall"):
        metric("brier_score")


def test_direction_decides_best_and_order():
    ece, f1 = METRICS["ece"], METRICS["minority_f1"]
    assert ece.best([0.2, None, 0.05, math.nan]) == 0.05 and f1.best([0.2, 0.5]) == 0.5 and f1.best([None]) is None
    assert sorted([0.2, None, 0.05], key=ece.sort_key) == [0.05, 0.2, None]
    assert sorted([0.2, None, 0.5], key=f1.sort_key) == [0.5, 0.2, None]
    assert ece.tooltip.endswith("Lower is better.") and "Guo et al." in ece.tooltip
    assert all(METRICS[o].higher_is_better for o in OBJECTIVES) and "ece" not in OBJECTIVES


def test_every_entry_has_a_definition_and_every_shown_one_a_citation():
    for m in METRICS.values():
        assert m.label and m.short and m.tex and m.definition.endswith("."), m.name
        if m.shown != "export":  # a column on a page carries its source (HELM's rule)
            assert m.citation, m.name


def _copies(path: Path) -> list[str]:
    """Module-level names of the old copies, and literals that list two or more metric names."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, ast.AnnAssign) else []
        found += [f"{path.name}:{node.lineno} assigns {t.id}" for t in targets
                  if isinstance(t, ast.Name) and t.id in COPY_NAMES]
        items = node.keys if isinstance(node, ast.Dict) else node.elts if isinstance(
            node, ast.Tuple | ast.List | ast.Set) else []
        named = [i.value for i in items if isinstance(i, ast.Constant) and i.value in METRICS]
        if len(named) >= 2:
            found.append(f"{path.name}:{node.lineno} lists metrics {named}")
    return found


def test_no_copy_of_a_metric_fact_outside_the_table():
    """LOWER_BETTER, LABELS and the like lived in three modules; a fact about several metrics written
    anywhere but benchmark/metrics.py is a second home that drifts from the table."""
    home = Path(metrics_module.__file__).resolve()
    copies = [c for p in sorted(PACKAGE.rglob("*.py")) if p.resolve() != home for c in _copies(p)]
    assert not copies, "declare these in benchmark.metrics.METRICS and read them from there: " + "; ".join(copies)


def test_the_copy_check_finds_a_copy(tmp_path):
    copy = tmp_path / "copy.py"
    copy.write_text('LOWER_BETTER = ("ece",)\nNAMES = {"minority_f1": "F1", "macro_f1": "Macro"}\n')
    assert len(_copies(copy)) == 2


def test_a_new_metric_is_one_entry(monkeypatch):
    """Weighted F1 added as one record is computed, with no other change."""
    weighted = Metric("weighted_f1", "Weighted F1", "w. F1", "W.\\ F1", "Support-weighted mean of per-class F1.",
                      lambda s: float(np.average(s.f1, weights=s.confusion.sum(axis=1))), shown="export")
    monkeypatch.setitem(METRICS, "weighted_f1", weighted)
    from sklearn.metrics import f1_score

    y, proba = random_case(1)
    scored, _ = compute_metrics(y, proba, [4, 5])
    assert scored["weighted_f1"] == pytest.approx(f1_score(y, proba.argmax(1), average="weighted"))
