"""The robustness section (issue 30): clean-versus-scenario changes of each headline metric with intervals
over (dataset, split) blocks, methods ranked by robustness, rendered in the suite's index page."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from benchmark.metrics import mean_interval
from benchmark.report import build_report
from benchmark.report.scenarios import robustness_table, scenario_changes
from benchmark.store import PairRow, ResultRow, Store

BUDGET = {"trials": 1, "seeds": 1, "timeout": None, "objective": "minority_f1", "tune": []}
# method -> clean minority F1, and its loss under label noise per (dataset, split)
CLEAN = {"sturdy": 0.70, "fragile": 0.80}
LOSS = {"sturdy": {("a", 0): 0.01, ("a", 1): 0.03, ("b", 0): 0.02}, "fragile": {("a", 0): 0.2, ("a", 1): 0.3,
                                                                                 ("b", 0): 0.25}}


def rows() -> list[SimpleNamespace]:
    out = []
    for method, clean in CLEAN.items():
        for (dataset, split), loss in LOSS[method].items():
            metrics = {"minority_f1": clean, "minority_recall": clean, "minority_pr_auc": clean,
                       "minority_f1@balanced-prior": clean - 0.1, "minority_f1@training-prior": clean + 0.05}
            for seed in (0, 1):  # two seeds: the block's figure is their mean
                out.append(SimpleNamespace(dataset=dataset, method=method, split_seed=split, seed=seed, status="ok",
                                           metrics={k: v + 0.01 * seed for k, v in metrics.items()}))
                noisy = {"minority_f1": clean - loss + 0.01 * seed, "minority_recall": clean, "minority_pr_auc": clean}
                out.append(SimpleNamespace(dataset=f"{dataset}@label-noise-0.2", method=method, split_seed=split,
                                           seed=seed, status="ok", metrics=noisy))
    out.append(SimpleNamespace(dataset="a@label-noise-0.2", method="sturdy", split_seed=0, seed=5, status="failed",
                               metrics={"minority_f1": 0.0}))  # a failed row counts nowhere
    return out


def test_changes_are_paired_on_dataset_and_split_and_averaged_over_seeds():
    changes = scenario_changes(rows(), "minority_f1")
    assert changes[("fragile", "label-noise-0.2")] == pytest.approx([-0.2, -0.3, -0.25])
    assert changes[("sturdy", "prior-shift: balanced-prior")] == pytest.approx([-0.1] * 3)
    assert changes[("sturdy", "prior-shift: training-prior")] == pytest.approx([0.05] * 3)


def test_the_table_ranks_by_the_mean_change_of_the_objective_with_intervals():
    table = robustness_table(rows(), "minority_f1")
    assert table.scenarios == ["label-noise-0.2", "prior-shift: balanced-prior", "prior-shift: training-prior"]
    assert [r.method for r in table.rows] == ["sturdy", "fragile"] and [r.rank for r in table.rows] == [1, 2]
    fragile = table.rows[1].deltas[("label-noise-0.2", "minority_f1")]
    mean, half = mean_interval([-0.2, -0.3, -0.25])
    assert fragile.blocks == 3 and fragile.mean == pytest.approx(mean)
    assert (fragile.low, fragile.high) == pytest.approx((mean - half, mean + half))
    assert table.rows[0].score == pytest.approx((-0.02 - 0.1 + 0.05) / 3)
    assert table.rows[0].deltas[("label-noise-0.2", "minority_recall")].mean == pytest.approx(-0.005)  # seed offsets
    assert ("prior-shift: balanced-prior", "minority_recall") not in table.rows[0].deltas  # not stored there
    assert robustness_table([r for r in rows() if "@" not in r.dataset and r.status == "ok"
                             and not any("@" in k for k in r.metrics)]) is None


def test_the_index_page_shows_the_section(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    records = []
    for r in rows():
        if r.status != "ok":
            continue
        records.append(ResultRow(suite="stress", dataset=r.dataset, method=r.method, split_seed=r.split_seed, seed=r.seed,
                                 status="ok", params={}, metrics=r.metrics, val_metrics={}, per_class={}, timings={},
                                 artifacts={}, provenance={}))
    pairs = {(r.dataset, r.method, r.split_seed) for r in rows()}
    records += [PairRow(suite="stress", dataset=d, method=m, split_seed=s, status="complete", budget=BUDGET, info={},
                        spent={}) for d, m, s in pairs]
    with store.session() as session:
        session.add_all(records)
        session.commit()
    html = build_report(store, "stress", tmp_path / "reports").index.read_text()
    section = html[html.index('id="robustness"'):]
    section = section[:section.index("</section>")]
    assert section.index('data-method="sturdy"') < section.index('data-method="fragile"')
    assert 'data-scenario="label-noise-0.2" data-metric="minority_f1"' in section and "[-" in section
