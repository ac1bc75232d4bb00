"""The deep engine's unlabeled pool: on the device only for components that declare
``uses_unlabeled``, a clear error without one, and ``Stage.pseudo_label`` adding exactly the rows its
component selects, with its labels, to that stage and the later ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

import benchmark.training.deep as deep
from benchmark.errors import BenchmarkError
from benchmark.methods.base import Recipe, Stage
from benchmark.testing import make_image_split, make_tabular_split
from benchmark.training.base import TrainingConfig
from benchmark.training.deep import DeepEngine


@pytest.fixture
def config() -> TrainingConfig:
    return TrainingConfig(epochs=2, batch_size=16, lr=3e-3)


def with_pool(split, rows: int = 12, seed: int = 5):
    """The split with a known pool of ``rows`` rows shaped like its training rows (features only)."""
    rng = np.random.default_rng(seed)
    X = split.train.X
    split.unlabeled = (rng.integers(0, 256, size=(rows, *X.shape[1:])).astype(X.dtype) if X.dtype == np.uint8
                       else rng.normal(size=(rows, *X.shape[1:])).astype(X.dtype))
    return split


class PoolReader:
    """An augment component that records what the training state holds under "unlabeled"."""

    def __init__(self, declares: bool):
        if declares:
            self.uses_unlabeled = True
        self.seen: list = []

    def augment(self, x, y, state):
        self.seen.append(state.extra.get("unlabeled"))
        return x, y


def test_the_pool_reaches_the_state_only_when_a_component_declares_it(config):
    split = with_pool(make_image_split())
    quiet, reader = PoolReader(declares=False), PoolReader(declares=True)
    plain = DeepEngine().fit(split, Recipe(augment=quiet), config, seed=0, device="cpu")
    assert all(s is None for s in quiet.seen) and "unlabeled_rows" not in plain.timings

    model = DeepEngine().fit(split, Recipe(augment=reader), config, seed=0, device="cpu")
    pool = reader.seen[0]
    assert pool.dtype == torch.uint8 and torch.equal(pool, torch.as_tensor(split.unlabeled))
    assert model.timings["unlabeled_rows"] == len(split.unlabeled) == 12


def test_a_tabular_pool_is_featurised_like_the_training_rows(config):
    split = with_pool(make_tabular_split(nominal=False))
    reader = PoolReader(declares=True)
    model = DeepEngine().fit(split, Recipe(augment=reader), config, seed=0, device="cpu")
    expected = model.featurizer.transform(split.unlabeled)
    assert reader.seen[0].dtype == torch.float32
    assert np.allclose(reader.seen[0].numpy(), expected)


def test_a_split_without_a_pool_is_a_clear_error(config):
    split = make_image_split()
    split.unlabeled = None
    with pytest.raises(BenchmarkError, match="tiny-image exposes none"):
        DeepEngine().fit(split, Recipe(augment=PoolReader(declares=True)), config, seed=0, device="cpu")


class Selector:
    """A fake pseudo-labelling component: always the same pool rows and labels; records its calls."""

    def __init__(self, rows, labels):
        self.rows, self.labels = np.asarray(rows), np.asarray(labels)
        self.calls: list = []

    def select(self, proba, seed):
        self.calls.append((proba.copy(), seed))
        return self.rows, self.labels


class Recorder:
    """A batch sampler that records the stage's labels and visits its rows in reverse order."""

    def __init__(self):
        self.y: list[torch.Tensor] = []

    def batch_indices(self, epoch, state):
        self.y.append(state.y.clone())
        return torch.arange(state.y.shape[0] - 1, -1, -1)


class BatchRecorder:
    def __init__(self):
        self.batches: list[tuple[torch.Tensor, torch.Tensor]] = []

    def augment(self, x, y, state):
        self.batches.append((x.clone(), y.clone()))
        return x, y


def test_a_pseudo_label_stage_adds_exactly_the_selected_rows(config):
    split = with_pool(make_image_split())
    selector = Selector([5, 0, 3], [2, 2, 1])
    first, second, batches = Recorder(), Recorder(), BatchRecorder()
    recipe = Recipe(stages=[Stage("labelled", 0.5, batch_sampler=first),
                            Stage("pseudo", 0.5, batch_sampler=second, pseudo_label=selector, augment=batches)])
    model = DeepEngine().fit(split, recipe, config, seed=7, device="cpu")
    y_train = torch.as_tensor(split.train.y)

    assert torch.equal(first.y[0], y_train)  # before the pseudo-labelling stage: the training rows only
    assert torch.equal(second.y[0], torch.cat([y_train, torch.tensor([2, 2, 1])]))
    (proba, seed), = selector.calls
    assert seed == 7 and proba.shape == (12, split.num_classes) and np.allclose(proba.sum(1), 1.0)
    # the stage's rows are the training rows then pool rows 5, 0, 3: the reversed order starts with 3, 0, 5
    x0, y0 = batches.batches[0]
    pool = torch.as_tensor(split.unlabeled).float().div(255)
    assert torch.equal(x0[:3], pool[[3, 0, 5]]) and torch.equal(y0[:3], torch.tensor([1, 2, 2]))
    assert model.timings["pseudo_labelled_rows"] == 3 and model.timings["unlabeled_rows"] == 12
    baseline = DeepEngine().fit(split, Recipe(), config, seed=7, device="cpu").timings
    assert model.timings["train_samples"] == baseline["train_samples"]  # an epoch is still epoch_samples


def test_pseudo_labels_come_from_the_model_as_the_previous_stage_left_it(monkeypatch, config):
    """select() sees the softmax of the model's pool logits (eval mode, standardised) with the weights
    of the last optimiser step before it, even when its stage re-initialises the head."""
    seen: dict = {}
    real_build = deep.build_model

    def build_model(name, spec, num_classes):
        seen["model"] = real_build(name, spec, num_classes)
        return seen["model"]

    def after_step(optimizer, args, kwargs):
        seen["last_step"] = {k: v.clone() for k, v in seen["model"].state_dict().items()}

    split = with_pool(make_image_split())

    class Checking(Selector):
        def select(self, proba, seed):
            model = seen["model"]
            assert all(torch.equal(v, seen["last_step"][k]) for k, v in model.state_dict().items())
            pool = torch.as_tensor(split.unlabeled).float().div(255)
            mean = torch.as_tensor(split.train.X).float().div(255).mean(dim=(0, 2, 3)).view(1, -1, 1, 1)
            std = torch.as_tensor(split.train.X).float().div(255).std(dim=(0, 2, 3), unbiased=False).view(1, -1, 1, 1)
            model.eval()
            with torch.no_grad():
                expected = torch.softmax(model((pool - mean) / std), 1).numpy()
            model.train()
            assert np.allclose(proba, expected, atol=1e-4)
            self.calls.append(seed)
            return super().select(proba, seed)

    monkeypatch.setattr(deep, "build_model", build_model)
    selector = Checking([0], [1])
    recipe = Recipe(stages=[Stage("labelled", 0.5), Stage("pseudo", 0.5, pseudo_label=selector, reinit_head=True)])
    hook = register_optimizer_step_post_hook(after_step)
    try:
        DeepEngine().fit(split, recipe, config, seed=0, device="cpu")
    finally:
        hook.remove()
    assert len(selector.calls) == 2  # the checks ran (select records once itself, once in Checking)


@pytest.mark.parametrize(("rows", "labels", "match"), [
    ([0, 12], [0, 1], "outside"), ([1, 1], [0, 1], "repeated"), ([0, 1], [0, 3], r"labels outside \[0, 3\)"),
    ([0, 1], [0], "equal length"), ([0.5], [1], "integer"),
])
def test_a_bad_selection_is_a_clear_error(rows, labels, match, config):
    split = with_pool(make_image_split())
    recipe = Recipe(stages=[Stage("labelled", 0.5), Stage("pseudo", 0.5, pseudo_label=Selector(rows, labels))])
    with pytest.raises(BenchmarkError, match=match):
        DeepEngine().fit(split, recipe, config, seed=0, device="cpu")


def test_a_pseudo_label_stage_needs_a_pool_without_declaring_it(config):
    split = make_image_split()
    split.unlabeled = None
    recipe = Recipe(stages=[Stage("labelled", 0.5), Stage("pseudo", 0.5, pseudo_label=Selector([0], [0]))])
    assert recipe.uses_unlabeled()
    with pytest.raises(BenchmarkError, match="exposes none"):
        DeepEngine().fit(split, recipe, config, seed=0, device="cpu")
