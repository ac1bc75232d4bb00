"""On a GPU: graph-safe augmentation and mixing replay as CUDA graphs with the draws of eager steps,
and fresh draws at every replay (nothing frozen into the graph).

- each converted component alone, captured with the trial's generator registered: replay k gives
  what eager call k gives from the same generator state, and consecutive replays differ;
- a few training steps (:class:`StepRunner`) replayed equal the eager steps: the augmented batches,
  the losses and the trained weights; the augmented batches differ from step to step;
- whole (short) trainings through the engine, graphed against eager, for rows of each kind; one with
  the small CNN, whose dropout draws from the default CUDA generator the warm-up also advanced.

Eager and graphed runs draw the same numbers: a graph records the generator's philox seed and offset
as device values that each replay advances by the graph's total, which is where the eager calls
would have left it, and ``capture_step`` undoes the warm-up's draws. All are marked ``gpu``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from benchmark.methods import MethodContext, method_registry
from benchmark.testing import default_params, make_image_split
from benchmark.training.base import TrainingConfig
from benchmark.training.deep import DeepEngine, TrainState
from benchmark.training.step import StepRunner, default_loss, make_optimizer
from tests.methods.test_graph_safe_augmentation import CONVERTED, COUNTS, batch_for, component

CUDA = torch.device("cuda")
REPLAYS = 6  # CutMix leaves a batch unmixed with probability 1/2: six replays all alike happen 1 in 32


def cuda_state(y: torch.Tensor, seed: int) -> TrainState:
    gen = torch.Generator(device=CUDA).manual_seed(seed)
    return TrainState(y, torch.tensor(COUNTS, device=CUDA), len(COUNTS), 4, gen, CUDA)


def clones(out) -> tuple[torch.Tensor, torch.Tensor]:
    return out[0].clone(), out[1].clone()


@pytest.mark.gpu
@pytest.mark.parametrize("name", CONVERTED)
def test_a_captured_component_replays_the_eager_draws_and_draws_anew_each_replay(name):
    augment = component(name)
    x, y = (t.to(CUDA) for t in batch_for(augment))
    state = cuda_state(y, seed=0)
    eager = [clones(augment.augment(x, y, state)) for _ in range(REPLAYS)]
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # the warm-up: device constants are made here, outside the capture
        augment.augment(x, y, state)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    graph.register_generator_state(state.generator)
    with torch.cuda.graph(graph):
        static = augment.augment(x, y, state)
    state.generator.manual_seed(0)  # back to the eager calls' starting point
    replayed = []
    for _ in range(REPLAYS):
        graph.replay()
        replayed.append(clones(static))
    for (ex, et), (rx, rt) in zip(eager, replayed, strict=True):
        assert torch.allclose(ex, rx, rtol=0, atol=1e-6) and torch.allclose(et, rt, rtol=0, atol=1e-6)
    changes = [not torch.equal(a[0], b[0]) for a, b in zip(replayed, replayed[1:], strict=False)]
    assert any(changes) if name == "cutmix" else all(changes)  # CutMix leaves half of its batches as they are


class Recording:
    """Wraps an augment component and keeps its last output: in a captured step that is the graph's
    own buffer, which each replay overwrites."""

    graph_safe = True

    def __init__(self, inner):
        self.inner, self.last = inner, None

    def augment(self, x, y, state):
        self.last = self.inner.augment(x, y, state)
        return self.last


def train_steps(name: str, use_graphs: bool, steps: int = 4):
    """``steps`` one-batch epochs of a linear model with the row's component; the augmented batch and
    the loss after each, and the final weights."""
    augment = Recording(component(name))
    x, y = (t.to(CUDA) for t in batch_for(augment.inner))
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(x[0].numel(), len(COUNTS))).to(CUDA)
    config = TrainingConfig(batch_size=x.shape[0], lr=0.02, optimizer="sgd", precision="fp32")
    optimizer = make_optimizer(model.parameters(), config, CUDA, capturable=use_graphs)
    runner = StepRunner(model, optimizer, x, y, lambda b: b, augment, default_loss, cuda_state(y, seed=3), config,
                        CUDA, use_graphs)
    batches, losses = [], []
    for _ in range(steps):
        runner.run_epoch(torch.arange(x.shape[0], device=CUDA))
        batches.append(augment.last[0].clone())
        losses.append(float(runner.total))
    assert (runner.capture_seconds > 0) == use_graphs
    return batches, losses, [p.detach().clone() for p in model.parameters()]


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["mixup", "cutmix-mixup", "fmix", "remix", "pad-crop", "random-erasing",
                                  "minority-embedding-mixup"])
def test_replayed_training_steps_equal_eager_steps_and_draw_anew_each_step(name):
    eager, graphed = train_steps(name, use_graphs=False), train_steps(name, use_graphs=True)
    for a, b in zip(eager[0], graphed[0], strict=True):
        assert torch.allclose(a, b, rtol=0, atol=1e-6)
    assert np.allclose(eager[1], graphed[1], rtol=1e-5, atol=1e-6)
    for a, b in zip(eager[2], graphed[2], strict=True):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)
    assert all(not torch.equal(a, b) for a, b in zip(graphed[0], graphed[0][1:], strict=False))


CONFIG = TrainingConfig(epochs=2, batch_size=16, lr=3e-3, model="resnet32", precision="fp32", optimizer="sgd",
                        weight_decay=1e-4)


def fit_both(name: str, config: TrainingConfig):
    split = make_image_split()
    method = method_registry.get(name)
    params = default_params(method, split, "deep", config.epochs)

    def fit(cfg):
        recipe = method.build(params, MethodContext.from_split(split, "deep", epochs=cfg.epochs))
        return DeepEngine().fit(split, recipe, cfg, seed=1, device="cuda")

    eager, graphed = fit(replace(config, cuda_graphs=False)), fit(config)
    assert eager.timings["graph_capture_seconds"] == 0.0
    assert graphed.timings["graph_capture_seconds"] > 0.0, "the graphed run fell back to eager steps"
    return split, eager, graphed


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["mixup", "cutmix", "fmix", "remix-drw", "random-resized-crop", "colour-jitter",
                                  "embedding-mixup"])
def test_graphed_trainings_equal_eager_trainings_with_augmentation(name):
    split, eager, graphed = fit_both(name, CONFIG)
    z_eager, z_graph = eager.logits(split.test.X), graphed.logits(split.test.X)
    assert np.abs(z_eager - z_graph).max() <= 1e-3 * max(1.0, np.abs(z_eager).max())


@pytest.mark.gpu
def test_dropout_draws_match_too_the_warm_up_is_undone():
    """The small CNN's dropout draws from the default CUDA generator, which the capture's warm-up step
    advances: capture_step puts it back, so a graphed run with mixing still equals the eager one."""
    split, eager, graphed = fit_both("mixup", replace(CONFIG, model="small-cnn"))
    assert np.abs(eager.logits(split.test.X) - graphed.logits(split.test.X)).max() < 1e-3
