"""The deep engine: every hook at its point with the right arguments, seeds, divergence, stages,
feature-space stages, stacked trials; on a GPU also CUDA graphs against eager steps."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

import benchmark.training.deep as deep
from benchmark.errors import BenchmarkError, DivergedError
from benchmark.methods.base import Recipe, Stage
from benchmark.testing import make_image_split
from benchmark.training.base import TrainingConfig
from benchmark.training.deep import DeepEngine
from benchmark.training.stacked import fit_many, fit_stacked, stack_conflicts


@pytest.fixture
def config() -> TrainingConfig:
    return TrainingConfig(epochs=3, batch_size=16, lr=3e-3)


class RecordingResampler:
    space = "features"

    def __init__(self):
        self.calls = []

    def resample(self, X, y, seed):
        self.calls.append((X.copy(), y.copy(), seed))
        keep = np.r_[np.arange(len(y)), np.flatnonzero(y == 2)]  # duplicate the rarest class
        return X[keep], y[keep]


class FixedOrderSampler:
    """Reverses the row order each epoch, so the batches are known in advance."""

    def __init__(self):
        self.calls = []

    def batch_indices(self, epoch, state):
        self.calls.append((epoch, state.epoch, state.y.clone(), state.stage))
        return torch.arange(state.y.shape[0] - 1, -1, -1)


class RecordingAugment:
    def __init__(self):
        self.calls = []

    def augment(self, x, y, state):
        self.calls.append((x.clone(), y.clone(), state.epoch))
        return x, y


class RecordingLoss:
    def __init__(self):
        self.calls = []

    def __call__(self, logits, target, epoch):
        self.calls.append((tuple(logits.shape), target.clone(), epoch))
        return torch.nn.functional.cross_entropy(logits, target)


class RecordingAdjust:
    def __init__(self):
        self.fit_calls, self.adjust_calls = [], 0

    def fit(self, val_logits, val_y, train_counts):
        self.fit_calls.append((val_logits.copy(), val_y.copy(), list(train_counts)))

    def adjust(self, logits):
        self.adjust_calls += 1
        return logits


def test_every_hook_runs_at_its_point_with_its_arguments(config):
    split = make_image_split()
    rec = Recipe(resample=RecordingResampler(), batch_sampler=FixedOrderSampler(), augment=RecordingAugment(),
                 loss=RecordingLoss(), adjust=RecordingAdjust())
    epochs_seen = []
    model = DeepEngine().fit(split, rec, config, seed=7, device="cpu",
                             on_epoch=lambda e, p: epochs_seen.append((e, p.shape, np.allclose(p.sum(1), 1))))

    # resample: once, on the training rows only, with the seed
    (X, y, seed), = rec.resample.calls
    assert seed == 7 and np.array_equal(X, split.train.X) and np.array_equal(y, split.train.y)
    y_res = np.r_[split.train.y, split.train.y[split.train.y == 2]]
    n = len(y_res)
    # batch_sampler: once per epoch, with the epoch and the resampled labels
    assert [(c[0], c[1]) for c in rec.batch_sampler.calls] == [(0, 0), (1, 1), (2, 2)]
    assert all(np.array_equal(c[2].numpy(), y_res) for c in rec.batch_sampler.calls)
    # augment: every batch, images as floats in [0, 1], labels of exactly the sampler's rows; an epoch
    # trains the original split's size in samples: the sampler's longer draw is cut there
    n_orig = len(split.train)
    order = np.arange(n - 1, -1, -1)[:n_orig]
    batches = [order[s : s + 16] for s in range(0, n_orig, 16)]
    batches = [b for b in batches if len(b) > 1]
    assert len(rec.augment.calls) == 3 * len(batches)
    for k, (x, yb, epoch) in enumerate(rec.augment.calls):
        rows = batches[k % len(batches)]
        assert epoch == k // len(batches)
        assert x.dtype == torch.float32 and x.shape == (len(rows), 1, 8, 8) and 0 <= x.min() and x.max() <= 1
        assert np.array_equal(yb.numpy(), y_res[rows])
        src = np.r_[split.train.X, split.train.X[split.train.y == 2]][rows]
        assert torch.allclose(x, torch.as_tensor(src).float() / 255)
    # loss: every batch, logits (B, C), the augmented targets, the epoch
    assert [(c[0], c[2]) for c in rec.loss.calls] == [((len(b), 3), e) for e in range(3) for b in batches]
    # per-epoch validation reports: class probabilities of every validation row
    assert epochs_seen == [(e, (len(split.val), 3), True) for e in range(3)]
    # adjust: fitted once on validation logits, applied at prediction
    (val_logits, val_y, counts), = rec.adjust.fit_calls
    assert val_logits.shape == (len(split.val), 3) and np.array_equal(val_y, split.val.y)
    assert counts == split.class_counts("train")
    assert rec.adjust.adjust_calls == 0
    proba = model.predict_proba(split.test.X)
    assert rec.adjust.adjust_calls == 1 and proba.shape == (len(split.test), 3)
    assert model.timings["epochs"] == 3 and model.timings["training_rows"] == n
    assert model.timings["train_samples"] == 3 * sum(map(len, batches)) and model.timings["train_steps"] == 3 * len(batches)


def test_same_seed_same_predictions_other_seed_others(config):
    split = make_image_split()
    runs = [DeepEngine().fit(split, Recipe(), config, seed=s, device="cpu").predict_proba(split.test.X)
            for s in (3, 3, 4)]
    assert np.array_equal(runs[0], runs[1])
    assert not np.allclose(runs[0], runs[2])


def test_nan_loss_ends_the_trial_as_diverged(config):
    split = make_image_split()

    def nan_loss(logits, target, epoch):
        return logits.sum() * float("nan")

    with pytest.raises(DivergedError, match="diverged"):
        DeepEngine().fit(split, Recipe(loss=nan_loss), config, seed=0, device="cpu")


def _capture_models(monkeypatch):
    built = []
    original = deep.build_model

    def spy(*args, **kwargs):
        built.append(original(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(deep, "build_model", spy)
    return built


def test_head_only_stage_freezes_features_and_reinitialises_head(monkeypatch):
    split = make_image_split()
    built = _capture_models(monkeypatch)
    reinit = []
    monkeypatch.setattr(deep.Backbone, "reset_head", lambda self: (reinit.append(1), self.head.reset_parameters()))
    snaps = {}

    def on_epoch(epoch, proba):
        snaps[epoch] = {k: v.detach().clone() for k, v in built[0].state_dict().items()}

    stages = [Stage("all", 0.5), Stage("head", 0.5, train="head", reinit_head=True)]
    config = TrainingConfig(epochs=4, batch_size=16, lr=3e-3)
    DeepEngine().fit(split, Recipe(stages=stages), config, seed=0, device="cpu", on_epoch=on_epoch)
    assert len(reinit) == 1
    features = [k for k in snaps[1] if k.startswith("features.")]
    assert features and all(torch.equal(snaps[1][k], snaps[3][k]) for k in features)
    assert not torch.equal(snaps[1]["features.0.weight"], snaps[0]["features.0.weight"])  # trained in stage 1
    assert not torch.equal(snaps[1]["head.weight"], snaps[3]["head.weight"])


class DoubleMinority:
    """A feature-space component: duplicates the embeddings of class 2 with a small shift."""

    def __init__(self):
        self.calls = []

    def resample(self, features, y, seed):
        self.calls.append((features.clone(), y.clone(), seed))
        extra = features[y == 2] + 0.01
        return torch.cat([features, extra]), torch.cat([y, y[y == 2]])


def test_feature_resample_stage_trains_the_head_on_resampled_embeddings(monkeypatch):
    split = make_image_split()
    built = _capture_models(monkeypatch)
    component, sampler = DoubleMinority(), FixedOrderSampler()
    snaps = {}
    stages = [Stage("train", 0.5), Stage("eos", 0.5, feature_resample=component, batch_sampler=sampler)]
    config = TrainingConfig(epochs=4, batch_size=16, lr=3e-3)

    def on_epoch(epoch, proba):
        snaps[epoch] = {k: v.detach().clone() for k, v in built[0].state_dict().items()}

    model = DeepEngine().fit(split, Recipe(stages=stages), config, seed=11, device="cpu", on_epoch=on_epoch)
    (features, y, seed), = component.calls
    assert seed == 11 and np.array_equal(y.numpy(), split.train.y)
    # the embeddings handed over are the penultimate layer of the model trained by the first stage
    emb = model.embed(split.train.X)
    assert features.shape == (len(split.train), built[0].embedding_dim)
    features_after = {k: v for k, v in snaps[1].items() if k.startswith("features.")}
    assert all(torch.equal(features_after[k], snaps[3][k]) for k in features_after)
    assert np.allclose(features.numpy(), emb, atol=1e-5)
    # the stage's batch sampler saw the resampled labels
    n_new = len(split.train) + int((split.train.y == 2).sum())
    assert [c[0] for c in sampler.calls] == [2, 3] and all(c[2].shape[0] == n_new for c in sampler.calls)
    assert model.timings["feature_resample_seconds"] > 0
    assert not torch.equal(snaps[1]["head.weight"], snaps[3]["head.weight"])


def test_bad_stage_and_bad_feature_resample_are_clear_errors(config):
    split = make_image_split()
    with pytest.raises(BenchmarkError, match="'all' or 'head'"):
        DeepEngine().fit(split, Recipe(stages=[Stage("x", 1.0, train="body")]), config, seed=0, device="cpu")

    class Wrong:
        def resample(self, features, y, seed):
            return features[:, :3], y

    stages = [Stage("a", 0.5), Stage("b", 0.5, feature_resample=Wrong())]
    with pytest.raises(BenchmarkError, match="feature_resample returned"):
        DeepEngine().fit(split, Recipe(stages=stages), config, seed=0, device="cpu")
    with pytest.raises(BenchmarkError, match="does not fit"):
        DeepEngine().fit(split, Recipe(), replace(config, model="mlp"), seed=0, device="cpu")
    with pytest.raises(BenchmarkError, match="does not run"):
        DeepEngine().fit(split, Recipe(classifier=lambda seed: None), config, seed=0, device="cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cuda_without_gpu_is_an_error_before_any_work(config):
    with pytest.raises(BenchmarkError, match="no CUDA device"):
        DeepEngine().fit(make_image_split(), Recipe(), config, seed=0, device="cuda")


# -- stacked trials ------------------------------------------------------------------------------
def test_a_stacked_member_trains_exactly_like_a_single_trial():
    """ResNet-32 has no dropout, so member 0 of a stack and a lone trial with its seed take the same
    steps: this checks the vmapped model, the batch-norm statistics and the stacked AdamW and SGD."""
    split = make_image_split()
    for optimizer in ("adam", "sgd"):
        config = TrainingConfig(epochs=1, batch_size=16, lr=3e-3, weight_decay=1e-3, model="resnet32",
                                optimizer=optimizer)
        lone = DeepEngine().fit(split, Recipe(), config, seed=5, device="cpu")
        stack = fit_stacked(split, [Recipe(), Recipe()], [config, replace(config, lr=1e-2)], [5, 6], device="cpu")
        assert np.abs(lone.predict_proba(split.test.X) - stack[0].predict_proba(split.test.X)).max() < 1e-4
        assert not np.allclose(stack[0].predict_proba(split.test.X), stack[1].predict_proba(split.test.X))
        assert stack[0].timings["stacked_trials"] == 2


def test_stacked_members_end_alone_when_pruned_or_diverged():
    split = make_image_split()
    config = TrainingConfig(epochs=3, batch_size=16, lr=3e-3)
    reports = []

    class Pruned(Exception):
        pass

    def on_epoch(member, epoch, proba):
        reports.append((member, epoch))
        if member == 1 and epoch == 1:
            raise Pruned("pruned after epoch 2")

    configs = [config, config, replace(config, lr=1e12)]
    out = fit_stacked(split, [Recipe()] * 3, configs, [0, 1, 2], device="cpu", on_epoch=on_epoch)
    assert isinstance(out[0], deep.DeepModel) and isinstance(out[1], Pruned) and isinstance(out[2], DivergedError)
    assert sorted(reports) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)]
    assert (out[0].predict_proba(split.test.X).argmax(1) == split.test.y).mean() > 0.5


def test_fit_many_stacks_what_it_can_and_trains_the_rest_one_by_one():
    split = make_image_split()
    config = TrainingConfig(epochs=1, batch_size=16, lr=3e-3)
    assert stack_conflicts([Recipe()] * 2, [config, replace(config, lr=0.1)]) is None
    assert "batch_size" not in (stack_conflicts([Recipe()] * 2, [config, replace(config, batch_size=8)]) or "x")
    assert stack_conflicts([Recipe()] * 2, [config, replace(config, batch_size=8)]) is not None
    assert "augment" in stack_conflicts([Recipe(augment=RecordingAugment())], [config])
    recipes = [Recipe(augment=RecordingAugment()), Recipe(augment=RecordingAugment())]
    out = fit_many(split, recipes, [config] * 2, [0, 1], device="cpu")
    lone = DeepEngine().fit(split, Recipe(augment=RecordingAugment()), config, seed=1, device="cpu")
    assert np.array_equal(out[1].predict_proba(split.test.X), lone.predict_proba(split.test.X))
    assert "stacked_trials" not in out[0].timings


# -- on a GPU ------------------------------------------------------------------------------------
@pytest.mark.gpu
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_cuda_graphs_take_the_same_steps_as_eager_training_and_repeat_exactly(optimizer):
    split = make_image_split()
    config = TrainingConfig(epochs=3, batch_size=16, lr=3e-3, model="resnet32", precision="fp32", optimizer=optimizer,
                            weight_decay=1e-4)
    eager = DeepEngine().fit(split, Recipe(), replace(config, cuda_graphs=False), seed=1, device="cuda")
    graphed = [DeepEngine().fit(split, Recipe(), config, seed=1, device="cuda") for _ in range(2)]
    p = [m.predict_proba(split.test.X) for m in (eager, *graphed)]
    assert np.abs(p[0] - p[1]).max() < 1e-3
    assert np.array_equal(p[1], p[2])


@pytest.mark.gpu
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_cuda_graphs_follow_a_learning_rate_schedule(optimizer):
    """Steps are re-captured when the scheduled rate changes (AdamW stages with a changing rate run
    eagerly): either way they match eager steps."""
    split = make_image_split()
    config = TrainingConfig(epochs=4, batch_size=16, lr=3e-2, model="resnet32", precision="fp32", optimizer=optimizer,
                            lr_schedule="step", lr_steps=(0.5,), warmup_epochs=1)
    eager = DeepEngine().fit(split, Recipe(), replace(config, cuda_graphs=False), seed=1, device="cuda")
    graphed = DeepEngine().fit(split, Recipe(), config, seed=1, device="cuda")
    constant = DeepEngine().fit(split, Recipe(), replace(config, lr_schedule="constant", warmup_epochs=0), seed=1,
                                device="cuda")
    # logits, not probabilities: a fast-learning tiny model saturates its probabilities either way
    z = [m.logits(split.test.X) for m in (eager, graphed, constant)]
    assert np.abs(z[0] - z[1]).max() < 1e-2 * np.abs(z[0]).max()
    assert np.abs(z[0] - z[2]).max() > 1e-2 * np.abs(z[0]).max()


@pytest.mark.gpu
def test_a_step_that_cannot_be_captured_trains_eagerly_and_leaves_the_generator_usable():
    """A host sync inside a component that claims to be graph-safe aborts the capture: the stage falls
    back to eager steps with the same result, and dropout (the CUDA generator) still works after."""
    split = make_image_split()  # ResNet-32 has no dropout: eager and graphed runs draw no random numbers
    config = TrainingConfig(epochs=2, batch_size=16, lr=3e-3, precision="fp32", model="resnet32")

    def syncing_loss(logits, target, epoch):
        loss = torch.nn.functional.cross_entropy(logits, target)
        return loss * (1.0 + 0.0 * loss.item())  # .item() is illegal while capturing

    syncing_loss.graph_safe = True
    with pytest.warns(UserWarning, match="capture failed"):
        graphed = DeepEngine().fit(split, Recipe(loss=syncing_loss), config, seed=3, device="cuda")
    eager = DeepEngine().fit(split, Recipe(loss=syncing_loss), replace(config, cuda_graphs=False), seed=3,
                             device="cuda")
    assert np.abs(graphed.predict_proba(split.test.X) - eager.predict_proba(split.test.X)).max() < 1e-3
    torch.nn.functional.dropout(torch.ones(8, device="cuda"), 0.5)


@pytest.mark.gpu
def test_bf16_small_cnn_with_graphs_is_deterministic_and_learns():
    split = make_image_split()
    config = TrainingConfig(epochs=8, batch_size=16, lr=3e-3)
    p = [DeepEngine().fit(split, Recipe(), config, seed=2, device="cuda").predict_proba(split.test.X) for _ in range(2)]
    assert np.array_equal(p[0], p[1])
    assert (p[0].argmax(1) == split.test.y).mean() > 0.6


@pytest.mark.gpu
def test_stacked_trials_on_cuda_match_a_single_trial_and_divergence_is_caught():
    split = make_image_split()
    config = TrainingConfig(epochs=2, batch_size=16, lr=3e-3, model="resnet32", precision="fp32")
    lone = DeepEngine().fit(split, Recipe(), config, seed=5, device="cuda")
    stack = fit_stacked(split, [Recipe()] * 3, [config, config, replace(config, lr=1e12)], [5, 6, 7], device="cuda")
    # cuDNN runs fp32 convolutions in TF32 and a stack's are grouped, so the two agree closely, not exactly
    p_lone, p_stack = lone.predict_proba(split.test.X), stack[0].predict_proba(split.test.X)
    assert np.abs(p_lone - p_stack).mean() < 0.05 and (p_lone.argmax(1) == p_stack.argmax(1)).mean() > 0.9
    assert isinstance(stack[2], DivergedError)

    def nan_loss(logits, target, epoch):
        return logits.sum() * float("nan")

    nan_loss.graph_safe = True
    with pytest.raises(DivergedError):
        DeepEngine().fit(split, Recipe(loss=nan_loss), config, seed=0, device="cuda")


# -- learning-rate schedules -------------------------------------------------------------------------
def test_lr_factor_warmup_cosine_and_steps():
    from benchmark.training.base import lr_factor

    step = TrainingConfig(epochs=200, lr_schedule="step", warmup_epochs=5, lr_steps=(0.8, 0.9))
    assert [lr_factor(step, e, 200) for e in (0, 4)] == pytest.approx([1 / 6, 5 / 6])
    assert lr_factor(step, 5, 200) == 1.0 and lr_factor(step, 159, 200) == 1.0
    assert lr_factor(step, 160, 200) == pytest.approx(0.1) and lr_factor(step, 180, 200) == pytest.approx(0.01)
    assert lr_factor(step, 0, 200, warmup=False) == 1.0  # later stages do not warm up again
    cosine = TrainingConfig(epochs=10, lr_schedule="cosine")
    assert lr_factor(cosine, 0, 10) == 1.0 and lr_factor(cosine, 5, 10) == pytest.approx(0.5)
    with pytest.raises(BenchmarkError, match="lr_schedule"):
        TrainingConfig(lr_schedule="linear")


def test_a_schedule_scales_the_learning_rate_the_engine_uses(image_split):
    """A step at the first epoch (x0.1 throughout) trains exactly like a ten times smaller constant rate."""
    scheduled = TrainingConfig(epochs=2, batch_size=16, lr=3e-2, lr_schedule="step", lr_steps=(0.0,))
    constant = TrainingConfig(epochs=2, batch_size=16, lr=3e-3)
    a = DeepEngine().fit(image_split, Recipe(), scheduled, seed=0, device="cpu").predict_proba(image_split.test.X)
    b = DeepEngine().fit(image_split, Recipe(), constant, seed=0, device="cpu").predict_proba(image_split.test.X)
    c = DeepEngine().fit(image_split, Recipe(), replace(constant, lr=3e-2), seed=0,
                         device="cpu").predict_proba(image_split.test.X)
    assert np.allclose(a, b, atol=1e-6) and not np.allclose(a, c, atol=1e-4)
