"""EOS (expansive over-sampling in embedding space) and its comparison rows: the paper's bases (rows
with an enemy among their k nearest neighbours) and segments on hand-made 2-D cases, the counts, the
neighbour search against scikit-learn, and the feature-space stage of the deep engine."""

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
    nearest_neighbours,
    target_counts,
)
from benchmark.testing import make_image_split
from benchmark.training.base import TrainingConfig
from benchmark.training.deep import DeepEngine

# Two large classes on the lines y = 0 and y = 2, and a minority of six rows: A = (4, 0.9) and
# B = (4.4, 0.93) near the class on y = 0, and four rows far away (around (20, 20)) deep inside their
# own class. With k = 2, A's nearest neighbours are B and the enemy (4, 0); B's are A and (4, 0); each
# far row's two nearest neighbours are minority rows. So A and B are the only bases, (4, 0) their only
# enemy, and the enemy (4, 2) (A's second-nearest enemy) is not among A's k nearest neighbours.
MAJORITY = [(float(x), 0.0) for x in range(8)]
MIDDLE = [(float(x), 2.0) for x in range(8)]
MINORITY = [(4.0, 0.9), (4.4, 0.93), (20.0, 20.0), (20.0, 21.0), (21.0, 20.0), (21.5, 21.3)]
POINTS = torch.tensor(MAJORITY + MIDDLE + MINORITY, dtype=torch.float32)
LABELS = torch.tensor([0] * 8 + [1] * 8 + [2] * 6)
A, B, ENEMY, OTHER_ENEMY = 16, 17, 4, 12  # row indices of A, B, (4, 0) and (4, 2)


def brute_force_neighbours(points: np.ndarray, row: int, k: int) -> list[int]:
    dist = np.linalg.norm(points - points[row], axis=1)
    dist[row] = np.inf
    return np.argsort(dist, kind="stable")[:k].tolist()


def paper_segments(points: np.ndarray, y: np.ndarray, c: int, k: int) -> dict[int, list[int]]:
    """The paper's rule, by brute force: base -> its enemies among its k nearest neighbours (any class)."""
    out = {}
    for r in np.flatnonzero(y == c):
        enemies = [n for n in brute_force_neighbours(points, r, k) if y[n] != c]
        if enemies:
            out[int(r)] = enemies
    return out


def on_segment(p: np.ndarray, a: np.ndarray, b: np.ndarray, tol: float = 1e-5) -> bool:
    d = b - a
    t = float(np.dot(p - a, d) / np.dot(d, d))
    return -tol <= t <= 1 + tol and np.linalg.norm(a + t * d - p) <= tol


def test_eos_bases_are_rows_with_an_enemy_among_their_k_nearest_neighbours():
    k = 2
    sampler = ExpansiveOverSampler(k_neighbors=k, balance=1.0)
    X, y = sampler.resample(POINTS, LABELS, seed=0)
    points, labels = POINTS.numpy(), LABELS.numpy()
    assert torch.equal(X[: len(POINTS)], POINTS) and torch.equal(y[: len(LABELS)], LABELS)  # real rows first
    synthetic, syn_y = X[len(POINTS):].numpy(), y[len(POINTS):].numpy()
    assert np.array_equal(np.bincount(y.numpy()), [8, 8, 8]) and set(syn_y) == {2}
    expected = paper_segments(points, labels, 2, k)
    assert expected == {A: [ENEMY], B: [ENEMY]}  # the hand-made geometry, checked by brute force
    assert sorted(sampler.last_bases[2].tolist()) == [A, B]
    # every synthetic point lies on a segment from a base to one of its enemies among its k neighbours
    for p in synthetic:
        assert any(on_segment(p, points[a], points[e]) for a, es in expected.items() for e in es), p
    # nothing comes from the far rows deep inside their class, nor reaches the enemy outside A's k neighbours
    assert np.all(np.linalg.norm(synthetic - [20.5, 20.5], axis=1) > 10)
    assert not any(on_segment(p, points[A], points[OTHER_ENEMY]) for p in synthetic)
    assert {round(float(p[0]), 1) >= 4.0 for p in synthetic} == {True}  # both bases lie right of x = 4
    used = {a for a in (A, B) if any(on_segment(p, points[a], points[ENEMY]) for p in synthetic)}
    assert used == {A, B}


def test_eos_draws_only_enemies_among_the_neighbours_and_all_of_them():
    # one minority row at the origin; k = 3 neighbours: a friend (0.5, 0) and enemies (0, 1) and (0, -1.2);
    # a farther enemy (-3, 0) is outside the 3 nearest
    points = torch.tensor([[0.0, 0.0], [0.5, 0.0], [0.0, 1.0], [0.0, -1.2], [-3.0, 0.0], [0.0, 5.0], [5.0, 5.0]])
    y = torch.tensor([1, 1, 0, 0, 0, 0, 0])
    X, _ = ExpansiveOverSampler(k_neighbors=3).resample(points, y, seed=3)
    synthetic, p = X[len(points):].numpy(), points.numpy()
    assert len(synthetic) == 3
    X_many, _ = ExpansiveOverSampler(k_neighbors=3).resample(torch.cat([points, points[2:]]),
                                                             torch.cat([y, y[2:]]), seed=1)
    many, pm = X_many[len(points) + 5:].numpy(), torch.cat([points, points[2:]]).numpy()
    for q in np.concatenate([synthetic, many]):
        assert on_segment(q, p[0], p[2]) or on_segment(q, p[0], p[3]) or on_segment(q, p[1], p[2]) \
            or on_segment(q, p[1], p[3]) or on_segment(q, p[1], pm[7]) or on_segment(q, p[0], pm[7]), q
    # the friend is never a target, the enemy outside the k nearest never either
    assert not any(on_segment(q, p[0], p[4]) and not on_segment(q, p[0], p[1]) for q in synthetic)
    assert not any(on_segment(q, p[0], p[1]) and np.linalg.norm(q - p[0]) > 1e-6 for q in synthetic)


def test_a_class_without_bases_gets_no_synthetic_rows():
    # the minority pair lies far from everything: each row's nearest neighbour is the other one
    points = torch.tensor([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0], [50.0, 50.0], [50.0, 51.0]])
    y = torch.tensor([0, 0, 0, 0, 1, 1])
    sampler = ExpansiveOverSampler(k_neighbors=1)
    X, y_new = sampler.resample(points, y, seed=0)
    assert torch.equal(X, points) and torch.equal(y_new, y)
    assert sampler.last_bases[1].numel() == 0
    X, y_new = ExpansiveOverSampler(k_neighbors=3).resample(points, y, seed=0)  # k = 3 reaches an enemy
    assert np.array_equal(np.bincount(y_new.numpy()), [4, 4])


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
    with pytest.raises(BenchmarkError, match="nearest neighbour"):
        ExpansiveOverSampler(k_neighbors=0)


def test_nearest_neighbours_match_scikit_learn_and_exclude_the_row_itself():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 8)).astype(np.float32)
    y = rng.integers(0, 3, size=300)
    rows = np.flatnonzero(y == 1)
    got = nearest_neighbours(torch.as_tensor(X), torch.as_tensor(rows), k=5).numpy()
    _, idx = NearestNeighbors(n_neighbors=6).fit(X).kneighbors(X[rows])
    assert np.array_equal(got, idx[:, 1:])  # scikit-learn's first neighbour of a training row is itself
    assert not (got == rows[:, None]).any()


def test_eos_bases_match_the_papers_rule_on_random_embeddings():
    rng = np.random.default_rng(4)
    X = np.concatenate([rng.normal(0, 1, (80, 3)), rng.normal(2.5, 1, (12, 3))]).astype(np.float32)
    y = np.array([0] * 80 + [1] * 12)
    sampler = ExpansiveOverSampler(k_neighbors=4)
    X_new, _ = sampler.resample(torch.as_tensor(X), torch.as_tensor(y), seed=0)
    expected = paper_segments(X, y, 1, 4)
    assert 0 < len(expected) < 12  # some minority rows have no enemy among their 4 neighbours
    assert sorted(sampler.last_bases[1].tolist()) == sorted(expected)
    for p in X_new[len(X):].numpy():
        assert any(on_segment(p, X[a], X[e], tol=1e-4) for a, es in expected.items() for e in es)


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
    # the paper's rule: a class with bases (rows with an enemy among their k neighbours) reaches the
    # largest class; one whose training embeddings are all deep inside it keeps its size
    expected = [40] + [40 if recorder.last_bases[c].numel() else n for c, n in ((1, 20), (2, 8))]
    assert np.array_equal(np.bincount(y_out.numpy()), expected)
    for c, bases in recorder.last_bases.items():
        assert sorted(bases.tolist()) == sorted(paper_segments(features.numpy(), y.numpy(), c, 3))
    assert model.timings["feature_resample_seconds"] > 0
    # where the engine also times the whole stage (embedding, resampling and head re-training), it includes the step
    assert model.timings.get("feature_stage_seconds", np.inf) >= model.timings["feature_resample_seconds"]
