"""Fidelity and memorisation measures on hand-made arrays."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.methods.generative._fidelity import (
    class_fidelity,
    frechet_distance,
    memorisation_share,
    precision_recall,
)


def gaussian(n, d=4, seed=0, shift=0.0):
    return np.random.default_rng(seed).normal(shift, 1.0, (n, d))


def test_frechet_distance_of_identical_sets_is_zero_and_grows_with_a_shift():
    a = gaussian(200)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    # two Gaussians with equal covariances: the distance is the squared distance of the means
    assert frechet_distance(a, a + 2.0) == pytest.approx(4 * 4.0, rel=1e-6)
    assert frechet_distance(a, gaussian(200, seed=1, shift=3.0)) > frechet_distance(a, gaussian(200, seed=2))


def test_memorisation_flags_copies_and_not_a_fresh_gaussian_sample():
    real = gaussian(300)
    copies = real[np.random.default_rng(1).integers(0, 300, 100)]
    assert memorisation_share(real, copies) == 1.0
    assert memorisation_share(real, gaussian(100, seed=5)) < 0.15
    assert memorisation_share(real, copies + 1e-9) == 1.0  # near-copies too


def test_precision_and_recall_separate_a_collapsed_generator_from_a_faithful_one():
    real = gaussian(300)
    faithful = gaussian(300, seed=7)
    collapsed = np.repeat(real[:1], 300, axis=0) + 1e-3 * gaussian(300, seed=8)
    off = gaussian(300, seed=9, shift=10.0)
    p, r = precision_recall(real, faithful)
    assert p > 0.8 and r > 0.8
    p, r = precision_recall(real, collapsed)
    assert p > 0.9 and r < 0.1  # realistic but no variety
    assert precision_recall(real, off) == (0.0, 0.0)


def test_class_fidelity_reports_none_where_the_samples_are_too_few():
    out = class_fidelity(gaussian(2), gaussian(3), gaussian(2), gaussian(3))
    assert out["precision"] is None and out["recall"] is None and out["frechet_distance"] is not None
    assert class_fidelity(gaussian(1), gaussian(3), gaussian(1), gaussian(3))["memorised_share"] is None


def test_the_reference_network_is_one_per_split_whatever_the_generator_budget(tmp_path):
    """Two generator budgets, one generator that ignores them: the same fidelity figures, measured in one cached
    reference network trained for its own budget (so figures compare across budgets and suites)."""
    from benchmark.methods.base import GeneratorBudget, ResampleContext
    from benchmark.methods.generative._base import GenerativeOversampler
    from benchmark.methods.generative._reference import REFERENCE_BUDGET, REFERENCE_FEATURES
    from benchmark.testing import make_image_split
    from tests.methods.generative.test_mechanism import NoiseGenerator

    split = make_image_split()
    figures = []
    for budget in (GeneratorBudget(1, 8), GeneratorBudget(3, 16)):
        ctx = ResampleContext(cache_dir=tmp_path, split_fingerprint=split.fingerprint(), budget=budget,
                              backbone="resnet32")
        GenerativeOversampler(NoiseGenerator, 1.0).resample(split.train.X, split.train.y, seed=5, context=ctx)
        figures.append(ctx.artifacts["fidelity"]())
    assert figures[0] == figures[1] and figures[0]["features"] == REFERENCE_FEATURES
    assert f"{REFERENCE_BUDGET.epochs} epochs" in REFERENCE_FEATURES and "small-cnn" in REFERENCE_FEATURES
    entries = sorted(p.name.split("-")[0] for p in (tmp_path / "generators").rglob("*.pt"))
    assert entries.count("fidelity") == 1  # one reference network for both budgets
