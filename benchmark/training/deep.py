"""The deep engine: torch training with the data resident on the device.

The whole (featurised) training set lives on the device for the trial; an epoch is a tensor of
indices (``torch.randperm`` or a batch sampler's indices); each batch is gathered by indexing,
converted and normalised on the device, augmented on the device, and fed to the model. Validation
is one batched pass per epoch. No ``DataLoader`` is involved.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from benchmark.datasets.base import Split
from benchmark.errors import BenchmarkError, DivergedError
from benchmark.methods.base import DEEP_HOOKS, Recipe, Stage
from benchmark.metrics import confusion, per_class_scores
from benchmark.models.base import Backbone, build_model
from benchmark.training.base import EpochCallback, TrainingConfig, fit_adjuster, resolve_device, softmax
from benchmark.training.features import make_featurizer

DEFAULT_MODELS = {"image": "small-cnn", "tabular": "mlp", "text": "mlp"}


@dataclass
class TrainState:
    """What per-epoch and per-batch hooks may read (all about the training split, plus the last
    validation scores for dynamic sampling)."""

    y: torch.Tensor  # training labels on the device, after resampling
    class_counts: torch.Tensor  # (C,) training counts on the device
    num_classes: int
    epochs: int
    generator: torch.Generator
    device: torch.device
    epoch: int = 0
    stage: str = "main"
    val_per_class_f1: np.ndarray | None = None
    val_per_class_recall: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def stage_epochs(stages: list[Stage], total: int) -> list[int]:
    """Split ``total`` epochs over stages by their fractions; every stage gets at least one."""
    if total < len(stages):
        raise BenchmarkError(
            f"{len(stages)} training stages need at least {len(stages)} epochs; the suite gives {total}",
            "raise the suite's epochs",
        )
    weights = np.array([max(s.epochs, 0.0) for s in stages], dtype=np.float64)
    raw = weights / weights.sum() * total
    alloc = np.maximum(1, np.floor(raw).astype(int))
    while alloc.sum() < total:  # give the remainder to the stages that lost most to rounding
        alloc[int(np.argmax(raw - alloc))] += 1
    while alloc.sum() > total:
        alloc[int(np.argmax(alloc))] -= 1
    return alloc.tolist()


class DeepModel:
    """A trained backbone with its featuriser and post-hoc adjustment."""

    def __init__(self, model: Backbone, featurizer: Any, adjust: Any, device: torch.device, config: TrainingConfig,
                 normalise: Any, timings: dict[str, float]):
        self.model, self.featurizer, self.adjust = model, featurizer, adjust
        self.device, self.config, self.normalise, self.timings = device, config, normalise, timings

    def logits(self, X: np.ndarray) -> np.ndarray:
        features = torch.as_tensor(self.featurizer.transform(X)).to(self.device)
        return predict_logits(self.model, features, self.normalise, self.config, self.device)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        logits = self.logits(X)
        if self.adjust is not None:
            logits = self.adjust.adjust(logits)
        return softmax(logits)


def autocast_for(config: TrainingConfig, device: torch.device):
    use_bf16 = config.precision == "bf16" or (config.precision == "auto" and device.type == "cuda")
    return torch.autocast(device.type, dtype=torch.bfloat16) if use_bf16 else nullcontext()


@torch.no_grad()
def predict_logits(model: Backbone, X: torch.Tensor, normalise: Any, config: TrainingConfig,
                   device: torch.device) -> np.ndarray:
    """Logits of every row of ``X`` in large batches (one pass, no per-sample loop)."""
    model.eval()
    out = []
    with autocast_for(config, device):
        for start in range(0, X.shape[0], config.eval_batch_size):
            out.append(model(normalise(X[start : start + config.eval_batch_size])).float())
    model.train()
    return torch.cat(out).cpu().numpy() if out else np.zeros((0, model.head.out_features), np.float32)


def make_normaliser(X_train: np.ndarray, modality: str, device: torch.device):
    """Images: uint8 -> [0, 1] -> per-channel standardisation with training statistics."""
    if modality != "image":
        return lambda x: x
    mean = torch.tensor(X_train.mean(axis=(0, 2, 3), dtype=np.float64) / 255, dtype=torch.float32, device=device)
    std = torch.tensor(X_train.std(axis=(0, 2, 3), dtype=np.float64) / 255, dtype=torch.float32, device=device)
    mean, std = mean.view(1, -1, 1, 1), std.clamp_min(1e-6).view(1, -1, 1, 1)
    return lambda x: (x - mean) / std if x.dtype != torch.uint8 else (x.float() / 255 - mean) / std


def default_loss(logits: torch.Tensor, target: torch.Tensor, epoch: int) -> torch.Tensor:
    """Cross-entropy; soft targets (B, C) from mixing augmentations are accepted as they are."""
    return F.cross_entropy(logits, target)


def make_optimizer(params, config: TrainingConfig) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=0.9, nesterov=True, weight_decay=config.weight_decay)
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)


class DeepEngine:
    """Runs every recipe hook at its point: resample, batch_sampler, augment, loss, stages, adjust."""

    name = "deep"
    hooks = DEEP_HOOKS

    def fit(
        self,
        split: Split,
        recipe: Recipe,
        config: TrainingConfig,
        *,
        seed: int,
        device: str = "auto",
        on_epoch: EpochCallback | None = None,
    ) -> DeepModel:
        recipe.check_engine(self.name, self.hooks)
        dev = torch.device(resolve_device(device))
        seed_everything(seed)
        timings: dict[str, float] = {}

        # 1. resample (training split only), before and after featurisation as the sampler asks
        t0 = time.perf_counter()
        X, y = split.train.X, split.train.y
        sampler = recipe.resample
        if sampler is not None and getattr(sampler, "space", "features") == "input":
            X, y = sampler.resample(X, y, seed=seed)
        featurizer = make_featurizer(split.modality, config, split.feature_kinds).fit(X)
        F_train = featurizer.transform(X)
        if sampler is not None and getattr(sampler, "space", "features") == "features":
            F_train, y = sampler.resample(F_train, y, seed=seed)
        timings["resample_seconds"] = time.perf_counter() - t0

        # 2. data onto the device for the whole trial
        model = build_model(config.model or DEFAULT_MODELS[split.modality], featurizer.spec, split.num_classes).to(dev)
        X_dev = torch.as_tensor(np.ascontiguousarray(F_train)).to(dev)
        y_dev = torch.as_tensor(np.asarray(y, dtype=np.int64)).to(dev)
        X_val = torch.as_tensor(np.ascontiguousarray(featurizer.transform(split.val.X))).to(dev)
        y_val = split.val.y
        normalise = make_normaliser(F_train, split.modality, dev)
        generator = torch.Generator(device=dev)
        generator.manual_seed(seed)
        counts = torch.bincount(y_dev, minlength=split.num_classes)
        state = TrainState(y_dev, counts, split.num_classes, config.epochs, generator, dev)

        # 3. the training schedule
        t0 = time.perf_counter()
        stages = recipe.stages or [Stage("main", 1.0)]
        epoch = 0
        for stage, n_epochs in zip(stages, stage_epochs(stages, config.epochs), strict=True):
            state.stage = stage.name
            optimizer = self._configure_stage(model, stage, config)
            batch_sampler = stage.batch_sampler or recipe.batch_sampler
            loss_fn = stage.loss or recipe.loss or default_loss
            for _ in range(n_epochs):
                state.epoch = epoch
                self._train_epoch(model, optimizer, X_dev, y_dev, normalise, batch_sampler, recipe.augment, loss_fn,
                                  state, config, dev, head_only=stage.train == "head")
                val_logits = predict_logits(model, X_val, normalise, config, dev)
                _, recall, f1 = per_class_scores(confusion(y_val, val_logits.argmax(1), split.num_classes))
                state.val_per_class_f1, state.val_per_class_recall = f1, recall
                if on_epoch is not None:
                    on_epoch(epoch, softmax(val_logits))
                epoch += 1
        timings["train_seconds"] = time.perf_counter() - t0
        timings["epochs"] = epoch
        for p in model.parameters():
            p.requires_grad_(True)

        # 4. post-hoc adjustment, fitted on validation logits only
        fit_adjuster(recipe.adjust, predict_logits(model, X_val, normalise, config, dev), y_val,
                     split.class_counts("train"))
        return DeepModel(model, featurizer, recipe.adjust, dev, config, normalise, timings)

    @staticmethod
    def _configure_stage(model: Backbone, stage: Stage, config: TrainingConfig) -> torch.optim.Optimizer:
        if stage.train not in ("all", "head"):
            raise BenchmarkError(f"stage '{stage.name}' trains {stage.train!r}", "use 'all' or 'head'")
        if stage.reinit_head:
            model.reset_head()
        head_only = stage.train == "head"
        for p in model.features.parameters():
            p.requires_grad_(not head_only)
        for p in model.head.parameters():
            p.requires_grad_(True)
        return make_optimizer([p for p in model.parameters() if p.requires_grad], config)

    @staticmethod
    def _train_epoch(model, optimizer, X, y, normalise, batch_sampler, augment, loss_fn, state, config, dev,
                     head_only: bool) -> None:
        model.train()
        if head_only:  # frozen features: no dropout noise, no batch-norm statistic updates
            model.features.eval()
        if batch_sampler is not None:
            order = batch_sampler.batch_indices(state.epoch, state).to(dev)
        else:
            order = torch.randperm(X.shape[0], generator=state.generator, device=dev)
        total = torch.zeros((), device=dev)
        bs = config.batch_size
        with autocast_for(config, dev):
            for start in range(0, order.numel(), bs):
                idx = order[start : start + bs]
                if idx.numel() < 2 and order.numel() > 1:  # a lone sample breaks batch statistics
                    continue
                xb, target = X[idx], y[idx]
                if xb.dtype == torch.uint8:
                    xb = xb.float().div_(255)
                if augment is not None:
                    xb, target = augment.augment(xb, target, state)
                logits = model(normalise(xb))
                loss = loss_fn(logits.float(), target, state.epoch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += loss.detach()
        # One host sync per epoch, not per batch: a NaN anywhere in the epoch makes the sum NaN.
        if not torch.isfinite(total).item():
            raise DivergedError(
                f"training diverged: the loss became {total.item()} in epoch {state.epoch} (stage {state.stage})",
                "lower the learning rate, or check the method's loss for invalid values",
            )
