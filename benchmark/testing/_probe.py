"""Probing a method without training it: scripted search-space draws and behaviour fingerprints.

A check that "a tuned value reaches the recipe" builds the method twice with two values of one
parameter and compares what the two recipes *do* on the same fixed input (:func:`fingerprint`): the
loss values at every epoch, the indices a batch sampler draws, an augmented batch, the resampled
training rows, the stage schedule, an adjusted set of logits, a fitted classifier's probabilities.
Nothing here trains a network, so the checks stay cheap enough to run on every registered method.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import optuna
import torch

from benchmark.datasets.base import Split
from benchmark.methods.base import Method, MethodContext, Recipe, Stage
from benchmark.training.base import TrainingConfig

# Epochs the probes assume: enough that a schedule switching at 50% or 90% of training (DRW, DRS,
# two stages) switches at different epochs.
PROBE_EPOCHS = 10
PROBE_BATCH = 24


class ScriptedTrial:
    """Stands in for :class:`optuna.Trial` in a search space: each ``suggest_*`` returns the scripted
    value of that name when it lies in the suggested range, else a value from the middle of the range.
    ``distributions`` records what the search space asked for."""

    number = 0

    def __init__(self, values: dict[str, Any] | None = None):
        self.values = dict(values or {})
        self.params: dict[str, Any] = {}
        self.distributions: dict[str, tuple] = {}
        self.user_attrs: dict[str, Any] = {}

    def _pick(self, name: str, valid, default):
        value = self.values.get(name, default)
        value = value if name in self.values and valid(value) else default
        self.params[name] = value
        return value

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False):
        self.distributions[name] = ("float", low, high, step, log)
        middle = math.sqrt(low * high) if log else (low + high) / 2
        if step:
            middle = low + round((middle - low) / step) * step
        return self._pick(name, lambda v: isinstance(v, int | float) and low <= v <= high, middle)

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False):
        self.distributions[name] = ("int", low, high, step, log)
        middle = low + ((high - low) // 2 // step) * step
        return self._pick(name, lambda v: isinstance(v, int | np.integer) and low <= v <= high, middle)

    def suggest_categorical(self, name: str, choices):
        choices = list(choices)
        self.distributions[name] = ("categorical", tuple(choices))
        return self._pick(name, lambda v: v in choices, choices[0])

    def suggest_uniform(self, name: str, low: float, high: float):
        return self.suggest_float(name, low, high)

    def suggest_loguniform(self, name: str, low: float, high: float):
        return self.suggest_float(name, low, high, log=True)

    def set_user_attr(self, key: str, value: Any) -> None:
        self.user_attrs[key] = value

    def report(self, value: float, step: int) -> None:
        pass

    def should_prune(self) -> bool:
        return False


def scripted_params(method: Method, ctx: MethodContext, values: dict[str, Any]) -> tuple[dict, dict]:
    """The parameters ``method.search_space`` gives when its trial returns ``values`` (and middles)."""
    trial = ScriptedTrial(values)
    params = dict(method.search_space(trial, ctx) or {})
    return params, trial.distributions


def low_values(values: dict[str, Any], distributions: dict[str, tuple]) -> dict[str, Any]:
    """``values`` with every numeric parameter at the low end of its range (categorical ones kept):
    the cheapest configuration near a draw (fewest estimators, epochs, folds), for checks whose
    subject is not that parameter."""
    out = dict(values)
    for name, distribution in distributions.items():
        if distribution[0] != "categorical":
            out[name] = two_values(distribution)[0]  # a float's 5% point: an open low end stays out
    return out


def cheapest_params(method: Method, ctx: MethodContext) -> dict[str, Any]:
    """The parameters of the study's first draw with every numeric parameter at its low end."""
    draw = random_draws(method, ctx, n=1)[0]
    _, distributions = scripted_params(method, ctx, draw)
    return scripted_params(method, ctx, low_values(draw, distributions))[0]


def random_draws(method: Method, ctx: MethodContext, n: int = 6) -> list[dict[str, Any]]:
    """``n`` configurations as a study's random sampler would draw them (seeds 0..n-1)."""
    draws = []
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "A new study created" line per draw
    try:
        for seed in range(n):
            study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
            draws.append(dict(method.search_space(study.ask(), ctx) or {}))
    finally:
        optuna.logging.set_verbosity(verbosity)
    return draws


def two_values(distribution: tuple) -> list[Any]:
    """Two far-apart values of a parameter's range (every choice of a categorical one): the ends of
    an integer range, points 5% inside the ends of a float range (an open end such as a threshold
    that must be positive stays out)."""
    kind = distribution[0]
    if kind == "categorical":
        return list(distribution[1])
    _, low, high, step, log = distribution
    if kind == "int":
        high = low + ((high - low) // step) * step
        return [low, high] if high > low else [low]
    if high <= low:
        return [low]
    if log:
        a, b = math.log(low), math.log(high)
        values = [math.exp(a + 0.05 * (b - a)), math.exp(b - 0.05 * (b - a))]
    else:
        values = [low + 0.05 * (high - low), high - 0.05 * (high - low)]
    if step:
        values = [low + round((v - low) / step) * step for v in values]
    return values if values[0] != values[1] else [low]


# -- fixed probe inputs --------------------------------------------------------------------------------
class ProbeState:
    """A :class:`~benchmark.training.deep.TrainState` look-alike on the CPU for calling hooks directly."""

    def __init__(self, y: np.ndarray, num_classes: int, epochs: int = PROBE_EPOCHS, seed: int = 0,
                 unlabeled: np.ndarray | None = None):
        self.y = torch.as_tensor(np.asarray(y, dtype=np.int64))
        self.class_counts = torch.bincount(self.y, minlength=num_classes)
        self.num_classes, self.epochs, self.epoch, self.stage, self.seed = num_classes, epochs, 0, "main", seed
        self.device = torch.device("cpu")
        self.generator = torch.Generator().manual_seed(seed)
        # the last validation's per-class scores (dynamic sampling reads them): weaker on rarer classes
        ranks = np.argsort(np.argsort(-self.class_counts.numpy()))
        self.val_per_class_f1 = 0.9 - 0.6 * ranks / max(num_classes - 1, 1)
        self.val_per_class_recall = self.val_per_class_f1.copy()
        # the split's unlabeled pool, as the engine gives it to components with uses_unlabeled = True
        self.extra: dict[str, Any] = {} if unlabeled is None else {"unlabeled": torch.as_tensor(unlabeled)}


def probe_logits(num_classes: int, seed: int = 0, n: int = PROBE_BATCH) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed batch of logits and hard targets covering every class."""
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, num_classes, generator=gen) * 2.0
    target = torch.arange(n) % num_classes
    return logits, target


def probe_batch(split: Split, n: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed batch of training inputs as the deep engine hands them to ``augment`` (images as floats
    in [0, 1]; other modalities as float features), with their labels, every class present."""
    y = np.asarray(split.train.y)
    rng = np.random.default_rng(seed)
    rows = np.concatenate([rng.choice(np.flatnonzero(y == c), size=max(1, n // split.num_classes))
                           for c in range(split.num_classes) if (y == c).any()])
    if split.modality == "image":
        x = torch.as_tensor(split.train.X[rows]).float().div(255)
    else:
        x = torch.as_tensor(rng.normal(size=(len(rows), 12)), dtype=torch.float32)
    return x, torch.as_tensor(y[rows])


def probe_batches(split: Split, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The batches an ``augment`` hook is probed with: one of the split's own rows and, for images,
    one of smooth random 3x32x32 colour images (the tiny splits are 8x8 grey: a hue or a padding of a
    few percent shows only on larger colour images)."""
    x, y = probe_batch(split, seed=seed)
    batches = [(x, y)]
    if split.modality == "image":
        gen = torch.Generator().manual_seed(seed)
        coarse = torch.rand(len(y), 3, 8, 8, generator=gen)
        batches.append((torch.nn.functional.interpolate(coarse, size=(32, 32), mode="bilinear"), y))
    return batches


def augment_batches(augment: Any, split: Split, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """:func:`probe_batches` for ``augment``; a component that reads the unlabeled pool gets the split's
    own rows only (it pairs them with pool rows, which have their shape, not the colour probe's)."""
    batches = probe_batches(split, seed)
    return batches[:1] if getattr(augment, "uses_unlabeled", False) else batches


def probe_context(split: Split, engine: str, class_counts: tuple[int, ...] | None = None) -> MethodContext:
    ctx = MethodContext.from_split(split, engine, epochs=PROBE_EPOCHS)
    return replace(ctx, class_counts=class_counts) if class_counts is not None else ctx


# -- fingerprints ------------------------------------------------------------------------------------
def _arrays(value: Any) -> Any:
    if torch.is_tensor(value):
        return value.detach().cpu().double().numpy()
    if hasattr(value, "toarray"):
        return np.asarray(value.toarray(), dtype=np.float64)
    if isinstance(value, tuple | list):
        return [_arrays(v) for v in value]
    if isinstance(value, dict):
        return {k: _arrays(v) for k, v in sorted(value.items())}
    if isinstance(value, np.ndarray) and value.dtype.kind in "fiub":
        return value.astype(np.float64)
    return value


def loss_curve(loss: Any, num_classes: int, epochs: int = PROBE_EPOCHS, seeds=(0, 1)) -> np.ndarray:
    """The loss on fixed batches at every epoch: (len(seeds), epochs)."""
    out = np.zeros((len(seeds), epochs))
    for i, seed in enumerate(seeds):
        logits, target = probe_logits(num_classes, seed)
        for epoch in range(epochs):
            out[i, epoch] = float(loss(logits.clone(), target.clone(), epoch))
    return out


def sampler_draws(sampler: Any, y: np.ndarray, num_classes: int, epochs: int = PROBE_EPOCHS) -> list[np.ndarray]:
    state = ProbeState(y, num_classes, epochs)
    draws = []
    for epoch in range(epochs):
        state.epoch = epoch
        draws.append(np.asarray(torch.as_tensor(sampler.batch_indices(epoch, state)).cpu()))
    return draws


def augmented(augment: Any, x: torch.Tensor, y: torch.Tensor, train_y: np.ndarray, num_classes: int,
              seed: int = 0, rounds: int = 4, unlabeled: np.ndarray | None = None) -> list[Any]:
    """The component's output on ``rounds`` consecutive calls with the batch (x, y), the state's class
    counts those of ``train_y`` (several calls: a component may leave a batch as it is by chance). A
    component that is also the loss (FixMatch: the loss splits the batch its augment laid out) adds its
    loss on fixed logits of each output (a fixed random linear map of the inputs, standardised)."""
    torch.manual_seed(seed)
    state = ProbeState(train_y, num_classes, seed=seed, unlabeled=unlabeled)
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(rounds):
        out_x, out_y = augment.augment(x.clone(), y.clone(), state)
        out.append([_arrays(out_x), _arrays(out_y)])
        if callable(augment) and getattr(augment, "uses_unlabeled", False):
            z = out_x.flatten(1) @ torch.randn(out_x[0].numel(), num_classes, generator=gen)
            out[-1].append(float(augment((z - z.mean()) / z.std().clamp_min(1e-6) * 3.0, out_y, 0)))
    return out


def adjusted(adjust: Any, num_classes: int, class_counts: tuple[int, ...], seed: int = 0) -> list[Any]:
    """A post-hoc adjustment fitted on fixed validation logits biased towards the largest class, then
    applied to them: (adjusted logits, what fit chose)."""
    val_logits, val_y = biased_logits(class_counts, seed)
    if hasattr(adjust, "attach"):
        adjust.attach(probe_backbone(num_classes, class_counts))
    if hasattr(adjust, "fit"):
        adjust.fit(val_logits, val_y, list(class_counts))
    fitted = adjust.fitted() if hasattr(adjust, "fitted") else {}
    return [_arrays(np.asarray(adjust.adjust(val_logits.copy()))), _arrays(fitted)]


def biased_logits(class_counts: tuple[int, ...], seed: int = 0, n_per_class: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Validation logits that rank each row's class high but lean towards the larger classes (as a
    model trained on imbalanced data does): each row's own class gets +1.5, each class
    log(n_c / n_max) - a spread, so many minority rows are predicted as a majority class."""
    rng = np.random.default_rng(seed)
    counts = np.maximum(np.asarray(class_counts, dtype=np.float64), 1.0)
    C = len(counts)
    y = np.repeat(np.arange(C), n_per_class)
    logits = rng.normal(scale=0.7, size=(len(y), C)) + 1.5 * np.eye(C)[y] + 1.5 * np.log(counts / counts.max())
    # positive logits (+8): tau-normalisation rescales logits, which favours a class only where they are positive
    return (logits + 8.0).astype(np.float32), y


def probe_backbone(num_classes: int, class_counts: tuple[int, ...]) -> torch.nn.Module:
    """A stand-in trained model whose head's weight norms grow with class size (as after plain training)."""
    head = torch.nn.Linear(6, num_classes)
    with torch.no_grad():
        counts = torch.as_tensor(np.maximum(np.asarray(class_counts, dtype=np.float64), 1.0), dtype=torch.float32)
        head.weight.copy_(torch.ones(num_classes, 6) * (counts / counts.max()).sqrt().unsqueeze(1))
        head.bias.zero_()
    model = torch.nn.Sequential()
    model.features = torch.nn.Identity()
    model.head = head
    return model


def stage_print(stage: Stage, split: Split, y: np.ndarray) -> list[Any]:
    out: list[Any] = [stage.name, float(stage.epochs), stage.train, bool(stage.reinit_head)]
    out.append(component_print(stage.loss, stage.batch_sampler, stage.augment, split, y, features=True))
    if stage.feature_resample is not None:
        gen = torch.Generator().manual_seed(0)
        feats = torch.randn(len(y), 6, generator=gen)
        out.append(_arrays(stage.feature_resample.resample(feats, torch.as_tensor(y), seed=0)))
    if stage.pseudo_label is not None:  # pool rows and labels chosen from fixed probabilities
        logits = torch.randn(60, split.num_classes, generator=torch.Generator().manual_seed(0)) * 2.0
        out.append(_arrays(stage.pseudo_label.select(torch.softmax(logits, 1).double().numpy(), 0)))
    if stage.head_wrapper is not None:
        torch.manual_seed(0)
        head = torch.nn.Linear(6, split.num_classes)
        wrapped = stage.head_wrapper(head)
        out.append(_arrays(wrapped(torch.ones(3, 6))))
    return out


def component_print(loss: Any, sampler: Any, augment: Any, split: Split, y: np.ndarray,
                    features: bool = False) -> list[Any]:
    out: list[Any] = []
    if loss is not None:
        out.append(loss_curve(loss, split.num_classes))
    if sampler is not None:
        out.append(sampler_draws(sampler, y, split.num_classes))
    if augment is not None:
        if features:  # a feature-space stage's augment sees embedding batches
            x, yb = probe_batch(split)
            x = torch.randn(len(yb), 6, generator=torch.Generator().manual_seed(0))
            out.append(augmented(augment, x, yb, y, split.num_classes))
        else:
            out.extend(augmented(augment, xb, yb, y, split.num_classes, unlabeled=split.unlabeled)
                       for xb, yb in augment_batches(augment, split))
    return out


def pretext_print(pretext: Any, split: Split) -> list[Any]:
    """A ``pretrain`` component's share, its views of a fixed batch (no labels) and its loss on the
    outputs of its head (seeded) over fixed embeddings of those views."""
    from benchmark.training.features import InputSpec

    x, _ = probe_batch(split)
    inputs, targets = pretext.views(x.clone(), torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    head = pretext.head(6, InputSpec(split.modality, tuple(x.shape[1:])))
    with torch.no_grad():
        outputs = head(torch.randn(inputs.shape[0], 6, generator=torch.Generator().manual_seed(1)))
    return [float(pretext.share), _arrays(inputs), _arrays(targets), float(pretext.loss(outputs, targets))]


def fingerprint(recipe: Recipe, split: Split, engine: str, config: TrainingConfig) -> list[Any]:
    """What the recipe does on fixed inputs drawn from ``split`` (its training part only)."""
    from benchmark.training.deep import prepare_training_data

    y = np.asarray(split.train.y)
    out: list[Any] = []
    if recipe.pretrain is not None:
        out.append(("pretrain", pretext_print(recipe.pretrain, split)))
    if recipe.resample is not None:
        _, X_res, y_res = prepare_training_data(split, Recipe(resample=recipe.resample), config, seed=0)
        out.append(("resample", _arrays(X_res), _arrays(y_res)))
    out.append(("components", component_print(recipe.loss, recipe.batch_sampler, recipe.augment, split, y)))
    for stage in recipe.stages or []:
        out.append(("stage", stage_print(stage, split, y)))
    if recipe.adjust is not None:
        out.append(("adjust", adjusted(recipe.adjust, split.num_classes, tuple(split.class_counts("train")))))
    if recipe.class_weight is not None:
        out.append(("class_weight", _arrays(np.asarray(recipe.class_weight))))
    if recipe.classifier is not None:
        # the estimator's own parameters (fitting ensembles of hundreds of trees costs seconds; that
        # the estimator honours its parameters is scikit-learn's and imbalanced-learn's to test)
        params = recipe.classifier(0).get_params(deep=True)
        out.append(("classifier", {k: repr(v) for k, v in params.items()}))
    return out


def same(a: Any, b: Any) -> bool:
    """Whether two fingerprints agree (numbers to 1e-6 relative)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            return False
        if a.dtype.kind in "fiub" and b.dtype.kind in "fiub":
            return bool(np.allclose(a, b, rtol=1e-6, atol=1e-9, equal_nan=True))
        return bool(np.array_equal(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, z) for x, z in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9) or (math.isnan(a) and math.isnan(b))
    return a == b
