"""Tabular generative over-sampling: CTGAN, TVAE (the ctgan package) and TabDDPM."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.datasets.base import DataPart, Split
from benchmark.methods import method_registry
from benchmark.methods.base import GeneratorBudget, MethodContext, ResampleContext
from benchmark.methods.generative.tabular import ColumnBounds, CtganGenerator, TabDDPMGenerator
from benchmark.testing import make_tabular_split
from tests.methods.generative.helpers import check_generator_contract


def with_count_column(split: Split) -> Split:
    """The numeric tiny split with a fifth, whole-number column (a count from 0 to 9)."""
    rng = np.random.default_rng(1)

    def part(p: DataPart) -> DataPart:
        counts = rng.integers(0, 10, size=(len(p.y), 1)).astype(np.float32)
        return DataPart(np.concatenate([p.X, counts], axis=1), p.y)

    return Split(split.dataset, "tabular", split.class_names, part(split.train), part(split.val), part(split.test),
                 feature_kinds=["numeric"] * 5)


def test_tabddpm_generates_rows_in_range_with_whole_number_columns_rounded():
    split = with_count_column(make_tabular_split(nominal=False))
    out = check_generator_contract(lambda: TabDDPMGenerator(ddim_steps=5), split, {0: 3, 1: 9})
    X = split.train.X
    assert (out >= X.min(0)).all() and (out <= X.max(0)).all()
    np.testing.assert_array_equal(out[:, 4], np.round(out[:, 4]))  # the count column stays whole
    assert not np.array_equal(out[:, 0], np.round(out[:, 0]))  # real-valued columns are not rounded


@pytest.mark.parametrize("kind", ["ctgan", "tvae"])
def test_ctgan_and_tvae_generate_rows_of_the_requested_classes(kind):
    split = make_tabular_split(nominal=True)  # column 4 is nominal (codes 0, 1, 2): a discrete column
    out = check_generator_contract(lambda: CtganGenerator(kind, nominal=(4,)), split, {1: 6})
    assert set(np.unique(out[:, 4])) <= {0.0, 1.0, 2.0}
    X = split.train.X
    assert (out >= X.min(0)).all() and (out <= X.max(0)).all()


def test_column_bounds_clip_and_round():
    bounds = ColumnBounds(np.array([[0.0, 0.5], [3.0, 1.5]], dtype=np.float32))
    out = bounds.apply(np.array([[1.4, 2.0], [-1.0, 0.7]]))
    np.testing.assert_allclose(out, [[1.0, 1.5], [0.0, 0.7]], rtol=1e-6)
    assert out.dtype == np.float32


def test_tabddpm_is_not_applicable_to_nominal_features_and_says_why():
    method = method_registry.get("tabddpm-oversampling")
    reason = method.not_applicable_reason(make_tabular_split(nominal=True), "deep")
    assert reason is not None and "nominal" in reason
    assert method.not_applicable_reason(make_tabular_split(nominal=False), "classical") is None
    assert method_registry.get("ctgan-oversampling").not_applicable_reason(make_tabular_split(), "deep") is None


@pytest.mark.parametrize("name", ["tabddpm-oversampling", "tvae-oversampling"])
def test_tabular_rows_top_up_the_training_rows_and_keep_them_first(name, tmp_path):
    split = make_tabular_split(nominal=False)
    X, y = split.train.X, split.train.y
    ctx = MethodContext.from_split(split, "classical")
    recipe = method_registry.get(name).build({"target_ratio": 0.5, "ddim_steps": 25}, ctx)
    context = ResampleContext(cache_dir=tmp_path, split_fingerprint="tiny-tabular", budget=GeneratorBudget(2, 32))
    X_new, y_new = recipe.resample.resample(X, y, seed=0, context=context)
    assert np.bincount(y_new).tolist() == [120, 60]
    np.testing.assert_array_equal(X_new[: len(X)], X)
    np.testing.assert_array_equal(y_new[len(y):], 1)
    assert X_new.dtype == X.dtype and context.timings["generator_seconds"] > 0
