"""Stacked MLP trials on a CPU, each member bit for bit the fit :class:`DeepEngine` makes with its seed.

Why: a step of the tabular MLP (128 x 128, batch 64) on a CPU is per-operation overhead, not
arithmetic (about 0.8 ms for 64 samples). M members trained as batched matrix products
(``torch.baddbmm`` over an (M, ...) stack of every parameter) pay roughly one step's overhead for M
steps; docs/performance.md ('Stacking on the CPU') has the measured gain.

Why it changes no score: each member repeats the single-trial fit exactly.

- Set-up: per member, the engine's own calls in its order (``seed_everything``, resample, featurise,
  ``build_model``), so the initial weights are the engine's; the data order comes from a generator
  seeded as the engine's; dropout masks and a head re-initialisation draw from the member's own copy
  of torch's global generator, taken where the single fit would draw from it.
- Arithmetic: a batched product of one member equals ``F.linear``'s (checked by the tests); the
  backward pass forms the weight's gradient as ``grad^T @ x``, as autograd does for ``addmm`` with a
  transposed weight; the optimiser updates are torch's AdamW / Nesterov SGD formulas with each
  member's learning rate and weight decay as its own scalar (``torch._foreach_*`` over the members'
  rows, the kernels ``torch.optim`` calls). Validation and predictions use each member's own module,
  whose parameters are views into the stacked storage (no copies, the engine's prediction path).

What stacks here (:func:`exact_conflict` says why not): CPU, no image inputs, a backbone made of
``nn.Linear``, ``nn.ReLU``, ``nn.Dropout`` and row-wise encoders without parameters (the MLP), plus
everything :func:`benchmark.training.stacked.stack_conflicts` requires. Resampled training sets may
differ in length (each member draws indices into its own rows). Sparse TF-IDF rows
(:func:`sparse_rows`) keep each member's rows and run the first layer member by member with the single
fit's functions (:class:`~benchmark.training.stacked_ops.StackedSparseLinear`).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmark.datasets.base import Split
from benchmark.errors import BenchmarkError, DivergedError
from benchmark.methods.base import Recipe, Stage
from benchmark.metrics import confusion, per_class_scores
from benchmark.models.base import build_model
from benchmark.models.mlp import NominalOneHot
from benchmark.training.base import (
    TrainingConfig,
    fit_adjuster,
    lr_factor,
    model_input,
    pin_threads,
    resample_context,
    seed_everything,
    softmax,
)
from benchmark.training.deep import (
    DEFAULT_MODELS,
    DeepModel,
    TrainState,
    epoch_draws,
    predict_logits,
    prepare_training_data,
    stage_epochs,
)
from benchmark.training.epochs import epoch_compute
from benchmark.training.sparse_input import dense_input_reason
from benchmark.training.stacked_ops import ALIGN, StackedLinear, StackedOptimizer, StackedSparseLinear
from benchmark.training.step import default_loss

ROW_WISE = (NominalOneHot, nn.Identity, nn.Flatten)  # parameter-free, deterministic, one row at a time


def mlp_program(model: nn.Module) -> list[tuple[str, Any]] | None:
    """The backbone as a list of stackable operations, or None when it holds anything else."""
    features, head = getattr(model, "features", None), getattr(model, "head", None)
    if not isinstance(features, nn.Sequential) or not isinstance(head, nn.Linear):
        return None
    program: list[tuple[str, Any]] = []
    for name, module in [*((f"features.{k}", m) for k, m in features.named_children()), ("head", head)]:
        if isinstance(module, nn.Linear):
            program.append(("linear", name))
        elif isinstance(module, nn.ReLU):
            program.append(("relu", None))
        elif isinstance(module, nn.Dropout):
            program.append(("dropout", (module.p, name != "head")))
        elif isinstance(module, ROW_WISE) and not any(True for _ in module.parameters()):
            program.append(("rows", module))
        else:
            return None
    return program


def exact_conflict(split: Split, config: TrainingConfig, device: torch.device) -> str | None:
    """Why these trials cannot take the exact stacked path (None when they can)."""
    if device.type != "cpu":
        return "the device is not a CPU (on CUDA the engine's fused, graphed steps are not reproduced)"
    if split.modality == "image":
        return "image inputs (the stacked convolutions sum differently from the engine's)"
    name = config.model or DEFAULT_MODELS[split.modality]
    if name != "mlp":
        return f"the backbone '{name}' is not the MLP"
    return None


def sparse_rows(split: Split, recipes: list[Recipe], configs: list[TrainingConfig], dev: torch.device) -> bool:
    """Whether the stack trains on sparse TF-IDF rows: each member where its single fit would
    (:func:`~benchmark.training.sparse_input.dense_input_reason`, the engine's rule)."""
    name = configs[0].model or DEFAULT_MODELS[split.modality]
    verdicts = {dense_input_reason(split, r, c, dev, name) is None for r, c in zip(recipes, configs, strict=True)}
    if len(verdicts) > 1:  # stack_conflicts keeps apart the hooks the rule reads; a new rule must too
        raise BenchmarkError("stacked trials disagree on sparse input rows",
                             "add the hook that decides it to benchmark.training.stacked.stack_conflicts")
    return verdicts.pop()


class _Member:
    """One trial of the stack: its recipe, settings, seed, data, module and random streams."""

    def __init__(self, split: Split, recipe: Recipe, config: TrainingConfig, seed: int, dev: torch.device,
                 shared: tuple | None, sparse: bool):
        self.recipe, self.config, self.seed = recipe, config, seed
        seed_everything(seed, config.deterministic)  # as DeepEngine._fit, call for call
        pin_threads(config)
        t0 = time.perf_counter()
        name = config.model or DEFAULT_MODELS[split.modality]
        self.context = resample_context(split, recipe, config, dev, name)
        self.featurizer, F_train, y = shared or prepare_training_data(split, recipe, config, seed, self.context,
                                                                      sparse=sparse)
        self.resample_seconds = time.perf_counter() - t0
        self.model = build_model(name, self.featurizer.spec, split.num_classes).to(dev)
        self.rng = torch.Generator(device=dev)  # torch's global stream, where the single fit draws dropout
        self.rng.set_state(torch.get_rng_state())
        self.X = model_input(F_train, dev)
        self.y = torch.as_tensor(np.asarray(y, dtype=np.int64)).to(dev)
        self.X_val = self.X_val_of(split, dev) if shared is None else None  # shared rows: set by the stack
        generator = torch.Generator(device=dev)
        generator.manual_seed(seed)
        counts = torch.bincount(self.y, minlength=split.num_classes)
        self.state = TrainState(self.y, counts, split.num_classes, config.epochs, generator, dev, seed=seed)
        self.result: Any = None  # the exception that stopped it, once one did
        self.timings: dict[str, float] = {"validation_seconds": 0.0}

    def X_val_of(self, split: Split, dev: torch.device) -> torch.Tensor:
        return model_input(self.featurizer.transform(split.val.X), dev)

    def with_global_rng(self, draw) -> None:
        """Run ``draw`` on torch's global generator in this member's state (as in its single fit)."""
        saved = torch.get_rng_state()
        torch.set_rng_state(self.rng.get_state())
        try:
            draw()
        finally:
            self.rng.set_state(torch.get_rng_state())
            torch.set_rng_state(saved)


def fit_exact(split: Split, recipes: list[Recipe], configs: list[TrainingConfig], seeds: list[int],
              dev: torch.device, on_epoch=None) -> list[DeepModel | BaseException]:
    """Train the trials as one stack of MLPs (see module doc); one :class:`DeepModel` or exception each."""
    return _ExactStack(split, recipes, configs, seeds, dev).run(on_epoch)


class _ExactStack:
    def __init__(self, split: Split, recipes: list[Recipe], configs: list[TrainingConfig], seeds: list[int],
                 dev: torch.device):
        self.split, self.dev, self.config = split, dev, configs[0]
        self.sparse = sparse_rows(split, recipes, configs, dev)
        shared = None
        if all(r.resample is None for r in recipes):  # featurising draws nothing: one copy of the rows
            seed_everything(seeds[0], self.config.deterministic)
            shared = prepare_training_data(split, recipes[0], self.config, seeds[0], None, sparse=self.sparse)
        self.members: list[_Member] = []
        self.ids: list[int] = []  # each member's index among the trials asked for
        self.failed: dict[int, BaseException] = {}
        for k, (r, c, s) in enumerate(zip(recipes, configs, seeds, strict=True)):
            try:
                self.members.append(_Member(split, r, c, s, dev, shared, self.sparse))
                self.ids.append(k)
            except Exception as exc:  # noqa: BLE001 - as in a single fit, a failed set-up fails its trial alone
                self.failed[k] = exc
        if not self.members:
            return
        first = self.members[0]
        if shared is not None:
            X_val = first.X_val_of(split, dev)
            for m in self.members:
                m.X_val = X_val
        self.shared_X = shared is not None
        if self.shared_X:
            self.X, self.Y = first.X, first.y
        else:  # each member's rows, padded to the longest (a member draws indices into its own rows only)
            rows = max(m.X.shape[0] for m in self.members)
            self.Y = torch.zeros((len(self.members), rows), dtype=torch.long, device=dev)
            if self.sparse:  # sparse rows stay each member's own (a batch is gathered member by member)
                self.X = [m.X for m in self.members]
            else:
                self.X = torch.zeros((len(self.members), rows, *first.X.shape[1:]), dtype=first.X.dtype, device=dev)
            for k, m in enumerate(self.members):
                self.Y[k, : m.y.shape[0]] = m.y
                if not self.sparse:
                    self.X[k, : m.X.shape[0]] = m.X
        self.program = mlp_program(first.model)
        named = list(first.model.named_parameters())
        self.names = [k for k, _ in named]
        self.shapes = [p.shape for _, p in named]
        self.sizes = [p.numel() for _, p in named]
        self.slots = [-(-n // ALIGN) * ALIGN for n in self.sizes]  # every parameter starts aligned, as alone
        self.flat = torch.zeros((len(self.members), sum(self.slots)), device=dev)
        for k, m in enumerate(self.members):
            for slot, p in zip(self.param_views(self.flat[k:k + 1]), m.model.parameters(), strict=True):
                slot.copy_(p.detach().reshape(1, *p.shape))
        self.flat.requires_grad_()
        self.flat.grad = torch.zeros_like(self.flat)
        self.data = self.flat.detach()
        for k, m in enumerate(self.members):  # the member's module reads and writes the stack's storage
            for (name, _), view in zip(named, self.param_views(self.data[k:k + 1]), strict=True):
                module_name, _, attr = name.rpartition(".")
                setattr(m.model.get_submodule(module_name), attr, nn.Parameter(view[0]))
        self.epoch_samples, _ = epoch_compute(len(split.train), self.config.batch_size)
        self.steps = self.samples = 0

    def param_views(self, flat: torch.Tensor) -> list[torch.Tensor]:
        """(M, ...) views of each parameter in a stacked (M, slots) tensor."""
        return [t[:, :n].view(-1, *s) for t, n, s in zip(torch.split(flat, self.slots, 1), self.sizes, self.shapes,
                                                          strict=True)]

    # -- one step -------------------------------------------------------------------------------------
    def _forward(self, xb: torch.Tensor, active: list[int], head_only: bool) -> torch.Tensor:
        live, frozen = self.param_views(self.flat), self.param_views(self.data)
        index = {name: i for i, name in enumerate(self.names)}
        h = xb
        for op, arg in self.program:
            if op == "linear":
                params = live if (arg == "head" or not head_only) else frozen
                weight, bias = params[index[arg + ".weight"]], params[index[arg + ".bias"]]
                if isinstance(h, list):  # each member's sparse rows, into the first layer
                    h = StackedSparseLinear.apply(weight, bias, h)
                else:
                    h = StackedLinear.apply(h, weight, bias)
            elif op == "relu":
                h = torch.relu(h)
            elif op == "dropout":
                p, in_features = arg
                if p > 0 and not (head_only and in_features):  # frozen features run in eval mode
                    h = h * self._dropout_noise(h, p, active)
            else:
                h = arg(h.flatten(0, 1)).view(h.shape[0], h.shape[1], -1)
        return h

    def _dropout_noise(self, h: torch.Tensor, p: float, active: list[int]) -> torch.Tensor:
        """Each member's mask as ``F.dropout`` draws it in a single fit (bernoulli_, then / (1 - p))."""
        noise = torch.ones_like(h)
        for k in active:
            noise[k].bernoulli_(1 - p, generator=self.members[k].rng)
        return noise.div_(1 - p)

    def _step(self, idx: torch.Tensor, loss_fns: list[Any], epoch: int, active: list[int], opt: StackedOptimizer,
              head_only: bool, totals: torch.Tensor) -> None:
        if self.sparse:
            xb = [(self.X if self.shared_X else self.X[k])[idx[k]] for k in range(len(self.members))]
            yb = self.Y[idx] if self.shared_X else self.Y[torch.arange(len(self.members), device=self.dev).unsqueeze(1), idx]
        elif self.shared_X:
            xb, yb = self.X[idx], self.Y[idx]
        else:
            rows = torch.arange(len(self.members), device=self.dev).unsqueeze(1)
            xb, yb = self.X[rows, idx], self.Y[rows, idx]
        if not self.sparse and xb.dtype == torch.uint8:
            xb = xb.float().div_(255)
        logits = self._forward(xb, active, head_only).float()
        if all(f is None for f in loss_fns):  # the default cross-entropy of every member in one kernel
            per = F.cross_entropy(logits.flatten(0, 1), yb.flatten(), reduction="none").view(len(loss_fns), -1).mean(1)
        else:
            per = torch.stack([(f or default_loss)(logits[k], yb[k], epoch) for k, f in enumerate(loss_fns)])
        self.flat.grad.zero_()  # kept, so the optimiser's views of it hold; autograd adds into zeros
        if len(active) < len(self.members):  # stopped members add nothing (not even a NaN) to the sum
            per_active = per[torch.tensor(active, device=self.dev)]
        else:
            per_active = per
        per_active.sum().backward()  # each member's loss with gradient 1, as loss.backward() in a single fit
        opt.step(active)
        totals += per.detach()

    # -- the schedule --------------------------------------------------------------------------------
    def run(self, on_epoch) -> list[DeepModel | BaseException]:
        if not self.members:
            return [self.failed[k] for k in sorted(self.failed)]
        config, members = self.config, self.members
        stage_lists = [m.recipe.stages or [Stage("main", 1.0)] for m in members]
        t0 = time.perf_counter()
        epoch = 0
        active = list(range(len(members)))
        for s_idx, n_epochs in enumerate(stage_epochs(stage_lists[0], config.epochs)):
            stage = stage_lists[0][s_idx]
            if stage.reinit_head:
                for m in members:
                    m.with_global_rng(m.model.reset_head)
            head_only = stage.train == "head"
            trained = [i for i, name in enumerate(self.names) if name.startswith("head.") or not head_only]
            opt = StackedOptimizer(self.param_views(self.data), self.param_views(self.flat.grad), trained,
                                   [m.config for m in members], self.dev)
            loss_fns = [st[s_idx].loss or m.recipe.loss for st, m in zip(stage_lists, members, strict=True)]
            draws = [epoch_draws(st[s_idx].batch_sampler or m.recipe.batch_sampler, m.state, m.y.shape[0],
                                 self.epoch_samples, m.state.generator, self.dev)
                     for st, m in zip(stage_lists, members, strict=True)]
            for stage_epoch in range(n_epochs):
                opt.lrs = [m.config.lr * lr_factor(m.config, stage_epoch, n_epochs, warmup=s_idx == 0) for m in members]
                for m in members:
                    m.state.epoch, m.state.stage = epoch, stage.name
                order = torch.stack([draws[k].next_epoch() if k in active else
                                     torch.zeros(self.epoch_samples, dtype=torch.long, device=self.dev)
                                     for k in range(len(members))])
                totals = torch.zeros(len(members), device=self.dev)
                self._run_epoch(order, loss_fns, epoch, active, opt, head_only, totals)
                active = self._end_epoch(epoch, stage, totals.tolist(), active, on_epoch)
                epoch += 1
                if not active:
                    break
            if not active:
                break
        return self._finish(time.perf_counter() - t0, epoch)

    def _run_epoch(self, order: torch.Tensor, loss_fns: list[Any], epoch: int, active: list[int], opt: StackedOptimizer,
                   head_only: bool, totals: torch.Tensor) -> None:
        bs = self.config.batch_size
        for start in range(0, order.shape[1], bs):
            idx = order[:, start : start + bs]
            if idx.shape[1] < 2 and order.shape[1] > 1:
                continue  # as the engine: a trailing batch of one is never trained
            self.steps += 1
            self.samples += idx.shape[1]
            self._step(idx, loss_fns, epoch, active, opt, head_only, totals)

    def _end_epoch(self, epoch: int, stage: Stage, totals: list[float], active: list[int], on_epoch) -> list[int]:
        still = []
        for k in active:
            m = self.members[k]
            try:
                if not np.isfinite(totals[k]):
                    raise DivergedError(f"training diverged: the loss became {totals[k]} in epoch {epoch} "
                                        f"(stage {stage.name})",
                                        "lower the learning rate, or check the method's loss for invalid values")
                t_val = time.perf_counter()
                val_logits = predict_logits(m.model, m.X_val, lambda x: x, m.config, self.dev)
                m.timings["validation_seconds"] += time.perf_counter() - t_val
                _, recall, f1 = per_class_scores(confusion(self.split.val.y, val_logits.argmax(1),
                                                           self.split.num_classes))
                m.state.val_per_class_f1, m.state.val_per_class_recall = f1, recall
                if on_epoch is not None:
                    on_epoch(self.ids[k], epoch, softmax(val_logits))
                still.append(k)
            except Exception as exc:  # this member stops; the others train on
                m.result = exc
        return still

    def _finish(self, wall: float, epochs: int) -> list[DeepModel | BaseException]:
        out: dict[int, DeepModel | BaseException] = dict(self.failed)
        for k, m in zip(self.ids, self.members, strict=True):
            if m.result is not None:
                out[k] = m.result
                continue
            with torch.no_grad():  # the member's own storage, so the stack can be freed
                for p in m.model.parameters():
                    p.data = p.data.clone()
            m.model.train()
            timings = {"resample_seconds": m.resample_seconds, "feature_resample_seconds": 0.0,
                       "feature_stage_seconds": 0.0, "graph_capture_seconds": 0.0, **m.timings,
                       "train_seconds": wall, "epochs": epochs, "epoch_samples": self.epoch_samples,
                       "train_samples": self.samples, "train_steps": self.steps,
                       "training_rows": int(m.y.shape[0]), "stacked_trials": len(self.members),
                       **({"sparse_input": 1} if self.sparse else {})}
            fit_adjuster(m.recipe.adjust, predict_logits(m.model, m.X_val, lambda x: x, m.config, self.dev),
                         self.split.val.y, self.split.class_counts("train"), model=m.model)
            if m.context is not None:
                timings.update(m.context.timings)
            model = DeepModel(m.model, m.featurizer, m.recipe.adjust, self.dev, m.config, lambda x: x, timings)
            model.artifacts = m.context.artifacts if m.context is not None else {}
            out[k] = model
        return [out[k] for k in sorted(out)]
