"""Conformance: every registered method, on a tiny split of each modality it claims.

Parametrized over the whole method registry, so a method is tested the moment it is registered.
Each (method, modality) runs on the method's main engine (deep where it runs there) through the
real path of a benchmark run: an Optuna study in a SQLite store (one trial), the best configuration
re-run with a seed on the training split and scored on test, the result stored and read back with
finite metrics. A method that also runs on the other engine is fitted there directly (no store).
A tiny split a method does not apply to must come with a reason; a method that needs a model this
machine lacks is skipped with its own message naming what is missing.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import optuna
import pytest
import torch

from benchmark.datasets.base import DataPart, Split
from benchmark.errors import BenchmarkError, ResourceUnavailableError
from benchmark.methods import MethodContext, method_registry
from benchmark.metrics import HEADLINE, SUMMARY
from benchmark.protocol import Budget
from benchmark.run.pair import rerun_seed
from benchmark.store import OK, Store, optuna_storage
from benchmark.testing import TINY_SPLITS, make_tabular_split
from benchmark.training import get_engine
from benchmark.tuning.job import PairJob
from benchmark.tuning.study import best_trial, trial_params
from benchmark.tuning.trials import run_trials


def make_binary_image_split(n_per_class=(40, 8), size: int = 8, seed: int = 1) -> Split:
    """Two classes of 1x8x8 uint8 images (a bright top or bottom half), for binary-only methods."""
    rng = np.random.default_rng(seed)

    def part(counts):
        xs, ys = [], []
        for c, n in enumerate(counts):
            x = rng.integers(0, 60, size=(n, 1, size, size))
            x[:, :, c * size // 2 : (c + 1) * size // 2, :] += 120
            xs.append(x)
            ys.append(np.full(n, c))
        return DataPart(np.concatenate(xs).clip(0, 255).astype(np.uint8), np.concatenate(ys).astype(np.int64))

    return Split("tiny-image-binary", "image", ["a", "b"], part(n_per_class), part((10, 4)), part((10, 6)))


def make_nominal_split(n_train=(90, 18), seed: int = 2) -> Split:
    """Binary rows of four nominal features (codes 0..2), the minority leaning to code 2."""
    rng = np.random.default_rng(seed)

    def part(counts):
        xs = [rng.choice(3, size=(n, 4), p=[0.5, 0.3, 0.2] if c == 0 else [0.2, 0.3, 0.5]) for c, n in enumerate(counts)]
        ys = [np.full(n, c) for c, n in enumerate(counts)]
        return DataPart(np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64))

    return Split("tiny-nominal", "tabular", ["negative", "positive"], part(n_train), part((30, 6)), part((30, 6)),
                 feature_kinds=["nominal"] * 4)


# The tiny splits of each modality, tried in order: a method runs on the first one it applies to.
VARIANTS = {
    "image": [TINY_SPLITS["image"], make_binary_image_split],
    "text": [TINY_SPLITS["text"]],
    "tabular": [TINY_SPLITS["tabular"], lambda: make_tabular_split(nominal=False), make_nominal_split],
}

def main_engine(engines: tuple[str, ...]) -> str:
    """The engine a suite runs a method on by default: deep where the method runs there."""
    return "deep" if "deep" in engines else engines[0]


CASES = [(name, modality, main_engine(method.engines)) for name, method in method_registry.items()
         for modality in method.modalities]
# Methods that also run on the other engine: checked there by a direct fit (no store), which is cheaper.
SECOND_ENGINE_CASES = [(name, modality, engine) for name, method in method_registry.items()
                       for modality in method.modalities for engine in method.engines
                       if engine != main_engine(method.engines)]


def config_for(method, modality: str, config):
    """The tiny training settings, with what the method requires on this modality (e.g. MiniLM features)."""
    return replace(config, **method.requires.get(modality, {}))


def tiny_splits(method, modality: str, engine: str, config) -> list[Split]:
    """The tiny splits of ``modality`` the method applies to; every one it does not apply to must say why.
    A method missing a model or corpus on this machine is skipped with its own message."""
    splits = [make() for make in VARIANTS[modality]]
    try:
        reasons = {s.dataset: method.not_applicable_reason(s, engine, config) for s in splits}
    except ResourceUnavailableError as exc:
        pytest.skip(str(exc))
    for dataset, reason in reasons.items():
        assert reason is None or (isinstance(reason, str) and len(reason.split()) >= 3), (dataset, reason)
    return [s for s in splits if reasons[s.dataset] is None]


def skip_if_resource_missing(failures: list[str | None]) -> None:
    """A method that needs a model this machine does not have fails with a message that says so; the
    case is skipped with that message rather than counted as a defect of the method."""
    missing = [f for f in failures if f and "unavailable" in f]
    if missing and len(missing) == len(failures):
        pytest.skip(missing[0])


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny models gain nothing from intra-op threads, and on a shared 2-core machine the thread
    hand-offs of every small op cost more than the op (measured: 0.2 s against 0.8-2.5 s a case)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('conformance') / 'results.db'}"
    return Store(url), optuna_storage(url, heartbeat=60)


@pytest.mark.parametrize(("method_name", "modality", "engine"), CASES, ids=["-".join(c) for c in CASES])
def test_method_runs_through_tuning_and_store(method_name, modality, engine, stores, tiny_config):
    method = method_registry.get(method_name)
    store, storage = stores
    tiny_config = config_for(method, modality, tiny_config)
    runnable = tiny_splits(method, modality, engine, tiny_config)
    if not runnable:
        return  # "not applicable" to every tiny split of this modality, each with its reason (checked above)
    split = runnable[0]

    suite = f"conformance-{engine}"
    job = PairJob(suite=suite, dataset=split.dataset, method=method, split=split, engine=engine, config=tiny_config,
                  budget=Budget(trials=1, seeds=1), device="cpu", pruner="none")
    study = run_trials(job, storage)
    best = best_trial(study, job.budget)
    failures = [t.user_attrs.get("failure") for t in study.trials]
    if best is None:
        skip_if_resource_missing(failures)
    assert best is not None, f"{method_name} on {split.dataset} ({engine}): the trial failed: {failures}"

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


@pytest.mark.parametrize(("method_name", "modality", "engine"), SECOND_ENGINE_CASES,
                         ids=["-".join(c) for c in SECOND_ENGINE_CASES])
def test_method_runs_on_its_second_engine(method_name, modality, engine, tiny_config):
    method = method_registry.get(method_name)
    tiny_config = config_for(method, modality, tiny_config)
    runnable = tiny_splits(method, modality, engine, tiny_config)
    if not runnable:
        return
    split = runnable[0]
    recipe = method.build(default_params(method, split, engine, tiny_config),
                          MethodContext.from_split(split, engine, epochs=tiny_config.epochs))
    try:
        model = get_engine(engine).fit(split, recipe, tiny_config, seed=0, device="cpu")
    except BenchmarkError as exc:
        skip_if_resource_missing([str(exc)])
        raise
    proba = model.predict_proba(split.test.X)
    assert proba.shape == (len(split.test), split.num_classes)
    assert np.isfinite(proba).all() and np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)


def default_params(method, split: Split, engine: str, config) -> dict:
    """The first configuration a study would try (Optuna's first random draw for seed 0)."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    ctx = MethodContext.from_split(split, engine, epochs=config.epochs)
    return dict(method.search_space(study.ask(), ctx) or {})
