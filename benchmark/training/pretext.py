"""The deep engine's pre-training stage: ``Backbone.features`` trained on a pretext task without labels.

A recipe's ``pretrain`` component (a :class:`~benchmark.methods.base.Pretext`) makes the engine run
this stage before the supervised ones (Yang & Xu 2020, "self-supervised pre-training"). It reuses the
supervised hot loop, :class:`~benchmark.training.step.StepRunner`, unchanged: the trained module is
:class:`PretextNetwork` (the backbone's own ``features`` module, not a copy, under the component's
head), the component's ``views`` stands where the ``augment`` hook stands, and its ``loss`` where the
loss does. The runner gathers a label tensor for every batch; here it is a placeholder of zeros
that is never handed to the component, so the pretext task cannot read a label.

Equal compute: an epoch draws ``epoch_samples`` training rows (plain shuffled passes over the
training rows), the same fixed count as every supervised epoch, and ``views`` must return as many
inputs as it was given rows (a step's forward passes equal its samples). The pretext epochs are
counted in the run's epochs and samples, so an SSP row trains as many samples as the baseline.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn

from benchmark.errors import BenchmarkError
from benchmark.training.base import TrainingConfig, lr_factor
from benchmark.training.epochs import epoch_draws
from benchmark.training.step import (
    StepRunner,
    check_finite,
    graph_safe,
    make_optimizer,
    set_lr,
    use_cuda_graphs,
)

__all__ = ["PretextNetwork", "check_pretext", "train_pretext"]


class PretextNetwork(nn.Module):
    """The backbone's ``features`` (shared, so training this trains the backbone) under a pretext head."""

    def __init__(self, features: nn.Module, head: nn.Module):
        super().__init__()
        self.features, self.head = features, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class PretextViews:
    """The step's ``augment`` slot during pre-training: ``views`` of the batch, its labels dropped."""

    def __init__(self, pretext: Any, generator: torch.Generator):
        self.pretext, self.generator = pretext, generator
        self.graph_safe = graph_safe(pretext)

    def augment(self, x: torch.Tensor, placeholder: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        inputs, targets = self.pretext.views(x, self.generator)
        if inputs.shape[0] != x.shape[0]:  # shapes are host metadata: no device sync
            raise BenchmarkError(
                f"the pretext component {type(self.pretext).__name__} made {inputs.shape[0]} inputs from a batch "
                f"of {x.shape[0]} rows", "return exactly one input per row of the batch (equal compute)")
        return inputs, targets


class PretextLoss:
    """The step's ``loss`` slot during pre-training: the component's ``loss(outputs, targets)``."""

    def __init__(self, pretext: Any):
        self.pretext = pretext
        self.graph_safe = graph_safe(pretext)

    def __call__(self, outputs: torch.Tensor, targets: Any, epoch: int) -> torch.Tensor:
        return self.pretext.loss(outputs, targets)


def check_pretext(pretext: Any) -> float:
    """The component's ``share`` of the epochs, after checking it has what the engine calls."""
    missing = [name for name in ("head", "views", "loss") if not callable(getattr(pretext, name, None))]
    if missing:
        raise BenchmarkError(f"the pretrain component {type(pretext).__name__} has no {', '.join(missing)}",
                             "give it share, head(feature_dim, spec), views(x, generator) and loss(outputs, "
                             "targets) (benchmark.methods.base.Pretext)")
    share = getattr(pretext, "share", None)
    if not isinstance(share, int | float) or not 0 < share < 1:
        raise BenchmarkError(f"the pretrain component {type(pretext).__name__} has share={share!r}",
                             "give the pre-training a share of the epochs strictly between 0 and 1")
    return float(share)


def train_pretext(model: nn.Module, pretext: Any, X: torch.Tensor, spec: Any, normalise: Any, state: Any,
                  config: TrainingConfig, device: torch.device, epoch_samples: int, epochs: int) -> dict[str, float]:
    """Train ``model.features`` with the pretext head for ``epochs`` epochs of ``epoch_samples`` rows of
    ``X`` (the training rows, no labels). ``state.epoch`` counts on from its value. Returns the stage's
    timings (``pretrain_epochs``, ``pretrain_samples``, ``pretrain_seconds``) and its ``steps``."""
    t0 = time.perf_counter()
    head = pretext.head(model.embedding_dim, spec)
    if not isinstance(head, nn.Module):
        raise BenchmarkError(f"the pretrain component's head() gave a {type(head).__name__}",
                             "return a torch.nn.Module mapping (B, feature_dim) embeddings to the loss's outputs")
    network = PretextNetwork(model.features, head.to(device))
    for p in network.parameters():
        p.requires_grad_(True)
    rate_changes = config.lr_schedule != "constant" or config.warmup_epochs > 0
    use_graphs = use_cuda_graphs(config, device, (pretext,), rate_changes)
    # views draw from the trial's generator, which the step runner registers with each captured graph
    optimizer = make_optimizer(network.parameters(), config, device, use_graphs)
    placeholder = torch.zeros(X.shape[0], dtype=torch.long, device=device)
    runner = StepRunner(network, optimizer, X, placeholder, normalise, PretextViews(pretext, state.generator),
                        PretextLoss(pretext), state, config, device, use_graphs)
    draws = epoch_draws(None, state, X.shape[0], epoch_samples, state.generator, device)
    state.stage = "pretext"
    network.train()
    for stage_epoch in range(epochs):
        set_lr(optimizer, config.lr * lr_factor(config, stage_epoch, epochs, warmup=True))
        runner.run_epoch(draws.next_epoch())
        check_finite(runner.total, state.epoch, state.stage)
        state.epoch += 1
    model.features.zero_grad(set_to_none=True)
    return {"pretrain_epochs": epochs, "pretrain_samples": runner.samples, "pretrain_seconds": time.perf_counter() - t0,
            "steps": runner.steps, "graph_capture_seconds": runner.capture_seconds}
