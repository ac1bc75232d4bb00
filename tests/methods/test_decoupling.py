"""Decoupling rows (Kang et al. 2020): tau-normalisation against hand computation, LWS's scaled head,
cRT's schedule; end to end through the deep engine where it hands over the head."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import balanced_accuracy_score
from torch import nn

from benchmark.errors import BenchmarkError
from benchmark.methods import method_registry
from benchmark.methods.base import MethodContext
from benchmark.methods.resampling.batch_sampling import ClassBalancedSampler
from benchmark.methods.stages.decoupling import (
    LearnableWeightScaling,
    TauNormalisation,
    balanced_accuracy,
    tau_normalised_weights,
)
from benchmark.testing import make_image_split
from benchmark.training.base import TrainingConfig
from benchmark.training.deep import DeepEngine


def linear_head(seed: int = 0, classes: int = 4, dim: int = 6) -> nn.Module:
    """A backbone-shaped module whose head has very unequal class norms (as after imbalanced training)."""
    torch.manual_seed(seed)
    head = nn.Linear(dim, classes)
    with torch.no_grad():
        head.weight.mul_(torch.tensor([4.0, 2.0, 1.0, 0.5])[:classes, None])
    return nn.ModuleDict({"head": head})


def test_tau_zero_changes_nothing_and_tau_one_gives_unit_norm_class_weights():
    model = linear_head()
    W, b = model["head"].weight.detach(), model["head"].bias.detach()
    assert torch.equal(tau_normalised_weights(W, 0.0), W)
    assert torch.allclose(tau_normalised_weights(W, 1.0).norm(dim=1), torch.ones(4), atol=1e-6)
    x = torch.randn(10, 6)
    logits = model["head"](x).detach().numpy()
    for tau in (0.0, 0.5, 1.0):
        component = TauNormalisation(tau=tau)
        component.attach(model)
        component.fit(logits, np.zeros(10, dtype=np.int64), [1, 1, 1, 1])
        # the logits of the head with tau-normalised weights (and its bias scaled alike), by hand
        scale = W.norm(dim=1) ** -tau
        expected = x @ tau_normalised_weights(W, tau).T + b * scale
        assert np.allclose(component.adjust(logits), expected.numpy(), atol=1e-5)
    zero = TauNormalisation(tau=0.0)
    zero.attach(model)
    assert np.array_equal(zero.adjust(logits), logits.astype(np.float32))


def test_tau_is_chosen_on_validation_by_balanced_accuracy():
    model = linear_head()
    W = model["head"].weight.detach()
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 25)
    # embeddings near each class's direction: the large-norm classes win too often before normalising
    x = torch.as_tensor(0.6 * tau_normalised_weights(W, 1.0).numpy()[y] + rng.normal(scale=0.5, size=(100, 6)),
                        dtype=torch.float32)
    logits = (x @ W.T).numpy()
    component = TauNormalisation()
    component.attach(model)
    component.fit(logits, y, [100, 50, 20, 5])
    scores = component.validation_scores
    assert set(scores) == set(component.grid) and component.tau in scores
    assert scores[component.tau] == max(scores.values()) > scores[0.0]
    assert all(scores[t] < scores[component.tau] for t in scores if t < component.tau)  # smallest of the best
    adjusted = component.adjust(logits)
    assert balanced_accuracy(adjusted, y) == pytest.approx(balanced_accuracy_score(y, adjusted.argmax(1)))
    norms = W.norm(dim=1).numpy()
    assert component.fitted() == {"tau": component.tau, "norm_ratio": pytest.approx(norms.max() / norms.min(), abs=1e-4)}


def test_tau_normalisation_without_the_head_is_a_clear_error():
    component = TauNormalisation()
    with pytest.raises(BenchmarkError, match="attach"):
        component.fit(np.zeros((3, 2)), np.array([0, 1, 0]), [2, 1])
    with pytest.raises(BenchmarkError, match="tau"):
        TauNormalisation(tau=-1.0)
    with pytest.raises(BenchmarkError, match="nn.Linear"):
        component.attach(nn.ModuleDict({"head": nn.Conv1d(1, 1, 1)}))


def test_lws_trains_only_the_class_scales_and_folds_into_an_equal_linear_head():
    head = linear_head()["head"]
    W, b = head.weight.detach().clone(), head.bias.detach().clone()
    wrapped = LearnableWeightScaling(head)
    assert [n for n, p in wrapped.named_parameters() if p.requires_grad] == ["scales"]
    optimizer = torch.optim.SGD([p for p in wrapped.parameters() if p.requires_grad], lr=0.5)
    x, y = torch.randn(32, 6), torch.randint(0, 4, (32,))
    nn.functional.cross_entropy(wrapped(x), y).backward()
    optimizer.step()
    assert torch.equal(head.weight, W) and torch.equal(head.bias, b)  # frozen
    assert not torch.equal(wrapped.scales.detach(), torch.ones(4))
    folded = wrapped.fold()
    assert isinstance(folded, nn.Linear) and folded.weight.requires_grad
    assert torch.allclose(folded(x), wrapped(x), atol=1e-6)
    assert torch.allclose(folded.weight, W * wrapped.scales.detach()[:, None])


def test_crt_retrains_a_reinitialised_head_with_class_balanced_sampling():
    split = make_image_split()
    recipe = method_registry.get("crt").build({"first_stage_share": 0.8}, MethodContext.from_split(split, "deep", 10))
    first, second = recipe.stages
    assert (first.train, first.reinit_head, first.batch_sampler) == ("all", False, None)
    assert (second.train, second.reinit_head) == ("head", True)
    assert isinstance(second.batch_sampler, ClassBalancedSampler) and second.batch_sampler.q == 0.0
    assert (first.epochs, second.epochs) == pytest.approx((0.8, 0.2))


def test_tau_normalisation_end_to_end_uses_the_trained_heads_norms():
    split = make_image_split()
    recipe = method_registry.get("tau-normalisation").build({}, MethodContext.from_split(split, "deep", 2))
    model = DeepEngine().fit(split, recipe, TrainingConfig(epochs=2, batch_size=16, lr=3e-3), seed=0, device="cpu")
    norms = model.model.head.weight.detach().norm(dim=1).numpy()
    logits = model.logits(split.test.X)
    z = logits * norms ** -recipe.adjust.tau
    expected = np.exp(z - z.max(1, keepdims=True))
    assert np.allclose(model.predict_proba(split.test.X), expected / expected.sum(1, keepdims=True), atol=1e-5)


def test_lws_end_to_end_rescales_the_trained_head_rows_and_freezes_features():
    split = make_image_split()
    config = TrainingConfig(epochs=2, batch_size=16, lr=3e-2)
    plain = DeepEngine().fit(split, method_registry.get("baseline").build({}, None), TrainingConfig(
        epochs=1, batch_size=16, lr=3e-2), seed=0, device="cpu")
    recipe = method_registry.get("lws").build({"first_stage_share": 0.5}, MethodContext.from_split(split, "deep", 2))
    lws = DeepEngine().fit(split, recipe, config, seed=0, device="cpu")
    head = lws.model.head
    assert isinstance(head, nn.Linear)
    for (k, v), (k2, v2) in zip(plain.model.features.state_dict().items(), lws.model.features.state_dict().items(),
                                strict=True):
        assert k == k2 and torch.equal(v, v2)
    W0, W = plain.model.head.weight.detach(), head.weight.detach()
    scales = (W * W0).sum(1) / (W0 * W0).sum(1)
    assert torch.allclose(W, scales[:, None] * W0, atol=1e-5)  # every class row only rescaled
    assert torch.allclose(head.bias.detach(), scales * plain.model.head.bias.detach(), atol=1e-5)
    assert not torch.allclose(scales, torch.ones_like(scales))
