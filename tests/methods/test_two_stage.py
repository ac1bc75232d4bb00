"""Two-stage training rows: the balanced set of a stage, and the schedules' frozen and re-initialised
parameters, checked on snapshots of the model taken after every epoch of a real deep-engine run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import benchmark.training.deep as deep
from benchmark.errors import BenchmarkError
from benchmark.methods import method_registry
from benchmark.methods.base import MethodContext
from benchmark.methods.stages.two_stage import BalancedSubsetSampler, two_stage_schedule
from benchmark.testing import make_image_split
from benchmark.training.base import TrainingConfig
from benchmark.training.deep import DeepEngine, TrainState


def _state(y: np.ndarray, seed: int = 3) -> TrainState:
    y_t = torch.as_tensor(y)
    gen = torch.Generator().manual_seed(seed)
    return TrainState(y_t, torch.bincount(y_t), int(y.max()) + 1, 4, gen, torch.device("cpu"), seed=seed)


@pytest.mark.parametrize(("balancing", "per_class"), [("over", 30), ("under", 4)])
def test_balanced_subset_is_fixed_balanced_and_reshuffled(balancing, per_class):
    y = np.repeat([0, 1, 2], [30, 12, 4])
    state = _state(y)
    sampler = BalancedSubsetSampler(balancing)
    first, second = sampler.batch_indices(0, state), sampler.batch_indices(1, state)
    assert np.array_equal(np.bincount(y[first.numpy()], minlength=3), [per_class] * 3)
    assert sorted(first.tolist()) == sorted(second.tolist())  # the same set every epoch ...
    assert not torch.equal(first, second)  # ... in a new order
    if balancing == "over":  # every original row is kept, the smaller classes repeated
        assert set(first.tolist()) == set(range(len(y)))
    else:  # a subset without repeats, the smallest class whole
        assert len(set(first.tolist())) == first.numel() and set(np.flatnonzero(y == 2)) <= set(first.tolist())
    again = BalancedSubsetSampler(balancing).balanced_rows(state.y, seed=3)
    assert torch.equal(again, sampler.balanced_rows(state.y, seed=3))  # seeded


def test_bad_balancing_and_schedule_are_clear_errors():
    with pytest.raises(BenchmarkError, match="sideways"):
        BalancedSubsetSampler("sideways")
    with pytest.raises(BenchmarkError, match="two classes"):
        BalancedSubsetSampler("over").batch_indices(0, _state(np.zeros(5, dtype=np.int64)))
    from benchmark.methods.base import Stage

    with pytest.raises(BenchmarkError, match="share"):
        two_stage_schedule(Stage("a", 0), Stage("b", 0), 1.0)


def run_with_snapshots(monkeypatch, name: str, params: dict, epochs: int = 4, lr: float = 3e-3, seed: int = 0,
                       model: str = "small-cnn"):
    """Train method ``name`` on the tiny image split; returns the recipe and the state dict after each epoch."""
    built = []
    original = deep.build_model
    monkeypatch.setattr(deep, "build_model", lambda *a, **k: built.append(original(*a, **k)) or built[-1])
    split = make_image_split()
    snaps = {}

    def on_epoch(epoch, proba):
        snaps[epoch] = {k: v.detach().clone() for k, v in built[0].state_dict().items()}

    recipe = method_registry.get(name).build(params, MethodContext.from_split(split, "deep", epochs=epochs))
    config = TrainingConfig(epochs=epochs, batch_size=16, lr=lr, model=model)
    fitted = DeepEngine().fit(split, recipe, config, seed=seed, device="cpu", on_epoch=on_epoch)
    proba = fitted.predict_proba(split.test.X)
    assert np.isfinite(proba).all() and np.allclose(proba.sum(1), 1.0, atol=1e-5)
    return recipe, snaps


def features_equal(a: dict, b: dict) -> bool:
    keys = [k for k in a if k.startswith("features.")]
    return bool(keys) and all(torch.equal(a[k], b[k]) for k in keys)


def test_two_stage_learning_trains_everything_then_only_the_head(monkeypatch):
    recipe, snaps = run_with_snapshots(monkeypatch, "two-stage-learning", {"balancing": "under", "first_stage_share": 0.5})
    assert [(s.name, s.train, s.reinit_head) for s in recipe.stages] == [("balanced", "all", False),
                                                                         ("fine-tune-head", "head", False)]
    assert isinstance(recipe.stages[0].batch_sampler, BalancedSubsetSampler) and recipe.stages[1].batch_sampler is None
    assert not features_equal(snaps[0], snaps[1])  # stage 1 trains the features ...
    assert features_equal(snaps[1], snaps[2]) and features_equal(snaps[1], snaps[3])  # ... stage 2 freezes them
    # (batch-norm statistics included: the frozen features run in eval mode)
    assert not torch.equal(snaps[1]["head.weight"], snaps[3]["head.weight"])
    assert not torch.equal(snaps[2]["head.bias"], snaps[3]["head.bias"])


@pytest.mark.parametrize("rebalanced_train", ["head", "all"])
def test_deferred_sampling_freezes_exactly_what_it_says(monkeypatch, rebalanced_train):
    params = {"balancing": "over", "rebalanced_train": rebalanced_train, "first_stage_share": 0.5}
    recipe, snaps = run_with_snapshots(monkeypatch, "two-stage-deferred-sampling", params)
    assert recipe.stages[0].batch_sampler is None and recipe.stages[1].train == rebalanced_train
    assert features_equal(snaps[1], snaps[3]) == (rebalanced_train == "head")
    assert not torch.equal(snaps[1]["head.weight"], snaps[3]["head.weight"])


def test_head_is_reinitialised_only_when_the_stage_asks(monkeypatch):
    # With a zero learning rate nothing trains, so any change of the head is the re-initialisation.
    _, kept = run_with_snapshots(monkeypatch, "two-stage-learning", {"balancing": "over", "first_stage_share": 0.5},
                                 epochs=2, lr=0.0)
    assert torch.equal(kept[0]["head.weight"], kept[1]["head.weight"])
    _, crt = run_with_snapshots(monkeypatch, "crt", {"first_stage_share": 0.5}, epochs=2, lr=0.0)
    assert features_equal(crt[0], crt[1])
    assert torch.equal(crt[0]["head.weight"], kept[0]["head.weight"])  # same seed, same initial model
    assert not torch.equal(crt[0]["head.weight"], crt[1]["head.weight"])
    bound = 1 / np.sqrt(crt[1]["head.weight"].shape[1])  # nn.Linear's default initialisation range
    assert crt[1]["head.weight"].abs().max() <= bound and crt[1]["head.bias"].abs().max() <= bound


@pytest.mark.parametrize("model", ["small-cnn", "resnet32"])
@pytest.mark.parametrize(("name", "params"), [
    ("two-stage-learning", {"balancing": "over", "first_stage_share": 0.5}),
    ("crt", {"first_stage_share": 0.5}),
    ("lws", {"first_stage_share": 0.5}),
    ("eos", {"k_neighbors": 3, "balance": 1.0, "first_stage_share": 0.5}),
    ("embedding-smote", {"k_neighbors": 3, "balance": 1.0, "first_stage_share": 0.5}),
])
def test_head_stages_leave_every_feature_parameter_and_statistic_as_stage_one_left_it(monkeypatch, name, params,
                                                                                      model):
    """Issue 9 on both image backbones: after the representation stage (epochs 0-1) the features,
    batch-norm running statistics of ResNet-32 included, do not move while the head is re-trained."""
    _, snaps = run_with_snapshots(monkeypatch, name, params, model=model)
    assert not features_equal(snaps[0], snaps[1])  # the first stage trains the features
    assert features_equal(snaps[1], snaps[2]) and features_equal(snaps[1], snaps[3])
    if model == "resnet32":
        assert any("running_mean" in k for k in snaps[3] if k.startswith("features."))
