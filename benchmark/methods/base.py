"""Methods are recipes of components; the training engines call a small, fixed set of hooks.

=================  =========================================  ========================================
hook (Recipe slot) when the engine calls it                   signature
=================  =========================================  ========================================
``resample``       once, before training, training split only ``resample(X, y, seed) -> (X, y)``;
                                                              ``space`` = "input" (raw rows, texts) or
                                                              "features" (after the featuriser); with
                                                              ``wants_context = True``: ``resample(X,
                                                              y, seed, context=ResampleContext)``
``batch_sampler``  each epoch (deep)                          ``batch_indices(epoch, state) -> LongTensor``
``augment``        each batch, on the device (deep)           ``augment(x, y, state) -> (x, target)``;
                                                              target: labels (B,) or soft labels (B, C)
``loss``           each batch (deep)                          ``loss(logits, target, epoch) -> scalar``
``stages``         training schedule (deep)                   list of :class:`Stage`
``Stage.feature_`` once at the start of its stage (deep):      ``resample(features, y, seed) -> (F, y)``;
``resample``       embeds the training set with the stage's   features (N, D) float32 and y (N,) int64
                   backbone (``Backbone.features``, eval      on the engine's device; return tensors or
                   mode), then trains only the head on the    arrays, (N', D) and (N',); the engine
                   returned rows (``Stage.augment`` only)     times it as ``feature_resample_seconds``
``adjust``         at prediction (both engines)               ``attach(model)`` (optional; deep: the
                                                              trained backbone, before ``fit``),
                                                              ``fit(val_logits, val_y, train_counts)``
                                                              (optional), ``adjust(logits) -> logits``,
                                                              ``fitted() -> dict`` (optional: what fit
                                                              chose, stored with each seed's row)
``pretrain``       once, before every stage (deep): trains    a :class:`Pretext`: ``share`` (0..1 of
                   ``Backbone.features`` + the component's    the epochs), ``head(feature_dim, spec)
                   head on the training rows WITHOUT their    -> nn.Module``, ``views(x, generator) ->
                   labels; the supervised stages start from   (inputs, targets)`` (inputs.shape[0] ==
                   the pre-trained features                   x.shape[0]), ``loss(outputs, targets)``
``Stage.pseudo_`` at the start of its stage (deep): predicts  ``select(proba (M, C), seed) -> (rows,
``label``          the unlabeled pool with the current model  labels)``; this stage and later ones
                   (eval mode)                                train on the training rows plus the
                                                              selected pool rows with those labels
``classifier``     classical engine: replaces its model       ``classifier(seed) -> sklearn estimator``
``class_weight``   classical engine: per-class weights        array of C floats
=================  =========================================  ========================================

Deep-engine details: ``augment`` gets images as floats in [0, 1] (before standardisation) and the
:class:`~benchmark.training.deep.TrainState`; ``batch_indices`` may return any length (over- or
under-sampling draws): an epoch is always the original training split's size in samples, so the
engine draws again or cuts the draw (``benchmark.training.epochs``). On a GPU the engine replays
each training step as a CUDA graph when every per-batch hook allows it: the default loss does; a
component opts in with a class attribute ``graph_safe = True`` (device tensor operations only, no
``.item()``, no host-side randomness, random draws from torch's default generator or from
``state.generator``, which the step runner registers with each graph). Other
components run eagerly, which is always correct.

Resample context: a ``resample`` (or ``Stage.feature_resample``) component with the class attribute
``wants_context = True`` is called with ``context=`` a :class:`ResampleContext`: the trial's device
(generators train and sample there), a cache folder and the split's fingerprint (trained generators
are cached and reused), the suite's :class:`GeneratorBudget` (the same for every generative method
on a dataset, never tuned), and two dicts the component fills: ``timings`` (seconds, merged into the
trained model's timings and so into the stored row and its cost: ``generator_seconds``,
``sampling_seconds``) and ``artifacts`` (stored with seed re-runs only; a callable value is called
then, so trials never pay for it). Components without the attribute get ``(X, y, seed)`` as before.

Pre-training (``pretrain``, the self-supervised rows, :class:`Pretext`): the deep engine's first stage,
``share`` of the epochs (at least one, and one left per supervised stage), each of the usual sample
count, on shuffled passes over the original training rows (before any ``resample``); the component
never receives a label, its head is dropped afterwards, and the supervised head is left untouched.

The unlabeled pool (the semi-supervised rows): a component anywhere in a recipe (``augment``,
``loss``, ``batch_sampler``, ``pretrain``, a stage's components, ``Stage.pseudo_label``) with the
class attribute ``uses_unlabeled = True`` makes the deep engine featurise ``split.unlabeled`` (pool
features only; a split has no labels for them) with the fitted featuriser and put it on the device
as ``state.extra["unlabeled"]`` (uint8 images or float features); a split without a pool is a
:class:`~benchmark.errors.BenchmarkError` naming the dataset (such methods refuse it in
``applies_to`` first). A ``Stage.pseudo_label`` component always uses the pool.

A method's ``search_space(trial, ctx)`` suggests its parameters with Optuna's ``trial.suggest_*``;
its builder receives those parameters and a :class:`MethodContext` (the training class counts, the
engine, ...) and returns a :class:`Recipe`. The engine refuses a recipe that uses a hook
it does not run, so nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from benchmark.datasets.base import MODALITIES
from benchmark.errors import BenchmarkError
from benchmark.methods._families import (  # noqa: F401 - re-exported: the families are read from here
    FAMILIES,
    FAMILY_TABLE,
    Family,
    check_family,
    family,
    ordered_families,
)
from benchmark.registry import Registry, bibtex_key

if TYPE_CHECKING:
    import numpy as np
    import optuna

    from benchmark.datasets.base import Split

ENGINES = ("deep", "classical")
BOTH_ENGINES = ENGINES  # a method that runs on every engine declares engines=BOTH_ENGINES
ALL_MODALITIES = MODALITIES  # a method that runs on every modality declares modalities=ALL_MODALITIES
DEEP_HOOKS = frozenset({"pretrain", "resample", "batch_sampler", "augment", "loss", "stages", "adjust"})
CLASSICAL_HOOKS = frozenset({"resample", "adjust", "classifier", "class_weight"})


@dataclass(frozen=True)
class GeneratorBudget:
    """The compute a generative model may spend per dataset: ``epochs`` passes over the training rows it
    is given, in batches of ``batch_size``. The suite sets it (``TrainingConfig.generator_epochs`` and
    ``generator_batch_size``); it is the same for every generative method on a dataset and not tuned."""

    epochs: int = 2
    batch_size: int = 64

    def __post_init__(self) -> None:
        if int(self.epochs) < 1 or int(self.batch_size) < 1:
            raise BenchmarkError(f"generator budget epochs={self.epochs}, batch_size={self.batch_size} is invalid",
                                 "use at least 1 epoch and a positive batch size")

    def samples(self, n_rows: int) -> int:
        """Training samples of ``epochs`` passes over ``n_rows`` rows."""
        return int(self.epochs) * int(n_rows)

    def steps(self, n_rows: int) -> int:
        """Optimiser steps of ``epochs`` passes over ``n_rows`` rows (at least one)."""
        return max(1, -(-int(self.epochs) * int(n_rows) // int(self.batch_size)))

    def record(self) -> dict[str, int]:
        return {"epochs": int(self.epochs), "batch_size": int(self.batch_size)}


@dataclass
class ResampleContext:
    """What the engines give a ``resample`` component that declares ``wants_context = True``.

    ``device``: the trial's torch device ("cpu", "cuda", "cuda:1"). ``cache_dir``: where trained
    generators may be cached (None: the split cache folder of ``$BENCHMARK_CACHE`` / ``$BENCHMARK_DATA``).
    ``split_fingerprint``: :meth:`Split.fingerprint` of the pair's split. ``backbone``: the engine's
    model name (a reference network for fidelity measures may use it). ``timings`` and ``artifacts``
    are filled by the component (see the module docstring)."""

    device: str = "cpu"
    cache_dir: Any = None
    split_fingerprint: str = ""
    budget: GeneratorBudget = field(default_factory=GeneratorBudget)
    backbone: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    artifacts: dict[str, Any] = field(default_factory=dict)


def call_resample(component: Any, X: Any, y: Any, seed: int, context: ResampleContext | None) -> tuple[Any, Any]:
    """The engines' call of a ``resample`` (or ``feature_resample``) component: with ``context=`` when
    it declares ``wants_context = True``, else the plain ``(X, y, seed)`` call."""
    if getattr(component, "wants_context", False):
        return component.resample(X, y, seed=seed, context=context if context is not None else ResampleContext())
    return component.resample(X, y, seed=seed)


@dataclass
class Stage:
    """One phase of a multi-stage schedule (two-stage training, cRT, DRW-style switches, EOS).

    ``epochs`` is a fraction of the suite's epoch budget (the stages of a recipe sum to 1, so every
    method trains for the same number of epochs, each of the same number of samples, head-only and
    feature-space stages included). ``train`` is "all" or "head" (everything but the
    last layer frozen); ``reinit_head`` re-initialises the last layer first. ``batch_sampler`` and
    ``loss`` replace the recipe's for this stage; ``feature_resample`` (EOS, cRT on features and
    friends) resamples penultimate-layer embeddings of the training set and trains only the head on
    them for the stage's epochs (features frozen; see the hook table above). ``head_wrapper`` (LWS
    and friends) is a callable ``head_wrapper(head: nn.Linear) -> nn.Module``: the engine trains the
    module it returns in place of the head during the stage (those of its parameters that require
    grad; the wrapper freezes the rest) and replaces it by its ``fold() -> nn.Linear`` at the end.
    ``augment`` replaces the recipe's augment component for this stage; in a ``feature_resample``
    stage it sees batches of embeddings (B, D), which is how penultimate-feature mixup is built.
    ``pseudo_label`` (pseudo-labelling of an unlabeled pool) is a component with ``select(proba,
    seed) -> (rows, labels)``: at the start of the stage the engine predicts the pool with the current
    model, and this stage and the later ones train on the training rows plus the selected pool rows
    with the returned labels (a later ``pseudo_label`` stage replaces the selection).
    """

    name: str
    epochs: float
    train: str = "all"
    reinit_head: bool = False
    batch_sampler: Any = None
    loss: Any = None
    feature_resample: Any = None
    head_wrapper: Any = None
    augment: Any = None
    pseudo_label: Any = None


@runtime_checkable
class Pretext(Protocol):
    """The ``pretrain`` component: a pretext task the deep engine trains ``Backbone.features`` on,
    without labels, before the supervised stages (see the module docstring).

    ``share``: the fraction of the suite's epochs the pretext stage takes (0 < share < 1).
    ``head(feature_dim, spec)``: the pretext head on top of the features (``spec``: the featuriser's
    :class:`~benchmark.training.features.InputSpec`). ``views(x, generator)``: a batch of training rows
    (images as floats in [0, 1] before standardisation, or float features) -> ``(inputs, targets)``,
    with ``inputs.shape[0] == x.shape[0]`` so that a step's forward passes equal its samples (equal
    compute) and every input of the shape the backbone takes; random draws from ``generator`` (the
    trial's device generator; a component declaring ``graph_safe = True`` draws only from it and reads
    nothing on the host, and the step runner registers it with each captured CUDA graph).
    ``loss(outputs, targets)``: a scalar tensor.
    """

    share: float

    def head(self, feature_dim: int, spec: Any) -> Any: ...

    def views(self, x: Any, generator: Any) -> tuple[Any, Any]: ...

    def loss(self, outputs: Any, targets: Any) -> Any: ...


@dataclass
class Recipe:
    """The components a method switches on. Slots left ``None`` mean "the engine's default"."""

    resample: Any = None
    batch_sampler: Any = None
    augment: Any = None
    loss: Any = None
    stages: list[Stage] | None = None
    adjust: Any = None
    classifier: Callable[[int], Any] | None = None
    class_weight: Any = None
    pretrain: Any = None  # a Pretext component: self-supervised pre-training of the features first

    def hooks(self) -> set[str]:
        return {f.name for f in fields(self) if getattr(self, f.name) is not None}

    def components(self) -> list[Any]:
        """Every component the recipe and its stages hold (``None`` slots left out)."""
        parts = [getattr(self, f.name) for f in fields(self) if f.name != "stages"]
        for stage in self.stages or []:
            parts += [stage.batch_sampler, stage.loss, stage.feature_resample, stage.augment, stage.pseudo_label]
        return [p for p in parts if p is not None]

    def uses_unlabeled(self) -> bool:
        """Whether training reads the split's unlabeled pool: a component declares ``uses_unlabeled =
        True``, or a stage pseudo-labels the pool."""
        return (any(getattr(c, "uses_unlabeled", False) for c in self.components())
                or any(s.pseudo_label is not None for s in self.stages or []))

    def check_engine(self, engine: str, supported: frozenset[str]) -> None:
        extra = self.hooks() - supported
        if extra:
            raise BenchmarkError(
                f"the recipe uses hook(s) {sorted(extra)} that the {engine} engine does not run",
                "declare only the engines that run every hook of the recipe",
            )


@dataclass(frozen=True)
class MethodContext:
    """What a builder may know: the training split's shape and counts, never its validation or test rows."""

    modality: str
    engine: str
    num_classes: int
    class_counts: tuple[int, ...]
    minority_classes: tuple[int, ...]
    epochs: int = 1
    feature_kinds: tuple[str, ...] | None = None
    seed: int = 0

    @classmethod
    def from_split(cls, split: Split, engine: str, epochs: int = 1, seed: int = 0) -> MethodContext:
        return cls(
            modality=split.modality,
            engine=engine,
            num_classes=split.num_classes,
            class_counts=tuple(split.class_counts("train")),
            minority_classes=tuple(split.minority_classes),
            epochs=epochs,
            feature_kinds=tuple(split.feature_kinds) if split.feature_kinds else None,
            seed=seed,
        )


# The tag of a method that learns from the unlabeled pool: the report marks its rows (with the pool rows
# each used, from the stored timings ``unlabeled_rows``) so they are not read as label-only methods.
UNLABELED_TAG = "unlabeled-data"


def unlabeled_pool_reason(split: Split) -> str | None:
    """``applies_to`` of a method that learns from the unlabeled pool: why ``split`` cannot serve it
    (no pool, or an empty one), or None."""
    pool = split.unlabeled
    if pool is None or len(pool) == 0:
        return (f"{split.dataset} exposes no unlabeled pool (the split holds training, validation and test "
                "rows only; a dataset with a pool lists its size and class mix on its card)")
    return None


def no_search_space(trial: optuna.Trial, ctx: MethodContext) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Method:
    """A leaderboard row: a named recipe with its paper, search space and supported data.

    ``applies_to(split)`` may return a reason why the method does not apply to a dataset (for
    example SMOTENC without nominal features); the pair is then reported "not applicable". It raises
    :class:`~benchmark.errors.ResourceUnavailableError` when something missing on this machine (a
    model, a corpus) stops it: the pair is then "resource-unavailable" and tried again next run.
    """

    name: str
    build: Callable[[dict[str, Any], MethodContext], Recipe]
    family: str
    modalities: tuple[str, ...]
    summary: str
    paper: str
    engines: tuple[str, ...] = ("deep",)
    search_space: Callable[[optuna.Trial, MethodContext], dict[str, Any]] = no_search_space
    differences: str = ""
    applies_to: Callable[[Split], str | None] | None = None
    tags: tuple[str, ...] = field(default=())
    # Training settings the method needs, per modality: {"text": {"text_features": "minilm"}} for
    # methods defined on sentence embeddings. Elsewhere the pair is "not applicable", with the reason.
    requires: dict[str, dict[str, Any]] = field(default_factory=dict)
    # A combined row (family "combination"): the registered methods it is built from, in its name's order.
    parts: tuple[str, ...] = field(default=())
    # For the shipped checks (benchmark.testing): the parameters at which a loss is cross-entropy when the
    # classes are balanced ({"gamma": 0.0} for focal loss; {} when its draws already are), and the tuned
    # parameters whose effect no tiny split can show, each with the reason (so the exception is reviewed).
    neutral_params: dict[str, Any] = field(default_factory=dict)
    inert_params: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        bad = set(self.engines) - set(ENGINES)
        if bad or not self.engines:
            raise BenchmarkError(f"method '{self.name}' declares engines {self.engines}", f"use some of {ENGINES}")
        unexplained = {k: v for k, v in self.inert_params.items() if not isinstance(v, str) or len(v.split()) < 3}
        if unexplained:
            raise BenchmarkError(f"method '{self.name}' declares inert parameters {unexplained} without a reason",
                                 "give each inert parameter a sentence saying why no tiny split shows its effect")

    @property
    def paper_key(self) -> str | None:
        return bibtex_key(self.paper)

    def not_applicable_reason(self, split: Split, engine: str, config: Any = None) -> str | None:
        """Why this method cannot run on ``split`` with ``engine`` and training ``config``, or None."""
        if split.modality not in self.modalities:
            return f"{self.name} supports {', '.join(self.modalities)} data, not {split.modality}"
        if engine not in self.engines:
            return f"{self.name} runs on the {'/'.join(self.engines)} engine, not the {engine} engine"
        for key, wanted in self.requires.get(split.modality, {}).items():
            have = getattr(config, key, None) if config is not None else None
            if config is not None and have != wanted:
                return (f"{self.name} needs the training setting {key}={wanted!r} on {split.modality} data "
                        f"(this suite uses {have!r}); run it in a suite that sets it")
        if self.applies_to is not None:
            return self.applies_to(split)
        return None

    def card(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "family": self.family,
            "modalities": list(self.modalities),
            "engines": list(self.engines),
            "summary": self.summary,
            "paper": self.paper,
            "paper_key": self.paper_key,
            "differences": self.differences,
            "tags": list(self.tags),
            "requires": self.requires,
            **({"parts": [method_registry.get(p).part_card() for p in self.parts]} if self.parts else {}),
        }

    def part_card(self) -> dict[str, Any]:
        """How a combined row's card and report name this method as one of its parts."""
        return {"name": self.name, "family": self.family, "summary": self.summary, "paper_key": self.paper_key}


def fit_adjuster(adjust: Any, val_logits: np.ndarray, val_y: np.ndarray, train_counts: list[int],
                 model: Any = None) -> None:
    """The engines' call of the ``adjust`` hook after training. Post-hoc components tune themselves on
    validation logits, never on test. A component with ``attach(model)`` first gets the trained model
    (the deep engines' backbone: tau-normalisation reads its head's weight norms)."""
    if adjust is not None and model is not None and hasattr(adjust, "attach"):
        adjust.attach(model)
    if adjust is not None and hasattr(adjust, "fit"):
        adjust.fit(val_logits, val_y, train_counts)


def _make_method(build: Callable[..., Recipe], *, name: str, **metadata: Any) -> Method:
    check_family(metadata.get("family", ""), name)
    metadata["modalities"] = tuple(metadata["modalities"])
    metadata["engines"] = tuple(metadata.get("engines", ("deep",)))
    return Method(name=name, build=build, **metadata)


method_registry: Registry[Method] = Registry(
    "method", make_entry=_make_method, package="benchmark.methods", entry_point_group="benchmark.methods",
    composer="benchmark.methods._composition:compose_method",  # "smote+focal-loss": a combined row
)
register_method = method_registry.register
