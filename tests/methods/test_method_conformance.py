"""Conformance: every registered method through the checks shipped in :mod:`benchmark.testing`.

Parametrized over the whole method registry (``parametrize_with_checks``), so a method is tested the
moment it is registered: its card, its family's hook, where it applies (every refusal from its
``applies_to``), that each tuned parameter reaches its components, the property checks of the hooks
its recipe sets, and a run through its engines on every tiny split of every modality it claims. A
method that needs a model this machine lacks is skipped with its own message. One method of each
family also goes the whole way of a benchmark run: an Optuna study in a SQLite store, the best
configuration re-run with a seed and scored on test, the row stored and read back.
"""

from __future__ import annotations

import math

import pytest
import torch

from benchmark.errors import ResourceUnavailableError
from benchmark.methods import method_registry
from benchmark.metrics import HEADLINE, SUMMARY
from benchmark.protocol import Budget
from benchmark.run.pair import rerun_seed
from benchmark.store import OK, Store, optuna_storage
from benchmark.testing import main_engine, parametrize_with_checks, tiny_config, tiny_splits
from benchmark.testing._context import config_for
from benchmark.tuning.job import PairJob
from benchmark.tuning.study import best_trial, trial_params
from benchmark.tuning.trials import run_trials


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny models gain nothing from intra-op threads, and on a shared 2-core machine the thread
    hand-offs of every small op cost more than the op (measured: 0.2 s against 0.8-2.5 s a case)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@parametrize_with_checks(method_registry.names())
def test_method_conforms(method, check):
    check(method)


def first_of_each_family() -> list[str]:
    chosen: dict[str, str] = {}
    for name, method in method_registry.items():
        chosen.setdefault(method.family, name)
    return sorted(chosen.values())


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('conformance') / 'results.db'}"
    return Store(url), optuna_storage(url, heartbeat=60)


@pytest.mark.parametrize("method_name", first_of_each_family())
def test_a_method_of_each_family_runs_through_tuning_and_store(method_name, stores):
    method = method_registry.get(method_name)
    store, storage = stores
    engine, modality = main_engine(method), method.modalities[0]
    config = config_for(method, modality, tiny_config())
    try:
        split = next(s for s in tiny_splits(modality) if method.not_applicable_reason(s, engine, config) is None)
    except ResourceUnavailableError as exc:
        pytest.skip(str(exc))
    suite = f"conformance-{engine}"
    job = PairJob(suite=suite, dataset=split.dataset, method=method, split=split, engine=engine, config=config,
                  budget=Budget(trials=1, seeds=1), device="cpu", pruner="none")
    study = run_trials(job, storage)
    best = best_trial(study, job.budget)
    assert best is not None, f"{method_name} on {split.dataset}: {[t.user_attrs.get('failure') for t in study.trials]}"
    params = trial_params(best)
    assert store.claim_seed(suite, split.dataset, method_name, 0)
    out = rerun_seed(job, params, seed=0)
    store.finish_seed(suite, split.dataset, method_name, 0, status=OK, reason=None, params=params, provenance={},
                      **out)
    (row,) = [r for r in store.results(suite) if r.dataset == split.dataset and r.method == method_name]
    assert row.status == OK and row.params == params
    for key in SUMMARY:  # the report's columns: defined on every split (shot accuracies may be NaN)
        assert math.isfinite(row.metrics[key]) and 0.0 <= row.metrics[key] <= 1.0, (key, row.metrics[key])
    assert set(row.val_metrics) >= set(HEADLINE)
