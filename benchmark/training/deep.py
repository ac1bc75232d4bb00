"""The deep engine: torch training with the data resident on the device.

The whole (featurised) training set lives on the device for the trial; an epoch is a tensor of
indices (``torch.randperm`` or a batch sampler's indices) holding the same number of samples for
every method, the original training split's size (:mod:`benchmark.training.epochs`: shorter draws
are repeated, longer ones cut, resampled sets visited in permutation chunks); each batch is gathered by indexing,
converted and normalised on the device, augmented on the device, and fed to the model (the step
itself is :mod:`benchmark.training.step`). Validation is one batched pass per epoch. No
``DataLoader`` is involved. TF-IDF rows train as sparse CSR rows on the CPU where no hook needs them
dense (:mod:`benchmark.training.sparse_input` holds the rule).

Where each recipe hook runs (``benchmark/methods/base.py`` has the full contract):
``resample`` once on the training rows before featurisation (``space="input"``) or after it
(``space="features"``); ``pretrain`` first of all stages (:mod:`benchmark.training.pretext`: the
pretext task trains ``features`` under its own head on the original training rows, without labels,
for its ``share`` of the epochs; the supervised stages start from those features with the untouched
head); ``batch_sampler.batch_indices(epoch, state)`` at the start of every
epoch; ``augment.augment(x, y, state)`` on every batch (images as floats in [0, 1], before
standardisation); ``loss(logits, target, epoch)`` on every batch; ``stages`` split the epochs into
phases (head-only training freezes ``features``, ``reinit_head`` re-initialises the head,
``feature_resample`` resamples penultimate embeddings and trains the head on them; every stage-epoch
trains the same fixed sample count; ``Stage.pseudo_label`` extends the training rows of its stage and
the later ones by the pool rows it selects); ``adjust.fit`` on the final validation logits,
``adjust.adjust`` at every prediction. A recipe that reads the unlabeled pool
(:meth:`~benchmark.methods.base.Recipe.uses_unlabeled`) finds it featurised on the device as
``state.extra["unlabeled"]`` (:mod:`benchmark.training.unlabeled`). The timings record what was
trained: ``epoch_samples`` (per epoch), ``train_samples`` and ``train_steps`` (over all epochs and
stages, the pretext stage's included), ``training_rows`` (the training set's rows after
``resample``), and where used ``pretrain_epochs``, ``pretrain_samples``, ``pretrain_seconds``,
``unlabeled_rows`` (pool rows offered) and ``pseudo_labelled_rows`` (pool rows the last
pseudo-labelling stage added). ``on_epoch`` is called after every supervised epoch (numbered after
the pretext epochs); a pretext epoch has no class predictions to report.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from benchmark.datasets.base import Split
from benchmark.errors import BenchmarkError
from benchmark.methods.base import DEEP_HOOKS, Recipe, ResampleContext, Stage, call_resample
from benchmark.metrics import confusion, per_class_scores
from benchmark.models.base import Backbone, build_model
from benchmark.training.base import (
    EpochCallback,
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
from benchmark.training.epochs import epoch_compute, epoch_draws
from benchmark.training.features import make_featurizer
from benchmark.training.pretext import check_pretext, train_pretext
from benchmark.training.sparse_input import as_csr, as_dense, dense_input_reason
from benchmark.training.step import (
    StepRunner,
    autocast_for,
    check_finite,
    default_loss,
    make_optimizer,
    set_lr,
    use_cuda_graphs,
)
from benchmark.training.unlabeled import pseudo_labelled, unlabeled_pool

DEFAULT_MODELS = {"image": "small-cnn", "tabular": "mlp", "text": "mlp"}

__all__ = ["DeepEngine", "DeepModel", "TrainState", "default_loss", "epoch_draws", "schedule_epochs", "stage_epochs"]


@dataclass
class TrainState:
    """What per-epoch and per-batch hooks may read (all about the training split, plus the last
    validation scores for dynamic sampling). In a ``feature_resample`` stage ``y`` and
    ``class_counts`` describe the resampled embeddings."""

    y: torch.Tensor  # training labels on the device, after resampling
    class_counts: torch.Tensor  # (C,) training counts on the device
    num_classes: int
    epochs: int
    generator: torch.Generator
    device: torch.device
    epoch: int = 0
    stage: str = "main"
    seed: int = 0
    val_per_class_f1: np.ndarray | None = None
    val_per_class_recall: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)


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


def schedule_epochs(pretrain: Any, stages: list[Stage], total: int) -> tuple[int, list[int]]:
    """(pretext epochs, each supervised stage's epochs): the pretext stage takes its ``share`` of
    ``total`` (rounded as :func:`stage_epochs` rounds, at least one epoch, and never so many that a
    supervised stage is left without one); the supervised stages split the rest by their fractions."""
    if pretrain is None:
        return 0, stage_epochs(stages, total)
    share = check_pretext(pretrain)
    if total < len(stages) + 1:
        raise BenchmarkError(f"pre-training and {len(stages)} training stage(s) need at least {len(stages) + 1} "
                             f"epochs; the suite gives {total}", "raise the suite's epochs")
    first, _ = stage_epochs([Stage("pretext", share), Stage("supervised", 1.0 - share)], total)
    first = min(first, total - len(stages))
    return first, stage_epochs(stages, total - first)


class DeepModel:
    """A trained backbone with its featuriser and post-hoc adjustment."""

    def __init__(self, model: Backbone, featurizer: Any, adjust: Any, device: torch.device, config: TrainingConfig,
                 normalise: Any, timings: dict[str, float]):
        self.model, self.featurizer, self.adjust = model, featurizer, adjust
        self.device, self.config, self.normalise, self.timings = device, config, normalise, timings

    def logits(self, X: np.ndarray) -> np.ndarray:
        features = model_input(self.featurizer.transform(X), self.device)
        return predict_logits(self.model, features, self.normalise, self.config, self.device)

    def embed(self, X: np.ndarray) -> np.ndarray:
        """Penultimate-layer embeddings (``Backbone.features``) of raw rows."""
        features = model_input(self.featurizer.transform(X), self.device)
        return embed(self.model, features, self.normalise, self.config, self.device).cpu().numpy()

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        logits = self.logits(X)
        if self.adjust is not None:
            logits = self.adjust.adjust(logits)
        return softmax(logits)


def _batched(module: torch.nn.Module, X: torch.Tensor, normalise: Any, config: TrainingConfig,
             device: torch.device) -> torch.Tensor:
    was_training = module.training
    module.eval()
    out = []
    channels_last = config.channels_last and device.type == "cuda" and X.dim() == 4
    with torch.no_grad(), autocast_for(config, device):
        for start in range(0, X.shape[0], config.eval_batch_size):
            xb = X[start : start + config.eval_batch_size]
            xb = normalise(xb.float().div_(255) if xb.dtype == torch.uint8 else xb)
            if channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            out.append(module(xb).float())
    module.train(was_training)
    return torch.cat(out) if out else torch.zeros((0, 0), device=device)


def predict_logits(model: torch.nn.Module, X: torch.Tensor, normalise: Any, config: TrainingConfig,
                   device: torch.device) -> np.ndarray:
    """Logits of every row of ``X`` in large batches (one pass, no per-sample loop)."""
    out = _batched(model, X, normalise, config, device)
    if out.numel() == 0:
        return np.zeros((0, model.head.out_features if hasattr(model, "head") else model.out_features), np.float32)
    return out.cpu().numpy()


def embed(model: Backbone, X: torch.Tensor, normalise: Any, config: TrainingConfig,
          device: torch.device) -> torch.Tensor:
    """Penultimate embeddings of every row of ``X`` (eval mode, large batches), float32 on the device."""
    return _batched(model.features, X, normalise, config, device)


def make_normaliser(X_train: np.ndarray, modality: str, device: torch.device):
    """Images: [0, 1] floats -> per-channel standardisation with training statistics (one fused op)."""
    if modality != "image":
        return lambda x: x
    mean = X_train.mean(axis=(0, 2, 3), dtype=np.float64) / 255
    std = np.maximum(X_train.std(axis=(0, 2, 3), dtype=np.float64) / 255, 1e-6)
    scale = torch.tensor(1 / std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    shift = torch.tensor(-mean / std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    return lambda x: torch.addcmul(shift, x, scale)


@dataclass
class _Run:
    """One fit's working set, shared by its stages: the model, the device-resident data and the counters."""

    split: Split
    config: TrainingConfig
    dev: torch.device
    seed: int
    model: Backbone
    normalise: Any
    state: TrainState
    X_dev: torch.Tensor  # the training rows (after resample) on the device
    y_dev: torch.Tensor
    counts: torch.Tensor  # class counts of y_dev
    X_val: torch.Tensor
    timings: dict[str, float]
    X_base: torch.Tensor | None = None  # the training rows, plus pool rows once a stage pseudo-labels them
    y_base: torch.Tensor | None = None
    epoch_samples: int = 0
    context: ResampleContext | None = None
    on_epoch: EpochCallback | None = None
    epoch: int = 0
    steps: int = 0
    samples: int = 0


def _on_device(split: Split, recipe: Recipe, config: TrainingConfig, seed: int, dev: torch.device, featurizer: Any,
               F_train: np.ndarray, y: np.ndarray, timings: dict[str, float]) -> _Run:
    """Build the model and put the training and validation data on the device for the whole trial."""
    model = build_model(config.model or DEFAULT_MODELS[split.modality], featurizer.spec, split.num_classes).to(dev)
    if config.channels_last and dev.type == "cuda" and F_train.ndim == 4:
        model = model.to(memory_format=torch.channels_last)
    X_dev = model_input(F_train, dev)
    y_dev = torch.as_tensor(np.asarray(y, dtype=np.int64)).to(dev)
    X_val = model_input(featurizer.transform(split.val.X), dev)
    normalise = make_normaliser(F_train, split.modality, dev)
    generator = torch.Generator(device=dev)
    generator.manual_seed(seed)
    counts = torch.bincount(y_dev, minlength=split.num_classes)
    state = TrainState(y_dev, counts, split.num_classes, config.epochs, generator, dev, seed=seed)
    if recipe.uses_unlabeled():  # the pool's features only: a split holds no labels for it
        state.extra["unlabeled"] = unlabeled_pool(split, featurizer, dev)
        timings["unlabeled_rows"] = int(state.extra["unlabeled"].shape[0])
    return _Run(split, config, dev, seed, model, normalise, state, X_dev, y_dev, counts, X_val, timings,
                X_base=X_dev, y_base=y_dev)


class DeepEngine:
    """Runs every recipe hook at its point: resample, batch_sampler, augment, loss, stages, adjust."""

    name = "deep"
    hooks = DEEP_HOOKS

    def fit(self, split: Split, recipe: Recipe, config: TrainingConfig, *, seed: int, device: str = "auto",
            on_epoch: EpochCallback | None = None) -> DeepModel:
        """Train on ``split.train`` with ``recipe``; ``on_epoch(epoch, val_proba)`` after every epoch."""
        recipe.check_engine(self.name, self.hooks)
        dev = torch.device(resolve_device(device))
        try:
            return self._fit(split, recipe, config, seed, dev, on_epoch)
        except torch.cuda.OutOfMemoryError as exc:
            torch.cuda.empty_cache()
            raise BenchmarkError(
                f"out of GPU memory training {config.model or DEFAULT_MODELS[split.modality]} on {split.dataset} "
                f"at batch size {config.batch_size}: {str(exc).splitlines()[0]}",
                "lower the batch size, or run fewer trials at once on this GPU",
            ) from exc

    def _fit(self, split: Split, recipe: Recipe, config: TrainingConfig, seed: int, dev: torch.device,
             on_epoch: EpochCallback | None) -> DeepModel:
        seed_everything(seed, config.deterministic)
        pin_threads(config)
        timings: dict[str, float] = {}

        # 1. resample (training split only), before and after featurisation as the sampler asks
        epoch_samples, _ = epoch_compute(len(split.train), config.batch_size)  # fixed before any resampling
        t0 = time.perf_counter()
        name = config.model or DEFAULT_MODELS[split.modality]
        context = resample_context(split, recipe, config, dev, name)
        sparse = dense_input_reason(split, recipe, config, dev, name) is None  # sparse TF-IDF rows, once per fit
        featurizer, F_train, y = prepare_training_data(split, recipe, config, seed, context, sparse=sparse)
        timings["resample_seconds"] = time.perf_counter() - t0

        # 2. data onto the device for the whole trial
        run = _on_device(split, recipe, config, seed, dev, featurizer, F_train, y, timings)
        run.epoch_samples, run.context, run.on_epoch = epoch_samples, context, on_epoch

        # 3. the training schedule: the pretext stage (if any), then the supervised stages
        t0, cpu0 = time.perf_counter(), time.process_time()
        stages = recipe.stages or [Stage("main", 1.0)]
        pretrain_epochs, stage_alloc = schedule_epochs(recipe.pretrain, stages, config.epochs)
        timings.update(feature_resample_seconds=0.0, feature_stage_seconds=0.0, graph_capture_seconds=0.0,
                       validation_seconds=0.0)
        if recipe.pretrain is not None:  # on the original training rows (before any resample), without labels
            X_pre = run.X_dev if recipe.resample is None else model_input(featurizer.transform(split.train.X), dev)
            pre = train_pretext(run.model, recipe.pretrain, X_pre, featurizer.spec, run.normalise, run.state, config,
                                dev, epoch_samples, pretrain_epochs)
            run.steps, run.samples = pre.pop("steps"), pre["pretrain_samples"]
            timings["graph_capture_seconds"] += pre.pop("graph_capture_seconds")
            timings.update(pre)
            del X_pre
        run.epoch = pretrain_epochs  # the pretext epochs count in the run's epochs (and its samples)
        for stage, n_epochs in zip(stages, stage_alloc, strict=True):
            self._run_stage(run, recipe, stage, n_epochs, first=stage is stages[0])
        timings["train_seconds"] = time.perf_counter() - t0
        timings["train_cpu_seconds"] = time.process_time() - cpu0  # this process's CPU time: other load aside
        timings["epochs"] = run.epoch
        timings.update(epoch_samples=epoch_samples, train_samples=run.samples, train_steps=run.steps,
                       training_rows=int(run.y_dev.shape[0]), **({"sparse_input": 1} if sparse else {}))
        model, normalise = run.model, run.normalise
        for p in model.parameters():
            p.requires_grad_(True)

        # 4. post-hoc adjustment, fitted on validation logits only
        fit_adjuster(recipe.adjust, predict_logits(model, run.X_val, normalise, config, dev), split.val.y,
                     split.class_counts("train"), model=model)
        if context is not None:  # generator_seconds, sampling_seconds; artifacts for the seed rows
            timings.update(context.timings)
        trained = DeepModel(model, featurizer, recipe.adjust, dev, config, normalise, timings)
        trained.artifacts = context.artifacts if context is not None else {}
        return trained

    def _run_stage(self, run: _Run, recipe: Recipe, stage: Stage, n_epochs: int, first: bool) -> None:
        """Train one supervised stage for ``n_epochs`` epochs (``first``: the stage that warms up)."""
        t_stage = time.perf_counter()
        model, config, dev, state, normalise = run.model, run.config, run.dev, run.state, run.normalise
        num_classes = run.split.num_classes
        state.stage = stage.name
        if stage.pseudo_label is not None:  # predicted by the model as the last stage left it
            run.X_base, run.y_base, run.timings["pseudo_labelled_rows"] = pseudo_labelled(
                stage.pseudo_label, stage.name, lambda X: predict_logits(model, X, normalise, config, dev),
                state.extra["unlabeled"], run.X_dev, run.y_dev, num_classes, run.seed)
        self._configure_stage(model, stage)
        batch_sampler = stage.batch_sampler or recipe.batch_sampler
        loss_fn = stage.loss or recipe.loss or default_loss
        val_emb = None
        if stage.feature_resample is not None:
            t_fr = time.perf_counter()
            X_stage, y_stage = self._resample_embeddings(model, stage, run.X_base, run.y_base, normalise, config, dev,
                                                         run.seed, run.context)
            run.timings["feature_resample_seconds"] += time.perf_counter() - t_fr
            val_emb = embed(model, run.X_val, normalise, config, dev)
            # the stage's own augment (if any) sees embedding batches, e.g. penultimate-feature mixup
            trained, stage_X, stage_norm, augment = model.head, X_stage, (lambda x: x), stage.augment
            state.y, state.class_counts = y_stage, torch.bincount(y_stage, minlength=num_classes)
        else:
            trained, stage_X, stage_norm = model, run.X_base, normalise
            augment = stage.augment or recipe.augment
            state.y = y_stage = run.y_base
            state.class_counts = (run.counts if run.y_base is run.y_dev
                                  else torch.bincount(run.y_base, minlength=num_classes))
        rate_changes = config.lr_schedule != "constant" or bool(config.warmup_epochs and first)
        use_graphs = use_cuda_graphs(config, dev, (augment, loss_fn), rate_changes)
        optimizer = make_optimizer([p for p in trained.parameters() if p.requires_grad], config, dev, use_graphs)
        runner = StepRunner(trained, optimizer, stage_X, y_stage, stage_norm, augment, loss_fn, state, config,
                            dev, use_graphs)
        draws = epoch_draws(batch_sampler, state, stage_X.shape[0], run.epoch_samples, state.generator, dev)
        for stage_epoch in range(n_epochs):
            set_lr(optimizer, config.lr * lr_factor(config, stage_epoch, n_epochs, warmup=first))
            state.epoch = run.epoch
            model.train()
            if stage.train == "head" or stage.feature_resample is not None:
                model.features.eval()  # frozen features: no dropout noise, no batch-norm statistic updates
            runner.run_epoch(draws.next_epoch())
            check_finite(runner.total, state.epoch, state.stage)
            self._validate(run, val_emb)
            run.epoch += 1
        run.timings["graph_capture_seconds"] += runner.capture_seconds
        run.steps, run.samples = run.steps + runner.steps, run.samples + runner.samples
        del runner, optimizer  # frees the stage's captured graphs
        if stage.head_wrapper is not None:
            model.head = model.head.fold()  # back to a plain nn.Linear giving the same logits
        if stage.feature_resample is not None:  # EOS-style step: embed, resample, re-train the head
            run.timings["feature_stage_seconds"] += time.perf_counter() - t_stage

    @staticmethod
    def _validate(run: _Run, val_emb: torch.Tensor | None) -> None:
        """The epoch's validation pass: per-class scores for the hooks, probabilities for ``on_epoch``
        (``val_emb``: the validation embeddings of a stage that trains the head on embeddings)."""
        t_val = time.perf_counter()
        if val_emb is not None:
            val_logits = predict_logits(run.model.head, val_emb, lambda x: x, run.config, run.dev)
        else:
            val_logits = predict_logits(run.model, run.X_val, run.normalise, run.config, run.dev)
        run.timings["validation_seconds"] += time.perf_counter() - t_val
        _, recall, f1 = per_class_scores(confusion(run.split.val.y, val_logits.argmax(1), run.split.num_classes))
        run.state.val_per_class_f1, run.state.val_per_class_recall = f1, recall
        if run.on_epoch is not None:
            run.on_epoch(run.epoch, softmax(val_logits))

    @staticmethod
    def _configure_stage(model: Backbone, stage: Stage) -> None:
        if stage.train not in ("all", "head"):
            raise BenchmarkError(f"stage '{stage.name}' trains {stage.train!r}", "use 'all' or 'head'")
        if stage.feature_resample is not None and not hasattr(stage.feature_resample, "resample"):
            raise BenchmarkError(f"stage '{stage.name}' has a feature_resample without a resample() method",
                                 "give it resample(features, y, seed) -> (features, y)")
        if stage.reinit_head:
            model.reset_head()
        head_only = stage.train == "head" or stage.feature_resample is not None
        for p in model.features.parameters():
            p.requires_grad_(not head_only)
        for p in model.head.parameters():
            p.requires_grad_(True)
        if stage.head_wrapper is not None:  # trained in place of the head; it freezes what it does not train
            model.head = stage.head_wrapper(model.head)
            if not hasattr(model.head, "fold"):
                raise BenchmarkError(f"stage '{stage.name}': its head_wrapper gave a {type(model.head).__name__} "
                                     "without fold()", "give the wrapper module a fold() -> nn.Linear")

    @staticmethod
    def _resample_embeddings(model: Backbone, stage: Stage, X: torch.Tensor, y: torch.Tensor, normalise: Any,
                             config: TrainingConfig, dev: torch.device, seed: int,
                             context: ResampleContext | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """EOS-style stages: embed the training set, let the component resample the embeddings."""
        features = embed(model, X, normalise, config, dev)
        F_new, y_new = call_resample(stage.feature_resample, features, y, seed, context)
        F_new = torch.as_tensor(F_new, dtype=torch.float32, device=dev)
        y_new = torch.as_tensor(y_new, device=dev).long()
        if F_new.ndim != 2 or F_new.shape[1] != features.shape[1] or F_new.shape[0] != y_new.shape[0]:
            raise BenchmarkError(
                f"stage '{stage.name}': feature_resample returned features {tuple(F_new.shape)} and labels "
                f"{tuple(y_new.shape)} for embeddings of shape {tuple(features.shape)}",
                "return (N', D) features with the embedding's D and N' labels",
            )
        return F_new, y_new


def prepare_training_data(split: Split, recipe: Recipe, config: TrainingConfig, seed: int,
                          context: ResampleContext | None = None, *, sparse: bool = False):
    """The ``resample`` hook around featurisation: returns (fitted featuriser, training features, labels).
    With ``sparse`` (:func:`~benchmark.training.sparse_input.dense_input_reason` allowed it) the featuriser
    gives CSR rows and the training features are CSR; a feature-space resampler still gets dense rows."""
    X, y = split.train.X, split.train.y
    sampler = recipe.resample
    if sampler is not None and getattr(sampler, "space", "features") == "input":
        X, y = call_resample(sampler, X, y, seed, context)
    featurizer = make_featurizer(split.modality, config, split.feature_kinds, dense=not sparse).fit(X)
    F_train = featurizer.transform(X)
    if sampler is not None and getattr(sampler, "space", "features") == "features":
        F_train, y = call_resample(sampler, as_dense(F_train), y, seed, context)
    return featurizer, as_csr(F_train) if sparse else np.asarray(F_train), np.asarray(y, dtype=np.int64)
