"""Many trials at once on one device: same-shaped models stacked with ``torch.func``.

Small models leave a GPU mostly idle: many small-CNN trials trained together process several times
the images per second of one (docs/performance.md, 'Stacked trials'). Here M trials of the same
backbone are one "stacked" model: every parameter gets a leading member dimension, ``torch.func.vmap`` over
``functional_call`` runs the M forward passes as one (convolutions become grouped convolutions),
and one optimiser step updates all members, each with its own learning rate and weight decay.
Every member keeps its own seed (initial weights, data order, dropout), its own resampled data,
batch sampler, loss, adjustment and validation reports, so member m is a genuine trial: it is not
bit-identical to ``DeepEngine.fit`` with the same seed (the random streams differ), but it is
the same training procedure.

What stacks (:func:`stack_conflicts` says why not otherwise): members of one split whose training
configurations differ at most in ``lr`` and ``weight_decay``, with the same stage structure, no
``augment`` hook (augmentations draw per-trial randomness outside the vmapped model), no
``feature_resample`` stage, no ``pretrain`` stage and no component reading the unlabeled pool, and whose resampled training sets have equal lengths. Every member's
epoch holds the same fixed sample count, as in the single-trial engine
(:mod:`benchmark.training.epochs`), so members with different batch samplers stack and stay
equal-compute. :func:`fit_many` is what the execution layer calls: it stacks what can be stacked and
trains the rest one after another with :class:`~benchmark.training.deep.DeepEngine`.

On a CPU, MLP trials take another path (:mod:`benchmark.training.stacked_mlp`): batched matrix products
in which every member is bit for bit the fit ``DeepEngine.fit`` makes with its seed, so stacking changes no
score there and is the CPU default (``RunOptions.stack_trials``, :func:`benchmark.run.plan.resolve_stacking`).

The other way to share a GPU, concurrent worker processes (``--workers N``), needs no such
conditions but pays one CUDA context per process and time-slices the GPU between them.
"""

from __future__ import annotations

import copy
import functools
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call, vmap

from benchmark.datasets.base import Split
from benchmark.errors import BenchmarkError, DivergedError
from benchmark.methods.base import DEEP_HOOKS, Recipe, Stage
from benchmark.metrics import confusion, per_class_scores
from benchmark.models.base import build_model
from benchmark.training.base import (
    TrainingConfig,
    fit_adjuster,
    lr_factor,
    model_input,
    pin_threads,
    resample_context,
    resolve_device,
    seed_everything,
    softmax,
)
from benchmark.training.deep import (
    DEFAULT_MODELS,
    DeepEngine,
    DeepModel,
    TrainState,
    epoch_draws,
    make_normaliser,
    prepare_training_data,
    stage_epochs,
)
from benchmark.training.epochs import epoch_compute
from benchmark.training.stacked_mlp import exact_conflict, fit_exact, sparse_rows
from benchmark.training.step import autocast_for, capture_step, graph_safe

# on_epoch(member, epoch, val_proba): may raise (optuna.TrialPruned, ...) to stop that member alone.
MemberCallback = Callable[[int, int, np.ndarray], None]


def stack_conflicts(recipes: list[Recipe], configs: list[TrainingConfig]) -> str | None:
    """Why these trials cannot be trained as one stacked model, or None when they can."""
    if not recipes or len(recipes) != len(configs):
        return f"{len(recipes)} recipes for {len(configs)} configurations"
    first = configs[0]
    base = replace(first, extra={})
    for c in configs[1:]:  # compared with the first one's lr and weight decay put in (settings are validated)
        if replace(c, lr=first.lr, weight_decay=first.weight_decay, extra={}) != base:
            return "their training configurations differ in more than lr and weight_decay"
    shapes = set()
    for r in recipes:
        r.check_engine("deep", DEEP_HOOKS)
        if r.pretrain is not None:
            return "a recipe has a pretrain stage (self-supervised pre-training is not stacked)"
        if r.uses_unlabeled():
            return "a recipe learns from the unlabeled pool (its pool stages are not stacked)"
        if r.augment is not None:
            return "a recipe has an augment hook (its randomness is per trial, outside the stacked model)"
        stages = r.stages or [Stage("main", 1.0)]
        if any(s.feature_resample is not None for s in stages):
            return "a recipe has a feature_resample stage"
        if any(s.head_wrapper is not None for s in stages):
            return "a recipe has a stage with a head_wrapper"
        if any(s.augment is not None for s in stages):
            return "a recipe has a stage with an augment hook (its randomness is per trial)"
        shapes.add(tuple((s.epochs, s.train, s.reinit_head) for s in stages))
    if len(shapes) > 1:
        return "their stage schedules differ"
    return None


def stack_path(split: Split, recipes: list[Recipe], configs: list[TrainingConfig], device: str = "auto",
               exact_only: bool = False) -> str | None:
    """How :func:`fit_many` trains these trials: "exact" (:mod:`benchmark.training.stacked_mlp`), "vmap"
    (:func:`fit_stacked`, which may still refuse at run time) or None (one after another). The one rule: the
    run asks it to train, ``--plan`` to count (:mod:`benchmark.run.pilot`)."""
    if len(recipes) < 2 or stack_conflicts(recipes, configs) is not None:
        return None
    dev = torch.device(resolve_device(device))
    exact = exact_conflict(split, configs[0], dev) is None
    if exact and exact_only and sparse_rows(split, recipes, configs, dev):
        exact = False  # sparse TF-IDF rows train faster one by one: stacked only when asked for, exactly
    if exact:
        return "exact"
    return None if exact_only else "vmap"


def fit_many(split: Split, recipes: list[Recipe], configs: list[TrainingConfig], seeds: list[int], *,
             device: str = "auto", on_epoch: MemberCallback | None = None,
             stack: bool = True, exact_only: bool = False) -> list[DeepModel | BaseException]:
    """Train several trials of one split; stacked into one model when they allow it (see module doc).

    MLP trials on a CPU take the exact path (:mod:`benchmark.training.stacked_mlp`: every member
    the fit ``DeepEngine`` makes with its seed); other stackable trials the ``vmap`` path of this
    module, unless ``exact_only`` (then they train one after another, as without stacking). With
    ``exact_only`` MLP trials on sparse TF-IDF rows train one after another too: their stack took 0.74x
    the samples per CPU second of one-by-one fits (docs/performance.md, 'Sparse TF-IDF input').
    Returns one entry per trial: its :class:`DeepModel`, or the exception that ended it (a pruned
    or diverged trial ends alone; the others go on).
    """
    path = stack_path(split, recipes, configs, device, exact_only) if stack else None
    if path == "exact":
        return fit_exact(split, recipes, configs, seeds, torch.device(resolve_device(device)), on_epoch)
    if path == "vmap":
        try:
            return fit_stacked(split, recipes, configs, seeds, device=device, on_epoch=on_epoch)
        except StackingRefused:
            pass  # e.g. resampled sets of unequal size: fall back to one trial at a time
    results: list[DeepModel | BaseException] = []
    engine = DeepEngine()
    for m, (recipe, config, seed) in enumerate(zip(recipes, configs, seeds, strict=True)):
        callback = (lambda epoch, proba, m=m: on_epoch(m, epoch, proba)) if on_epoch else None
        try:
            results.append(engine.fit(split, recipe, config, seed=seed, device=device, on_epoch=callback))
        except Exception as exc:
            results.append(exc)
    return results


class StackingRefused(BenchmarkError):
    """The members turned out not to stack (found while preparing their data)."""


class StackedOptimizer:
    """AdamW or Nesterov SGD over stacked parameters with one learning rate and weight decay per member.

    ``torch.optim`` takes one scalar learning rate per parameter group, and a stacked parameter holds
    every member, so the few lines of the update rules are written out here. The state is allocated
    up front (zeros, as torch's optimisers start), which also keeps CUDA-graph capture simple.
    """

    def __init__(self, params: list[torch.Tensor], kind: str, lr: torch.Tensor, weight_decay: torch.Tensor,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, momentum: float = 0.9):
        self.params, self.kind, self.lr, self.weight_decay = params, kind, lr, weight_decay
        self.betas, self.eps, self.momentum = betas, eps, momentum
        self.exp_avg = [torch.zeros_like(p) for p in params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in params] if kind == "adam" else []
        self.steps = torch.zeros((), device=lr.device)

    def _per_member(self, value: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        return value.view(-1, *([1] * (p.dim() - 1)))

    def state_tensors(self) -> list[torch.Tensor]:
        return [*self.exp_avg, *self.exp_avg_sq, self.steps]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.steps += 1
        beta1, beta2 = self.betas
        for i, p in enumerate(self.params):
            if p.grad is None or not p.requires_grad:
                continue
            g, lr = p.grad, self._per_member(self.lr, p)
            wd = self._per_member(self.weight_decay, p)
            if self.kind == "adam":  # decoupled weight decay (Loshchilov and Hutter 2019), as torch's AdamW
                p.mul_(1 - lr * wd)
                m, v = self.exp_avg[i], self.exp_avg_sq[i]
                m.lerp_(g, 1 - beta1)
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                bias1 = 1 - beta1 ** self.steps
                bias2 = 1 - beta2 ** self.steps
                p.sub_(lr / bias1 * m / ((v / bias2).sqrt_().add_(self.eps)))
            else:  # SGD, momentum 0.9, Nesterov, L2 weight decay, as torch's SGD(nesterov=True)
                g = g + wd * p
                buf = self.exp_avg[i]
                buf.mul_(self.momentum).add_(g)
                p.sub_(lr * (g + self.momentum * buf))


def fit_stacked(split: Split, recipes: list[Recipe], configs: list[TrainingConfig], seeds: list[int], *,
                device: str = "auto", on_epoch: MemberCallback | None = None) -> list[DeepModel | BaseException]:
    """Train len(recipes) trials as one stacked model (see module doc); one result per member."""
    reason = stack_conflicts(recipes, configs)
    if reason:
        raise BenchmarkError(f"these trials cannot be stacked: {reason}", "train them with fit_many")
    dev = torch.device(resolve_device(device))
    try:
        return _StackedRun(split, recipes, configs, seeds, dev).run(on_epoch)
    except torch.cuda.OutOfMemoryError as exc:
        torch.cuda.empty_cache()
        raise BenchmarkError(f"out of GPU memory training {len(recipes)} stacked trials: {str(exc).splitlines()[0]}",
                             "stack fewer trials at once, or lower the batch size") from exc


class _StackedRun:
    def __init__(self, split: Split, recipes: list[Recipe], configs: list[TrainingConfig], seeds: list[int],
                 dev: torch.device):
        self.split, self.recipes, self.configs, self.seeds, self.dev = split, recipes, configs, seeds, dev
        self.config = config = configs[0]
        self.M = M = len(recipes)
        seed_everything(seeds[0], config.deterministic)
        pin_threads(config)
        self.epoch_samples, _ = epoch_compute(len(split.train), config.batch_size)  # before any resampling
        self.steps = self.samples = 0  # every member trains the same steps and samples
        t0 = time.perf_counter()
        shared = all(r.resample is None for r in recipes)
        members = range(1 if shared else M)
        prepared = [prepare_training_data(split, recipes[m], config, seeds[m],  # generators train on the device
                                          resample_context(split, recipes[m], config, dev)) for m in members]
        if len({len(p[2]) for p in prepared}) > 1:
            raise StackingRefused("the members' resampled training sets differ in size", "train them one by one")
        self.resample_seconds = time.perf_counter() - t0
        self.featurizers = [p[0] for p in prepared] * (M if shared else 1)
        self.X = torch.as_tensor(np.stack([np.ascontiguousarray(p[1]) for p in prepared])).to(dev)  # (1 or M, N, ...)
        self.Y = torch.as_tensor(np.stack([p[2] for p in prepared])).to(dev)
        self.normalisers = [make_normaliser(p[1], split.modality, dev) for p in prepared] * (M if shared else 1)
        self.image = split.modality == "image"
        if self.image:  # per-member standardisation as (M, 1, C, 1, 1) tensors
            stats = [self._stats(p[1]) for p in prepared] * (M if shared else 1)
            self.scale = torch.stack([s[0] for s in stats]).view(M, 1, -1, 1, 1).to(dev)
            self.shift = torch.stack([s[1] for s in stats]).view(M, 1, -1, 1, 1).to(dev)
        self.X_val = model_input(self.featurizers[0].transform(split.val.X), dev)

        name = config.model or DEFAULT_MODELS[split.modality]
        self.members = []
        for s in seeds:
            torch.manual_seed(s)  # each member's initial weights come from its own seed
            self.members.append(build_model(name, self.featurizers[0].spec, split.num_classes).to(dev))
        self.base = copy.deepcopy(self.members[0])
        self.params = {k: torch.stack([dict(m.named_parameters())[k].detach() for m in self.members]).requires_grad_()
                       for k, _ in self.members[0].named_parameters()}
        self.buffers = {k: torch.stack([dict(m.named_buffers())[k] for m in self.members])
                        for k, _ in self.members[0].named_buffers()}
        self.lr = torch.tensor([c.lr for c in configs], dtype=torch.float32, device=dev)
        self.wd = torch.tensor([c.weight_decay for c in configs], dtype=torch.float32, device=dev)
        self.active = torch.ones(M, dtype=torch.bool, device=dev)
        self.totals = torch.zeros(M, device=dev)
        self.states = []
        for m, s in enumerate(seeds):
            gen = torch.Generator(device=dev)
            gen.manual_seed(s)
            y_m = self.Y[min(m, self.Y.shape[0] - 1)]
            self.states.append(TrainState(y_m, torch.bincount(y_m, minlength=split.num_classes), split.num_classes,
                                          config.epochs, gen, dev, seed=s))

        def forward(params, buffers, x):
            return functional_call(self.base, (params, buffers), (x,))

        self.vmodel = vmap(forward, in_dims=(0, 0, 0), randomness="different")

    @staticmethod
    def _stats(X: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        mean = X.mean(axis=(0, 2, 3), dtype=np.float64) / 255
        std = np.maximum(X.std(axis=(0, 2, 3), dtype=np.float64) / 255, 1e-6)
        return torch.tensor(1 / std, dtype=torch.float32), torch.tensor(-mean / std, dtype=torch.float32)

    def _inputs(self, x: torch.Tensor) -> torch.Tensor:
        """(M, B, ...) raw rows -> model inputs (images: [0, 1], then each member's standardisation)."""
        if x.dtype == torch.uint8:
            x = x.float().div_(255)
        if self.image:
            x = torch.addcmul(self.shift, x, self.scale)
        return x

    def _body(self, idx: torch.Tensor, loss_fns: list[Any], epoch: int, autocast_cache: bool = True) -> None:
        if self.X.shape[0] == 1:
            xb, yb = self.X[0][idx], self.Y[0][idx]
        else:
            rows = torch.arange(self.M, device=self.dev).unsqueeze(1)
            xb, yb = self.X[rows, idx], self.Y[rows, idx]
        with autocast_for(self.config, self.dev, autocast_cache):
            logits = self.vmodel(self.params, self.buffers, self._inputs(xb))
        logits = logits.float()
        if all(f is None for f in loss_fns):  # the default cross-entropy of all members in one kernel
            per = F.cross_entropy(logits.flatten(0, 1), yb.flatten(), reduction="none").view(self.M, -1).mean(1)
        else:
            from benchmark.training.step import default_loss

            per = torch.stack([(f or default_loss)(logits[m], yb[m], epoch) for m, f in enumerate(loss_fns)])
        # Stopped members (pruned, diverged) contribute nothing, not even a NaN, to the others' gradients.
        torch.where(self.active, per, torch.zeros_like(per)).sum().backward()
        self.optimizer.step()
        self.totals += per.detach()

    def run(self, on_epoch: MemberCallback | None) -> list[DeepModel | BaseException]:
        config, M, dev = self.config, self.M, self.dev
        results: list[DeepModel | BaseException | None] = [None] * M
        stage_lists = [r.stages or [Stage("main", 1.0)] for r in self.recipes]
        t0 = time.perf_counter()
        epoch = 0
        for s_idx, n_epochs in enumerate(stage_epochs(stage_lists[0], config.epochs)):
            stage = stage_lists[0][s_idx]
            head_only = stage.train == "head"
            if stage.reinit_head:
                for m, member in enumerate(self.members):
                    member.reset_head()
                    with torch.no_grad():
                        for k, p in member.head.named_parameters():
                            self.params["head." + k][m].copy_(p)
            for k, p in self.params.items():
                p.requires_grad_(k.startswith("head.") or not head_only)
            self.optimizer = StackedOptimizer([p for p in self.params.values() if p.requires_grad],
                                              "adam" if config.optimizer == "adam" else "sgd",
                                              self.lr * self.active, self.wd)
            samplers = [st[s_idx].batch_sampler or r.batch_sampler for st, r in zip(stage_lists, self.recipes,
                                                                                         strict=True)]
            loss_fns = [st[s_idx].loss or r.loss for st, r in zip(stage_lists, self.recipes, strict=True)]
            use_graphs = config.cuda_graphs and dev.type == "cuda" and all(graph_safe(f) for f in loss_fns)
            graphs: dict[int, tuple[torch.cuda.CUDAGraph, torch.Tensor]] = {}
            draws = [epoch_draws(sampler, st, self.Y.shape[1], self.epoch_samples, st.generator, dev)
                     for sampler, st in zip(samplers, self.states, strict=True)]
            for stage_epoch in range(n_epochs):
                factor = lr_factor(config, stage_epoch, n_epochs, warmup=s_idx == 0)
                self.optimizer.lr.copy_(self.lr * self.active * factor)
                for st in self.states:
                    st.epoch, st.stage = epoch, stage.name
                self.base.train()
                if head_only:
                    self.base.features.eval()
                if any(f is not None for f in loss_fns):
                    graphs.clear()  # custom losses see the epoch as a constant
                order = torch.stack([d.next_epoch() for d in draws])  # (M, epoch_samples)
                self._run_epoch(order, loss_fns, epoch, graphs if use_graphs else None)
                self._end_epoch(epoch, stage, results, on_epoch)
                epoch += 1
                if not bool(self.active.any()):
                    break
            del graphs
            if not bool(self.active.any()):
                break
        wall = time.perf_counter() - t0
        return self._finish(results, wall, epoch)

    def _run_epoch(self, order: torch.Tensor, loss_fns: list[Any], epoch: int,
                   graphs: dict[int, tuple[torch.cuda.CUDAGraph, torch.Tensor]] | None) -> None:
        """One epoch of stacked steps; with ``graphs``, each batch size is captured once and replayed."""
        self.totals.zero_()
        bs = self.config.batch_size
        for start in range(0, order.shape[1], bs):
            idx = order[:, start : start + bs]
            if idx.shape[1] < 2 and order.shape[1] > 1:
                continue
            self.steps += 1
            self.samples += idx.shape[1]
            if graphs is None:
                self.optimizer.zero_grad()
                self._body(idx, loss_fns, epoch)
                continue
            if idx.shape[1] not in graphs:
                static = idx.clone()
                graph = capture_step(
                    functools.partial(self._body, static, loss_fns, epoch, autocast_cache=False),
                    lambda: [*self.params.values(), *self.buffers.values(), *self.optimizer.state_tensors(),
                             self.totals],
                    self.optimizer.zero_grad, self.dev)
                graphs[idx.shape[1]] = (graph, static)
            graph, static = graphs[idx.shape[1]]
            static.copy_(idx)
            graph.replay()

    def _val_logits(self) -> torch.Tensor:
        """(M, n_val, C) validation logits of every member, in large batches (eval mode)."""
        self.base.eval()
        out = []
        chunk = max(1, self.config.eval_batch_size // self.M)
        with torch.no_grad(), autocast_for(self.config, self.dev):
            for start in range(0, self.X_val.shape[0], chunk):
                xb = self.X_val[start : start + chunk].unsqueeze(0).expand(self.M, *self.X_val[start:start + chunk].shape)
                out.append(self.vmodel(self.params, self.buffers, self._inputs(xb)).float())
        self.base.train()
        return torch.cat(out, dim=1)

    def _end_epoch(self, epoch: int, stage: Stage, results: list, on_epoch: MemberCallback | None) -> None:
        totals = self.totals.cpu().numpy()  # one host sync per epoch for all members
        val_logits = self._val_logits().cpu().numpy()
        active = self.active.cpu().numpy()
        for m in range(self.M):
            if not active[m]:
                continue
            try:
                if not np.isfinite(totals[m]):
                    raise DivergedError(f"training diverged: the loss became {totals[m]} in epoch {epoch} "
                                        f"(stage {stage.name})",
                                        "lower the learning rate, or check the method's loss for invalid values")
                _, recall, f1 = per_class_scores(confusion(self.split.val.y, val_logits[m].argmax(1),
                                                           self.split.num_classes))
                self.states[m].val_per_class_f1, self.states[m].val_per_class_recall = f1, recall
                if on_epoch is not None:
                    on_epoch(m, epoch, softmax(val_logits[m]))
            except Exception as exc:  # this member stops; the others train on
                results[m] = exc
                self.active[m] = False
        self.optimizer.lr.copy_(self.lr * self.active)

    def _finish(self, results: list, wall: float, epochs: int) -> list[DeepModel | BaseException]:
        val_logits = self._val_logits().cpu().numpy()
        out: list[DeepModel | BaseException] = []
        for m, member in enumerate(self.members):
            if results[m] is not None:
                out.append(results[m])
                continue
            with torch.no_grad():
                for k, p in member.named_parameters():
                    p.copy_(self.params[k][m])
                for k, b in member.named_buffers():
                    b.copy_(self.buffers[k][m])
            member.train()
            timings = {"resample_seconds": self.resample_seconds, "train_seconds": wall, "epochs": epochs,
                       "epoch_samples": self.epoch_samples, "train_samples": self.samples, "train_steps": self.steps,
                       "training_rows": int(self.Y.shape[1]), "stacked_trials": self.M}
            adjust = self.recipes[m].adjust
            fit_adjuster(adjust, val_logits[m], self.split.val.y, self.split.class_counts("train"),
                         model=member)
            out.append(DeepModel(member, self.featurizers[m], adjust, self.dev, self.configs[m], self.normalisers[m],
                                 timings))
        return out
