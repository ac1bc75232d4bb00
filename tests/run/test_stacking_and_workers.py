"""Acceptance: neither stacking nor the number of workers changes a stored score.

One small suite (keel-yeast3 and digits-lt, three rows, 5 trials and 2 seeds, 2-3 epochs) runs unstacked
with 1 worker, stacked (the CPU default) with 1 worker, and stacked with 2 workers. Every stored figure
must be equal, exactly, not within a tolerance: on a CPU each stacked member is bit for bit the fit it
would be alone (benchmark.training.stacked_mlp), and every trial runs on the suite's fixed thread count
whatever the number of workers (benchmark.training.base.pin_threads). digits-lt (a CNN) is not stacked by
the CPU default, which stacks only where that holds; the vmap path behind an explicit --stack-trials
draws other random numbers than a single fit, so it is not part of this comparison.
"""

from __future__ import annotations

import optuna
import pytest

from benchmark.protocol import Budget
from benchmark.run import RunOptions
from benchmark.run.runner import run_suite
from benchmark.store import Store
from benchmark.store.studies import optuna_storage
from benchmark.suites.base import Suite
from benchmark.training.base import TrainingConfig

pytestmark = pytest.mark.slow  # three runs of 6 pairs, one with a second worker process: about 2 minutes

SUITE = Suite(
    name="stacking-acceptance",
    description="keel-yeast3 and digits-lt, three rows, for the stacking and workers acceptance test",
    datasets=("keel-yeast3", "digits-lt"),
    methods=("baseline", "focal-loss", "class-balanced-sampling"),
    # 5 trials with tuning width 4: with 2 workers the slots interleave, and a slot whose history holds a
    # member of a worker's own stack must wait for the next stack (a deadlock before issue 26's fix)
    budget=Budget(trials=5, seeds=2),
    training={"tabular": TrainingConfig(epochs=3, batch_size=64, lr=3e-3),
              "image": TrainingConfig(epochs=2, batch_size=64, lr=3e-3)},
    tune=("lr", "weight_decay"),
)


def stored_scores(url: str) -> dict:
    """Every figure a user sees, by pair: status, best parameters and value, each tuning trial's value and
    parameters, and each seed row's test and validation metrics, per-class figures and PR curves."""
    store, storage = Store(url), optuna_storage(url, 10)
    out = {}
    for pair in store.pairs(SUITE.name):
        key = (pair.dataset, pair.method, pair.split_seed)
        trials = optuna.load_study(study_name=pair.study_name, storage=storage).trials
        out[key] = {"status": pair.status, "best_params": pair.best_params, "best_value": pair.best_value,
                    "trials": [(t.number, t.state.name, t.value, t.params) for t in trials],
                    "seeds": [(r.seed, r.status, r.metrics, r.val_metrics, r.per_class, r.artifacts.get("pr_curves"))
                              for r in store.seed_rows(SUITE.name, pair.dataset, pair.method,
                                                       split_seed=pair.split_seed)]}
    return out


def test_scores_do_not_depend_on_stacking_or_the_number_of_workers(tmp_path, data_root):
    runs = {}
    for name, stack, workers in (("plain", 1, 1), ("stacked", None, 1), ("stacked, 2 workers", None, 2)):
        url = f"sqlite:///{tmp_path / name.replace(' ', '').replace(',', '-')}.db"
        summary = run_suite(RunOptions(suite=SUITE, storage=url, device="cpu", stack_trials=stack, workers=workers,
                                       data_root=str(data_root)))
        assert summary.statuses == {"complete": 6}, (name, summary.statuses)
        runs[name] = stored_scores(url)
        stacked = {r.timings.get("stacked_trials") for r in Store(url).seed_rows(SUITE.name, "keel-yeast3", "baseline")}
        assert stacked == ({None} if stack == 1 else {2}), (name, stacked)  # the two seed re-runs as one model
    assert len(runs["plain"]) == 6
    for name in ("stacked", "stacked, 2 workers"):
        for key, figures in runs["plain"].items():
            assert runs[name][key] == figures, f"{name}: {key} differs"
