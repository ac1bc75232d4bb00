"""Shared checks of the generator contract (benchmark/methods/generative/_base.py), for every generator's tests."""

from __future__ import annotations

import numpy as np

from benchmark.methods.base import GeneratorBudget

TINY_BUDGET = GeneratorBudget(epochs=2, batch_size=16)


def check_generator_contract(make, split, counts: dict[int, int]) -> np.ndarray:
    """Fit ``make()`` on the split's training rows, sample ``counts`` twice with one seed and once with
    another, restore a new generator from its state: exact counts, dtype, shape, range, determinism."""
    X, y = split.train.X, split.train.y
    generator = make()
    generator.fit(X, y, budget=TINY_BUDGET, device="cpu", seed=0)
    out = generator.sample(counts, seed=1)
    assert out.shape == (sum(counts.values()), *X.shape[1:])
    assert out.dtype == X.dtype
    if X.dtype == np.uint8:
        assert out.min() >= 0 and out.max() <= 255
    np.testing.assert_array_equal(out, generator.sample(counts, seed=1))
    assert not np.array_equal(out, generator.sample(counts, seed=2))
    restored = make()
    restored.load_state_dict(generator.state_dict(), device="cpu")
    np.testing.assert_array_equal(out, restored.sample(counts, seed=1))
    return out
