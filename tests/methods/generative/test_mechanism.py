"""The generative family's one mechanism: top-up targets, the over-sampling component, the generator cache,
and the rule that synthetic rows are training rows only."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.errors import BenchmarkError
from benchmark.methods._oversampling import top_up_targets
from benchmark.methods.base import GeneratorBudget, Recipe, ResampleContext
from benchmark.methods.generative._base import GenerativeOversampler, Generator, generator_seed
from benchmark.methods.generative._cache import GeneratorCache
from benchmark.protocol import trial_seed
from benchmark.testing import make_image_split
from benchmark.training.base import TrainingConfig
from benchmark.training.deep import DeepEngine, prepare_training_data


class NoiseGenerator(Generator):
    """A cheap generator: per-class pixel means plus seeded noise; it records the rows it was fitted on."""

    name = "noise-test"
    fitted_on: list[np.ndarray] = []

    def fit(self, X, y, *, budget, device, seed):
        NoiseGenerator.fitted_on.append(np.array(X))
        self.means = {int(c): X[y == c].mean(0) for c in np.unique(y)}

    def sample(self, counts, *, seed):
        rng = np.random.default_rng(seed)
        out = [np.clip(self.means[c] + rng.normal(0, 20, (n, *self.means[c].shape)), 0, 255).astype(np.uint8)
               for c, n in sorted(counts.items())]
        return np.concatenate(out)

    def state_dict(self):
        import torch

        return {"means": {str(c): torch.as_tensor(m) for c, m in self.means.items()}}

    def load_state_dict(self, state, *, device="cpu"):
        self.means = {int(c): m.numpy() for c, m in state["means"].items()}


def test_top_up_targets_raises_every_smaller_class_to_the_ratio():
    assert top_up_targets([100, 40, 10, 0], 0.5) == {1: 10, 2: 40}
    assert top_up_targets([100, 40, 10], 1.0, classes=[2]) == {2: 90}
    assert top_up_targets([10, 3], 0.3) == {}  # 0.3 * 10 is 3, not 4, in floating point
    with pytest.raises(BenchmarkError, match="target_ratio"):
        top_up_targets([10, 3], 1.5)


def test_generator_seed_is_shared_by_the_trials_of_a_study():
    assert generator_seed(trial_seed(0, 0)) == generator_seed(trial_seed(0, 7)) == trial_seed(0, 0)
    assert generator_seed(trial_seed(2, 5)) == trial_seed(2, 0) != trial_seed(0, 0)
    assert generator_seed(3) == 3  # a seed re-run trains its own


def context(tmp_path, split):
    return ResampleContext(cache_dir=tmp_path, split_fingerprint=split.fingerprint(), budget=GeneratorBudget(1, 8))


def test_oversampler_tops_up_to_the_ratio_with_generated_rows(tmp_path):
    split = make_image_split()
    ctx = context(tmp_path, split)
    X, y = GenerativeOversampler(NoiseGenerator, 0.5).resample(split.train.X, split.train.y, seed=0, context=ctx)
    assert np.bincount(y).tolist() == [40, 20, 20]
    np.testing.assert_array_equal(X[: len(split.train.y)], split.train.X)  # the real rows first, unchanged
    assert set(ctx.timings) >= {"generator_seconds", "sampling_seconds", "generator_cached_seconds"}
    fidelity = ctx.artifacts["fidelity"]()
    assert set(fidelity["classes"]) == {"2"} and fidelity["classes"]["2"]["n_generated"] == 12


def test_the_cache_is_reused_within_a_study_and_rebuilt_when_corrupt(tmp_path):
    split = make_image_split()
    NoiseGenerator.fitted_on.clear()
    first = context(tmp_path, split)
    a = GenerativeOversampler(NoiseGenerator, 1.0).resample(split.train.X, split.train.y, trial_seed(0, 0), first)
    assert len(NoiseGenerator.fitted_on) == 1 and first.timings["generator_seconds"] > 0
    # another trial of the study, sampling less: the trained generator is reused
    second = context(tmp_path, split)
    b = GenerativeOversampler(NoiseGenerator, 0.6).resample(split.train.X, split.train.y, trial_seed(0, 1), second)
    assert len(NoiseGenerator.fitted_on) == 1
    assert second.timings["generator_seconds"] == 0.0
    assert second.timings["generator_cached_seconds"] == pytest.approx(first.timings["generator_seconds"])
    assert len(b[1]) < len(a[1])
    (entry,) = (tmp_path / "generators").rglob("*.pt")
    entry.write_bytes(entry.read_bytes()[:-20])  # a partial write
    third = context(tmp_path, split)
    GenerativeOversampler(NoiseGenerator, 1.0).resample(split.train.X, split.train.y, trial_seed(0, 2), third)
    assert len(NoiseGenerator.fitted_on) == 2 and third.timings["generator_seconds"] > 0
    entry.write_bytes(entry.read_bytes().replace(b"noise-test", b"noise-TEST"))  # damaged content
    cache = GeneratorCache(tmp_path, split.fingerprint())
    key = cache.key(NoiseGenerator(), split.train.X, split.train.y, third, generator_seed(trial_seed(0, 0)))
    assert cache.path(key) == entry and cache.load(entry, key) is None and not entry.exists()


def test_another_seed_or_budget_trains_another_generator(tmp_path):
    split = make_image_split()
    NoiseGenerator.fitted_on.clear()
    for seed, budget in ((0, GeneratorBudget(1, 8)), (1, GeneratorBudget(1, 8)), (0, GeneratorBudget(2, 8))):
        ctx = ResampleContext(cache_dir=tmp_path, split_fingerprint=split.fingerprint(), budget=budget)
        GenerativeOversampler(NoiseGenerator, 1.0).resample(split.train.X, split.train.y, seed, ctx)
    assert len(NoiseGenerator.fitted_on) == 3


def test_synthetic_rows_are_training_rows_only(tmp_path, monkeypatch):
    """The engine gives the generator the training rows and nothing else; validation and test stay as they were."""
    monkeypatch.setenv("BENCHMARK_CACHE", str(tmp_path))
    split = make_image_split()
    val_X, test_X = split.val.X.copy(), split.test.X.copy()
    NoiseGenerator.fitted_on.clear()
    model = DeepEngine().fit(split, Recipe(resample=GenerativeOversampler(NoiseGenerator, 1.0)),
                             TrainingConfig(epochs=1, batch_size=32, generator_epochs=1), seed=0, device="cpu")
    (seen,) = NoiseGenerator.fitted_on
    np.testing.assert_array_equal(seen, split.train.X)
    np.testing.assert_array_equal(split.val.X, val_X)
    np.testing.assert_array_equal(split.test.X, test_X)
    _, _, y = prepare_training_data(split, Recipe(resample=GenerativeOversampler(NoiseGenerator, 1.0)),
                                    TrainingConfig(epochs=1), seed=0)
    assert np.bincount(y).tolist() == [40, 40, 40]  # the training set the engine trains on: real + synthetic
    assert model.timings["generator_seconds"] > 0 and "sampling_seconds" in model.timings
    assert callable(model.artifacts["fidelity"]) and callable(model.artifacts["generated_samples"])
