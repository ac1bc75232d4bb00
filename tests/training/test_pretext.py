"""The deep engine's pre-training stage (``Recipe.pretrain``): the supervised stages start from the
pre-trained features, the pretext component never sees a label, the compute equals the baseline's,
the epochs split as documented, and the stacked and classical engines refuse it."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook

import benchmark.training.deep as deep
from benchmark.errors import BenchmarkError
from benchmark.methods import method_registry
from benchmark.methods.base import CLASSICAL_HOOKS, MethodContext, Recipe, Stage
from benchmark.testing import make_image_split, make_tabular_split
from benchmark.training.base import TrainingConfig
from benchmark.training.deep import DeepEngine, schedule_epochs
from benchmark.training.stacked import stack_conflicts


@pytest.fixture
def config() -> TrainingConfig:
    return TrainingConfig(epochs=4, batch_size=16, lr=3e-3)


class SpyPretext:
    """A pretext task that predicts each image's mean brightness bucket (no label needed), recording
    every argument the engine hands it."""

    share = 0.5

    def __init__(self):
        self.view_calls: list[tuple] = []
        self.returned: list[torch.Tensor] = []
        self.loss_targets: list[torch.Tensor] = []

    def head(self, feature_dim, spec):
        self.spec = spec
        self.head_module = nn.Linear(feature_dim, 2)
        return self.head_module

    def views(self, x, generator):
        self.view_calls.append((x.clone(), generator))
        targets = (x.flatten(1).mean(1) > x.mean()).long()
        self.returned.append(targets)
        return x, targets

    def loss(self, outputs, targets):
        self.loss_targets.append(targets)
        return nn.functional.cross_entropy(outputs, targets)


def state_of(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_the_supervised_stage_starts_from_the_pretrained_features(monkeypatch, config):
    """The features after the pretext stage's last optimiser step are those of the first supervised
    step: a re-initialised, rebuilt or copied backbone anywhere in between fails this."""
    seen: dict[str, dict] = {}
    spy = SpyPretext()
    real_build = deep.build_model

    def build_model(name, spec, num_classes):
        model = real_build(name, spec, num_classes)
        seen["model"] = model
        seen["initial_features"], seen["initial_head"] = state_of(model.features), state_of(model.head)

        def first_supervised_step(module, args):  # Backbone.forward runs only in supervised steps and predictions
            if module.training and "first_step_features" not in seen:
                seen["first_step_features"], seen["first_step_head"] = state_of(module.features), state_of(module.head)

        model.register_forward_pre_hook(first_supervised_step)
        return model

    def after_step(optimizer, args, kwargs):  # every optimiser step of the process, while the test runs
        trained = {id(p) for group in optimizer.param_groups for p in group["params"]}
        if any(id(p) in trained for p in spy.head_module.parameters()):  # a pretext step
            seen["last_pretext_step_features"] = state_of(seen["model"].features)

    monkeypatch.setattr(deep, "build_model", build_model)
    hook = register_optimizer_step_post_hook(after_step)
    try:
        model = DeepEngine().fit(make_image_split(), Recipe(pretrain=spy), config, seed=0, device="cpu")
    finally:
        hook.remove()

    assert model.timings["pretrain_epochs"] == 2
    pretrained = seen["last_pretext_step_features"]
    assert not same_state(pretrained, seen["initial_features"]), "the pretext stage did not train model.features"
    # the hand-over: the first supervised step sees exactly the features the pretext stage left
    assert same_state(seen["first_step_features"], pretrained)
    assert same_state(seen["first_step_head"], seen["initial_head"]), "the pretext stage changed the supervised head"


def test_the_pretext_component_never_receives_labels(config):
    split = make_image_split()
    spy = SpyPretext()
    model = DeepEngine().fit(split, Recipe(pretrain=spy), config, seed=0, device="cpu")

    train_images = torch.as_tensor(split.train.X).float().div(255).flatten(1)
    assert spy.spec.shape == split.train.X.shape[1:]
    rows = 0
    for x, generator in spy.view_calls:  # views(x, generator): a batch of training images, nothing else
        assert isinstance(generator, torch.Generator)
        assert x.dtype == torch.float32 and x.shape[1:] == split.train.X.shape[1:]
        assert ((x.flatten(1)[:, None, :] - train_images[None]).abs().amax(-1).amin(-1) < 1e-6).all()
        rows += x.shape[0]
    assert rows == model.timings["pretrain_samples"] == 2 * model.timings["epoch_samples"]
    # the loss got exactly the targets views made from x (no label tensor slipped in)
    assert len(spy.loss_targets) == len(spy.returned)
    assert all(a is b for a, b in zip(spy.loss_targets, spy.returned, strict=True))


@pytest.mark.parametrize(("name", "make_split"), [
    ("ssp-rotation", make_image_split), ("ssp-simclr", make_image_split), ("ssp-rotation+crt", make_image_split),
    ("ssp-rotation+class-balanced-sampling", make_image_split), ("vime-ssl", make_tabular_split),
])
def test_an_ssp_row_trains_as_many_samples_as_the_baseline(name, make_split, config):
    split = make_split()
    config = replace(config, batch_size=13)  # a remainder batch in every epoch
    ctx = MethodContext.from_split(split, "deep", epochs=config.epochs)
    baseline = DeepEngine().fit(split, Recipe(), config, seed=0, device="cpu").timings
    method = method_registry.get(name)
    ssp = DeepEngine().fit(split, method.build({}, ctx), config, seed=0, device="cpu").timings
    for key in ("train_samples", "train_steps", "epochs", "epoch_samples"):
        assert ssp[key] == baseline[key], key
    assert ssp["pretrain_samples"] == ssp["pretrain_epochs"] * ssp["epoch_samples"]
    assert 1 <= ssp["pretrain_epochs"] < config.epochs and ssp["pretrain_seconds"] > 0


def test_the_epochs_split_between_pretext_and_supervised_stages():
    class Share:
        def __init__(self, share):
            self.share = share

        head = views = loss = staticmethod(lambda *a: None)

    one, two = [Stage("main", 1.0)], [Stage("a", 0.7), Stage("b", 0.3)]
    assert schedule_epochs(None, one, 4) == (0, [4])
    assert schedule_epochs(Share(0.2), one, 4) == (1, [3])  # at least one pretext epoch
    assert schedule_epochs(Share(0.5), one, 4) == (2, [2])
    assert schedule_epochs(Share(0.9), one, 4) == (3, [1])  # at least one supervised epoch
    assert schedule_epochs(Share(0.5), two, 10) == (5, [4, 1])  # the rest split as stage_epochs splits it
    assert schedule_epochs(Share(0.9), two, 4) == (2, [1, 1])  # every stage keeps an epoch
    with pytest.raises(BenchmarkError, match="at least 3 epochs"):
        schedule_epochs(Share(0.5), two, 2)
    for bad in (0.0, 1.0, "half"):
        with pytest.raises(BenchmarkError, match="share"):
            schedule_epochs(Share(bad), one, 4)


def test_views_must_give_one_input_per_row(config):
    class Halving(SpyPretext):
        def views(self, x, generator):
            return x[: x.shape[0] // 2], torch.zeros(x.shape[0] // 2, dtype=torch.long)

    with pytest.raises(BenchmarkError, match="one input per row"):
        DeepEngine().fit(make_image_split(), Recipe(pretrain=Halving()), config, seed=0, device="cpu")


def test_a_pretext_component_without_its_methods_is_refused(config):
    class NoHead:
        share = 0.5

        def views(self, x, generator):
            return x, x

    with pytest.raises(BenchmarkError, match="no head, loss"):
        DeepEngine().fit(make_image_split(), Recipe(pretrain=NoHead()), config, seed=0, device="cpu")


def test_the_stacked_and_classical_engines_refuse_pretraining(config):
    recipes = [Recipe(pretrain=SpyPretext()), Recipe()]
    reason = stack_conflicts(recipes, [config, config])
    assert reason is not None and "pretrain" in reason
    assert stack_conflicts([Recipe(), Recipe()], [config, config]) is None

    class PoolLoss:
        uses_unlabeled = True

        def __call__(self, logits, target, epoch):
            return nn.functional.cross_entropy(logits, target)

    reason = stack_conflicts([Recipe(loss=PoolLoss()), Recipe()], [config, config])
    assert reason is not None and "unlabeled pool" in reason
    with pytest.raises(BenchmarkError, match="pretrain"):
        Recipe(pretrain=SpyPretext()).check_engine("classical", CLASSICAL_HOOKS)


def test_pretraining_uses_the_original_rows_when_a_part_resamples(config):
    class Duplicating:
        space = "features"

        def resample(self, X, y, seed):
            return np.concatenate([X, X[y == 2]]), np.concatenate([y, y[y == 2]])

    split = make_image_split()
    spy = SpyPretext()
    model = DeepEngine().fit(split, Recipe(pretrain=spy, resample=Duplicating()), copy.copy(config), seed=0,
                             device="cpu")
    assert model.timings["training_rows"] > len(split.train)
    seen = torch.cat([x for x, _ in spy.view_calls])
    train = torch.as_tensor(split.train.X).float().div(255)
    # two pretext epochs = two shuffled passes over the original rows: each seen exactly twice (over the
    # resampled set, the duplicated minority images would come up more often)
    counts = [(seen == row).flatten(1).all(1).sum().item() for row in train]
    assert model.timings["pretrain_epochs"] == 2 and set(counts) == {2}
