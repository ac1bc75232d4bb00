"""EOS (expansive over-sampling in embedding space) and its comparison rows: the geometry of the
synthetic points on a hand-made 2-D case, the counts, the nearest-enemy search against
scikit-learn, and the feature-space stage of the deep engine."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.neighbors import NearestNeighbors

from benchmark.errors import BenchmarkError
from benchmark.methods import method_registry
from benchmark.methods.base import MethodContext
from benchmark.methods.stages.eos import (
    EmbeddingSpaceSampler,
    ExpansiveOverSampler,
    nearest_enemies,
    target_counts,
)
from benchmark.testing import make_image_split
from benchmark.training.base import TrainingConfig
from benchmark.training.deep import DeepEngine

# Two large classes and a two-point minority between them. The minority point at (4, 1) has the
# enemies (4, 0) and (4, 2) nearest (distance 1), then (3, 0), (5, 0), (3, 2), (5, 2) (distance 1.41).
MAJORITY = [(x, 0.0) for x in range(8)]
MIDDLE = [(x, 2.0) for x in range(8)]
MINORITY = [(4.0, 1.0), (0.5, 5.0)]
POINTS = torch.tensor(MAJORITY + MIDDLE + MINORITY, dtype=torch.float32)
LABELS = torch.tensor([0] * 8 + [1] * 8 + [2] * 2)


def brute_force_enemies(points: np.ndarray, y: np.ndarray, row: int, k: int) -> list[int]:
    enemies = np.flatnonzero(y != y[row])
    dist = np.linalg.norm(points[enemies] - points[row], axis=1)
    return enemies[np.argsort(dist, kind="stable")[:k]].tolist()


def on_segment(p: np.ndarray, a: np.ndarray, b: np.ndarray, tol: float = 1e-5) -> bool:
    d = b - a
    t = float(np.dot(p - a, d) / np.dot(d, d))
    return -tol <= t <= 1 + tol and np.linalg.norm(a + t * d - p) <= tol


def test_eos_points_lie_on_segments_to_one_of_the_k_nearest_enemies_of_a_minority_row():
    k = 2
    X, y = ExpansiveOverSampler(k_neighbors=k, balance=1.0).resample(POINTS, LABELS, seed=0)
    points, labels = POINTS.numpy(), LABELS.numpy()
    assert torch.equal(X[: len(POINTS)], POINTS) and torch.equal(y[: len(LABELS)], LABELS)  # real rows first
    synthetic, syn_y = X[len(POINTS):].numpy(), y[len(POINTS):].numpy()
    assert np.array_equal(np.bincount(y.numpy()), [8, 8, 8])  # the requested (balanced) counts
    assert set(syn_y) == {2}  # only the minority class grows
    segments = [(points[r], points[e]) for r in np.flatnonzero(labels == 2)
                for e in brute_force_enemies(points, labels, r, k)]
    for p in synthetic:
        assert any(on_segment(p, a, b) for a, b in segments), p
    # with k = 2, the row at (4, 1) reaches only (4, 0) and (4, 2): its points stay on the line x = 4
    near = synthetic[np.linalg.norm(synthetic - [4.0, 1.0], axis=1) <= 1.0 + 1e-6]
    assert len(near) and np.allclose(near[:, 0], 4.0)
    # and no point lies on a segment to an enemy outside the k nearest
    far = [(points[r], points[e]) for r in np.flatnonzero(labels == 2) for e in np.flatnonzero(labels != 2)
           if e not in brute_force_enemies(points, labels, r, k)]
    assert not any(on_segment(p, a, b) for p in synthetic for a, b in far)


def test_eos_reaches_the_requested_balance_and_is_seeded():
    y = torch.tensor([0] * 40 + [1] * 15 + [2] * 3 + [3] * 30)
    X = torch.randn(len(y), 5, generator=torch.Generator().manual_seed(1))
    sampler = ExpansiveOverSampler(k_neighbors=4, balance=0.5)
    X_new, y_new = sampler.resample(X, y, seed=7)
    assert np.array_equal(np.bincount(y_new.numpy()), [40, 20, 20, 30])  # ceil(0.5 * 40) for the two smaller
    assert np.array_equal(target_counts([40, 15, 3, 30, 0], 0.5), [40, 20, 20, 30, 0])
    again = sampler.resample(X, y, seed=7)
    assert torch.equal(again[0], X_new) and torch.equal(again[1], y_new)
    assert not torch.equal(sampler.resample(X, y, seed=8)[0], X_new)
    with pytest.raises(BenchmarkError, match="balance"):
        ExpansiveOverSampler(balance=1.5)
    with pytest.raises(BenchmarkError, match="nearest enemy"):
        ExpansiveOverSampler(k_neighbors=0)


def test_nearest_enemies_match_scikit_learn():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 8)).astype(np.float32)
    y = rng.integers(0, 3, size=300)
    rows = np.flatnonzero(y == 1)
    got = nearest_enemies(torch.as_tensor(X), torch.as_tensor(y), torch.as_tensor(rows), k=5).numpy()
    enemies = np.flatnonzero(y != 1)
    _, idx = NearestNeighbors(n_neighbors=5).fit(X[enemies]).kneighbors(X[rows])
    assert np.array_equal(got, enemies[idx])


def test_comparison_rows_reach_the_same_counts_from_training_rows_only():
    y = torch.tensor([0] * 30 + [1] * 6 + [2] * 12)
    X = torch.randn(len(y), 4, generator=torch.Generator().manual_seed(2))
    from imblearn.over_sampling import RandomOverSampler

    sampler = EmbeddingSpaceSampler("ROS", lambda seed, strategy, knn: RandomOverSampler(
        sampling_strategy=strategy, random_state=seed), balance=0.8)
    X_new, y_new = sampler.resample(X, y, seed=0)
    assert np.array_equal(np.bincount(y_new.numpy()), target_counts([30, 6, 12], 0.8))
    rows = {tuple(r) for r in X.numpy().round(6)}
    assert all(tuple(r) in rows for r in X_new.numpy().round(6))  # repeats of training rows
    for name in ("embedding-smote", "embedding-borderline-smote", "embedding-random-oversampling"):
        params = {"k_neighbors": 3, "balance": 1.0, "first_stage_share": 0.5}
        recipe = method_registry.get(name).build(params, MethodContext("image", "deep", 3, (30, 6, 12), (1,)))
        X_res, y_res = recipe.stages[1].feature_resample.resample(X, y, seed=0)
        counts = np.bincount(y_res.numpy())
        assert counts[0] == 30 and (counts <= 30).all() and len(X_res) == len(y_res)
        assert torch.equal(X_res[: len(X)], X) or name == "embedding-borderline-smote"
        if name != "embedding-borderline-smote":  # Borderline-SMOTE grows only classes with rows in danger
            assert np.array_equal(counts, [30, 30, 30])


class RecordingEOS(ExpansiveOverSampler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = []

    def resample(self, features, y, seed):
        out = super().resample(features, y, seed)
        self.calls.append((features.clone(), y.clone(), out[1].clone()))
        return out


def test_eos_row_retrains_the_head_on_training_embeddings_and_times_the_step():
    split = make_image_split()
    recipe = method_registry.get("eos").build({"k_neighbors": 3, "balance": 1.0, "first_stage_share": 0.5},
                                              MethodContext.from_split(split, "deep", 2))
    first, second = recipe.stages
    assert (first.train, second.train, second.reinit_head) == ("all", "head", False)
    recorder = RecordingEOS(k_neighbors=3, balance=1.0)
    second.feature_resample = recorder
    model = DeepEngine().fit(split, recipe, TrainingConfig(epochs=2, batch_size=16, lr=3e-3), seed=5, device="cpu")
    (features, y, y_out), = recorder.calls
    assert np.array_equal(y.numpy(), split.train.y)  # the training rows, never validation or test
    assert np.allclose(features.numpy(), model.embed(split.train.X), atol=1e-5)  # frozen features after stage 1
    assert np.array_equal(np.bincount(y_out.numpy()), [40, 40, 40])
    assert model.timings["feature_resample_seconds"] > 0
    # where the engine also times the whole stage (embedding, resampling and head re-training), it includes the step
    assert model.timings.get("feature_stage_seconds", np.inf) >= model.timings["feature_resample_seconds"]
