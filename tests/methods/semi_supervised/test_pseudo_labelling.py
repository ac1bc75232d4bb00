"""pseudo-labelling: the selection of confident pool rows (and its per-class cap), and a real deep-engine run
showing that the rows it adds are pool rows only, labelled from the model's probabilities alone."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from benchmark.errors import BenchmarkError
from benchmark.methods import method_registry
from benchmark.methods.base import MethodContext
from benchmark.methods.semi_supervised.pseudo_labelling import ConfidentPseudoLabels
from benchmark.testing import make_image_split, tiny_config
from benchmark.training.deep import DeepEngine

POOL_MARK, VAL_MARK, TEST_MARK = 255, 254, 253  # pixel (0, 0) of each part's images (training images stay <= 210)


def test_select_keeps_the_argmax_of_rows_confident_enough():
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.55, 0.45], [0.05, 0.95]])
    rows, labels = ConfidentPseudoLabels(0.6, [10, 10]).select(proba, seed=0)
    assert rows.tolist() == [0, 1, 3] and labels.tolist() == [0, 1, 1]
    rows, labels = ConfidentPseudoLabels(0.0, [10, 10]).select(proba, seed=0)
    assert rows.tolist() == [0, 1, 2, 3] and labels.tolist() == [0, 1, 0, 1]
    assert ConfidentPseudoLabels(0.99, [10, 10]).select(proba, seed=0)[0].size == 0


def test_the_class_cap_keeps_each_class_to_its_labelled_share_most_confident_first():
    # eight pool rows labelled as the head class, two as the tail, all confident; labelled counts 1:1
    confidence = np.array([0.91, 0.99, 0.93, 0.97, 0.92, 0.96, 0.94, 0.95])
    head = np.stack([confidence, 1 - confidence], axis=1)
    tail = np.array([[0.1, 0.9], [0.2, 0.8]])
    proba = np.concatenate([head, tail])
    uncapped = ConfidentPseudoLabels(0.7, [50, 50], cap="none")
    assert uncapped.select(proba, seed=0)[0].size == 10
    capped = ConfidentPseudoLabels(0.7, [50, 50], cap="labelled-share")
    rows, labels = capped.select(proba, seed=0)
    assert np.bincount(labels, minlength=2).tolist() == [5, 2]  # ceil(0.5 x 10) head rows, both tail rows
    assert set(rows[labels == 0].tolist()) == {1, 3, 5, 6, 7}  # the five most confident head rows
    assert capped.last_selection == {"offered": 10, "confident": 10, "kept": 7, "per_class": [5, 2]}
    # the cap never makes the pseudo-labels more head-heavy than the labelled set (here 9:1)
    rows, labels = ConfidentPseudoLabels(0.7, [90, 10], cap="labelled-share").select(proba, seed=0)
    assert np.bincount(labels, minlength=2).tolist() == [8, 1]


def test_bad_selection_settings_and_probabilities_are_clear_errors():
    with pytest.raises(BenchmarkError, match="threshold of 1.5"):
        ConfidentPseudoLabels(1.5, [3, 3])
    with pytest.raises(BenchmarkError, match="'sideways'"):
        ConfidentPseudoLabels(0.5, [3, 3], cap="sideways")
    with pytest.raises(BenchmarkError, match=r"shape \(4,\)"):
        ConfidentPseudoLabels(0.5, [3, 3]).select(np.full(4, 0.5), seed=0)
    with pytest.raises(BenchmarkError, match=r"shape \(2, 3\)"):
        ConfidentPseudoLabels(0.5, [3, 3]).select(np.full((2, 3), 1 / 3), seed=0)


def test_select_is_given_probabilities_and_a_seed_only():
    """The component's whole view of the pool is its argument list: class probabilities, a seed."""
    assert list(inspect.signature(ConfidentPseudoLabels.select).parameters) == ["self", "proba", "seed"]


def marked_split(n_pool: int = 30):
    """The tiny image split with pool, validation and test images marked in pixel (0, 0), and each pool
    image's row number in pixel (0, 1), so a trained batch shows where each of its images came from."""
    split = make_image_split(n_unlabeled=None)
    pool = make_image_split(n_per_class=(n_pool // 3,) * 3, seed=7, n_unlabeled=None).train.X.copy()
    pool[:, 0, 0, 0], pool[:, 0, 0, 1] = POOL_MARK, np.arange(len(pool))
    split.val.X[:, 0, 0, 0], split.test.X[:, 0, 0, 0] = VAL_MARK, TEST_MARK
    split.unlabeled = pool
    return split


class BatchSpy:
    """An ``augment`` that changes nothing and records each batch's pixel (0, 0) and (0, 1), labels and stage."""

    def __init__(self):
        self.seen: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] = []

    def augment(self, x, y, state):
        pixels = (x[:, 0, 0, :2] * 255).round().long().numpy()
        self.seen.append((state.stage, pixels[:, 0], pixels[:, 1], y.numpy().copy()))
        return x, y


class SelectSpy:
    """Wraps the selection: records what it was given and what it chose."""

    uses_unlabeled = True

    def __init__(self, inner):
        self.inner, self.calls = inner, []

    def select(self, proba, seed):
        rows, labels = self.inner.select(proba, seed)
        self.calls.append((proba, seed, rows, labels))
        return rows, labels


def test_only_pool_rows_are_added_with_the_labels_chosen_from_probabilities():
    torch.set_num_threads(1)
    split = marked_split()
    config = tiny_config()
    ctx = MethodContext.from_split(split, "deep", epochs=config.epochs)
    recipe = method_registry.get("pseudo-labelling").build(
        {"first_stage_share": 0.5, "threshold": 0.4, "class_cap": "none"}, ctx)
    spy, batches = SelectSpy(recipe.stages[1].pseudo_label), BatchSpy()
    recipe.stages[1].pseudo_label, recipe.augment = spy, batches
    model = DeepEngine().fit(split, recipe, config, seed=0, device="cpu")

    ((proba, seed, rows, labels),) = spy.calls  # the pool is labelled once, at the start of the second stage
    assert isinstance(proba, np.ndarray) and proba.shape == (len(split.unlabeled), split.num_classes)
    assert np.allclose(proba.sum(axis=1), 1.0) and seed == 0
    assert rows.size > 0 and model.timings["pseudo_labelled_rows"] == rows.size
    assert model.timings["unlabeled_rows"] == len(split.unlabeled)
    chosen = dict(zip(rows.tolist(), labels.tolist(), strict=True))

    pool_seen = {}
    for stage, mark, row, y in batches.seen:
        assert not np.isin(mark, [VAL_MARK, TEST_MARK]).any(), "a validation or test image was trained on"
        from_pool = mark == POOL_MARK
        if stage == "labelled":
            assert not from_pool.any(), "pool rows were trained on before they were pseudo-labelled"
        pool_seen.update(zip(row[from_pool].tolist(), y[from_pool].tolist(), strict=True))
    assert pool_seen and set(pool_seen) <= set(chosen)  # only selected pool rows, ...
    assert all(chosen[r] == label for r, label in pool_seen.items())  # ... with the labels select gave
    # equal compute: the longer second-stage training set does not lengthen its epochs
    baseline = DeepEngine().fit(split, method_registry.get("baseline").build({}, ctx), config, seed=0, device="cpu")
    assert model.timings["train_samples"] == baseline.timings["train_samples"]


@pytest.mark.parametrize("name", ["pseudo-labelling", "fixmatch-da"])
def test_pool_rows_refuse_a_split_without_a_pool_and_are_tagged(name):
    method = method_registry.get(name)
    without = make_image_split(n_unlabeled=None)
    reason = method.not_applicable_reason(without, "deep")
    assert reason is not None and "tiny-image exposes no unlabeled pool" in reason
    assert method.not_applicable_reason(make_image_split(), "deep") is None
    assert method.family == "semi-supervised" and "unlabeled-data" in method.tags
