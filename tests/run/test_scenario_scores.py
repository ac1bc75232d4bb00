"""The prior-shift scenario (issue 30) stores its scores as extra metrics of a clean seed row, equal to the
seed's test predictions re-weighted directly; rows of suites without it, and of scenario variants, hold none."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score

from benchmark.methods import method_registry
from benchmark.protocol import Budget
from benchmark.run.pair import score_seed
from benchmark.testing import make_tabular_split
from benchmark.training.base import TrainingConfig
from benchmark.tuning.job import PairJob


class FixedModel:
    """A trained model stand-in whose test probabilities are known."""

    timings: dict = {}

    def __init__(self, test_proba: np.ndarray):
        self.test_proba = test_proba

    def predict_proba(self, X):
        if len(X) == len(self.test_proba):
            return self.test_proba
        return np.full((len(X), 2), 0.5)


def job(split, prior_shift: bool) -> PairJob:
    return PairJob(suite="stress", dataset=split.dataset, method=method_registry.get("baseline"), split=split,
                   engine="deep", config=TrainingConfig(epochs=1), budget=Budget(trials=1, seeds=1),
                   prior_shift=prior_shift)


@pytest.mark.parametrize("seed", [0, 1])
def test_prior_shift_rows_equal_the_reweighted_test_predictions(seed):
    split = make_tabular_split(seed=seed)
    y = split.test.y
    rng = np.random.default_rng(seed)
    p1 = np.clip(0.25 + 0.5 * (y == 1) + rng.normal(0, 0.25, len(y)), 0.01, 0.99)
    proba = np.stack([1 - p1, p1], axis=1)
    scored = score_seed(job(split, True), FixedModel(proba), 0.0)["metrics"]
    train = np.array(split.class_counts("train"), dtype=float)
    for prior, target in (("balanced-prior", np.array([0.5, 0.5])), ("training-prior", train / train.sum())):
        w = (target / (np.bincount(y, minlength=2) / len(y)))[y]
        assert scored[f"minority_f1@{prior}"] == pytest.approx(f1_score(y, proba.argmax(1), sample_weight=w))
        assert scored[f"minority_pr_auc@{prior}"] == pytest.approx(average_precision_score(y, p1, sample_weight=w))
        assert scored[f"minority_recall@{prior}"] == pytest.approx(scored["minority_recall"])
    assert not any("@" in k for k in score_seed(job(split, False), FixedModel(proba), 0.0)["metrics"])


def test_stored_prior_shift_scores_equal_a_reweighting_of_the_stored_predictions(tmp_path, data_root):
    """Acceptance check 3 of issue 30: each clean seed row's prior-shift figures equal a direct re-weighted
    computation (scikit-learn, sample weights pi'_c / p_c) from the test predictions the store kept."""
    from benchmark.run import RunOptions, run_suite
    from benchmark.store import Store
    from benchmark.store.predictions import load_predictions
    from benchmark.suites import suite_registry

    url = f"sqlite:///{tmp_path / 'stress.db'}"
    options = RunOptions(suite=suite_registry.get("stress"), datasets=["keel-yeast3"], methods=["baseline"],
                         trials=1, seeds=1, storage=url, data_root=str(data_root), device="cpu")
    assert run_suite(options).statuses == {"complete": 2}
    store = Store(url)
    predictions = load_predictions(store, "stress")
    rows = [r for r in store.results("stress") if r.dataset == "keel-yeast3"]
    assert len(rows) == 2 and len(predictions) == 2
    for row in rows:
        (stored,) = [p for (_, d, m, split, seed), p in predictions.items()
                     if (d, m, split, seed) == (row.dataset, row.method, row.provenance["split_seed"], row.seed)]
        y, proba = stored.y_true.astype(int), stored.proba.astype(np.float64)
        counts = np.bincount(y, minlength=proba.shape[1]) / len(y)
        train = np.asarray(stored.train_counts, dtype=float)
        for prior, target in (("balanced-prior", np.full(len(counts), 1 / len(counts))),
                              ("training-prior", train / train.sum())):
            w = (target / counts)[y]
            assert row.metrics[f"minority_f1@{prior}"] == pytest.approx(f1_score(y, proba.argmax(1), sample_weight=w))
            assert row.metrics[f"minority_pr_auc@{prior}"] == pytest.approx(
                average_precision_score(y == 1, proba[:, 1], sample_weight=w))
