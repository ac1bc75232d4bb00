"""On a GPU: the fast paths train exactly what the plain path trains, with real method hooks.

- every registered method whose loss is graph-safe, and every one with a batch sampler, takes the
  same steps replayed as CUDA graphs as eagerly (ResNet-32 in fp32: no dropout, so neither run draws
  from the CUDA generator; the graphed run must really have captured graphs);
- stacked trials (``fit_stacked``) equal single trials with a real loss (LDAM-DRW), a real batch
  sampler (class-balanced sampling) and real stages (two-stage learning, with its stage sampler).

All are marked ``gpu`` and skip without CUDA. The comparisons are of logits and probabilities on
the test rows after whole (short) trainings, with tolerances near fp32 rounding.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace

import numpy as np
import pytest
import torch

from benchmark.methods import MethodContext, method_registry
from benchmark.testing import default_params, make_binary_image_split, make_image_split
from benchmark.training.base import TrainingConfig
from benchmark.training.deep import DeepEngine
from benchmark.training.stacked import fit_stacked, stack_conflicts
from benchmark.training.step import graph_safe

CONFIG = TrainingConfig(epochs=3, batch_size=16, lr=3e-3, model="resnet32", precision="fp32", optimizer="sgd",
                        weight_decay=1e-4)


def image_split_for(method):
    """The first tiny image split the method applies to (binary-only losses need the binary one)."""
    for make in (make_image_split, make_binary_image_split):
        split = make()
        if method.not_applicable_reason(split, "deep", CONFIG) is None:
            return split
    return None


def build(method, split, epochs: int = CONFIG.epochs):
    """The method's recipe at the first configuration a study would try."""
    params = default_params(method, split, "deep", epochs)
    return method.build(params, MethodContext.from_split(split, "deep", epochs=epochs))


def graph_cases() -> list[str]:
    """Methods whose per-batch hooks all allow graph capture and that set a loss or a batch sampler
    (recipe or stage), on a split they apply to: the graph replay runs with their own components."""
    names = []
    for name, method in method_registry.items():
        if "deep" not in method.engines or "image" not in method.modalities:
            continue
        split = image_split_for(method)
        if split is None:
            continue
        recipe = build(method, split)
        stages = recipe.stages or []
        losses = [recipe.loss, *(s.loss for s in stages)]
        samplers = [recipe.batch_sampler, *(s.batch_sampler for s in stages)]
        augments = [recipe.augment, *(s.augment for s in stages)]
        per_batch_safe = all(graph_safe(c) for c in losses + augments)
        if per_batch_safe and any(c is not None for c in losses + samplers) and \
                not any(s.feature_resample is not None for s in stages):
            names.append(name)
    return names


@pytest.mark.gpu
@pytest.mark.parametrize("method_name", graph_cases())
def test_graph_replayed_steps_equal_eager_steps_with_the_methods_loss_and_sampler(method_name):
    method = method_registry.get(method_name)
    split = image_split_for(method)
    eager = DeepEngine().fit(split, build(method, split), replace(CONFIG, cuda_graphs=False), seed=1, device="cuda")
    graphed = DeepEngine().fit(split, build(method, split), CONFIG, seed=1, device="cuda")
    assert eager.timings["graph_capture_seconds"] == 0.0
    assert graphed.timings["graph_capture_seconds"] > 0.0, "the graphed run fell back to eager steps"
    z_eager, z_graph = eager.logits(split.test.X), graphed.logits(split.test.X)
    assert np.abs(z_eager - z_graph).max() <= 1e-3 * max(1.0, np.abs(z_eager).max())
    assert np.abs(eager.predict_proba(split.test.X) - graphed.predict_proba(split.test.X)).max() < 1e-3


@contextmanager
def no_tf32():
    """Full fp32 convolutions and matmuls: a stack's grouped convolutions and a lone trial's plain ones
    then differ by summation order only, not by TF32's 10-bit mantissas."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def assert_stacked_member_equals_lone_trial(method_name: str, device: str, tolerance: float) -> None:
    """Member 0 of a stack and a lone trial with its seed take the same steps with the method's own
    hooks (fresh components for each run: samplers and losses may keep state)."""
    method = method_registry.get(method_name)
    split = make_image_split()
    config = replace(CONFIG, epochs=2, cuda_graphs=False)
    recipes = [build(method, split, config.epochs) for _ in range(2)]
    configs = [config, replace(config, lr=1e-2)]
    assert stack_conflicts(recipes, configs) is None
    lone = DeepEngine().fit(split, build(method, split, config.epochs), config, seed=5, device=device)
    stack = fit_stacked(split, recipes, configs, [5, 6], device=device)
    assert stack[0].timings["stacked_trials"] == 2
    p_lone, p_stack = lone.predict_proba(split.test.X), stack[0].predict_proba(split.test.X)
    assert np.abs(p_lone - p_stack).max() < tolerance, method_name
    assert not np.allclose(p_stack, stack[1].predict_proba(split.test.X))  # the members really differ


@pytest.mark.gpu
@pytest.mark.parametrize("method_name", ["ldam-drw", "class-balanced-sampling", "two-stage-learning"])
def test_stacked_trials_equal_single_trials_with_a_loss_a_sampler_and_stages(method_name):
    with no_tf32():
        assert_stacked_member_equals_lone_trial(method_name, "cuda", tolerance=2e-3)
