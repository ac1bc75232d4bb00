"""The generative family's one mechanism: a :class:`Generator` contract and the :class:`GenerativeOversampler`.

Contract of a generator (pixel-space, feature-space and tabular generators all follow it)
---------------------------------------------------------------------------------------
``class MyGenerator(Generator)`` with a class attribute ``name`` (the cache names it) and:

``fit(X, y, *, budget, device, seed) -> None``
    Train on the rows given, which are the pair's *training* rows only (the engines call ``resample``
    with nothing else; validation and test never reach a generator). ``X``: uint8 images (N, C, H, W)
    or float32 features (N, D); ``y``: int64 labels (N,). ``budget`` is the suite's
    :class:`GeneratorBudget`: train for ``budget.steps(N)`` optimiser steps (``budget.epochs`` passes
    at ``budget.batch_size``; a generator with phases, like BAGAN-GP's autoencoder then GAN, divides
    them and says how); never more, so every generative row spends the same compute. ``device`` is the
    trial's torch device; ``seed`` seeds every random draw of the training (torch generators, not the
    global state), so a seed reproduces the generator on the same device.
``sample(counts, *, seed) -> np.ndarray``
    ``counts``: ``{class: n}`` (classes of the training labels, n >= 0). Returns exactly
    ``sum(counts.values())`` rows, class by class in ascending class order (n rows of the smallest class
    first), in the training rows' dtype and shape: uint8 (n, C, H, W) images in 0..255, or float32
    (n, D) features in the training features' space. The same ``seed`` gives the same rows.
``state_dict() -> dict`` and ``load_state_dict(state, *, device) -> None``
    Everything ``sample`` needs (weights, shapes, and any training-row summary such as DeepSMOTE's latent
    codes), as tensors, numbers, strings and lists/dicts of them (``torch.load(weights_only=True)`` reads
    it back). A new generator built with the same settings, given ``load_state_dict``, samples exactly
    as the one that was fitted (tensors moved to ``device``).
``persistent`` (class attribute, default True)
    Whether ``state_dict()`` holds only tensors, numbers, strings and containers of them, so that the
    cache may write it to disk (it is read back with ``torch.load(weights_only=True)``, which cannot run
    code). A generator whose state is a third-party Python object that only pickling can store (ctgan's
    CTGAN and TVAE) sets it False: its state is then kept in this process's memory only, never in a file.
``settings() -> dict``
    The JSON-able constructor settings that change what ``fit`` learns (architecture, learning rate,
    ...); with ``name``, the budget, the seed and the training rows they form the cache key. Settings
    that only change sampling (guidance scale, number of DDIM steps, the interpolation mode) stay out,
    so trials that differ only in them reuse one trained generator.

The over-sampling component
---------------------------
:class:`GenerativeOversampler` is the ``resample`` component of every generative row. It declares
``wants_context = True`` and ``space`` ("input": raw images or tabular rows; "features": after the
featuriser). It tops every class below ``target_ratio`` x the largest class up to that size with
:func:`benchmark.methods._oversampling.top_up_targets` (optionally only ``classes``), gets a trained
generator from :class:`benchmark.methods.generative._cache.GeneratorCache` (training it on a miss),
samples the missing rows, and appends them to the training rows. It records in ``context.timings``:
``generator_seconds`` (training now; 0 when the cache had it), ``generator_cached_seconds`` (the training
time recorded in a reused cache entry: the report counts it in the row's cost, since a user without the
cache pays it) and ``sampling_seconds``; and in ``context.artifacts`` two lazy entries computed only for
seed re-runs: ``generated_samples`` (images: a grid per minority class beside real ones) and
``fidelity`` (:mod:`benchmark.methods.generative._fidelity`).

Generator seeds: tuning trials have distinct seeds (``benchmark.protocol.trial_seed``), but trials of
a study that differ only in how much they sample must share one generator. :func:`generator_seed`
maps every trial seed of a study to the study's first trial seed and keeps re-run seeds as they are;
sampling uses the trial's own seed.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from benchmark.errors import BenchmarkError
from benchmark.methods._oversampling import check_ratio, top_up_targets
from benchmark.methods.base import GeneratorBudget, MethodContext, ResampleContext
from benchmark.protocol import trial_seed

__all__ = ["GenerativeOversampler", "Generator", "GeneratorBudget", "ResampleContext", "check_samples",
           "generator_seed", "image_width", "ratio_space", "top_up_targets"]

_FIRST_TRIAL_SEED = trial_seed(0, 0)
_STUDY_STRIDE = trial_seed(1, 0) - _FIRST_TRIAL_SEED


def generator_seed(seed: int) -> int:
    """The seed a generator is trained with: a seed re-run's own seed; for a tuning trial, its study's
    first trial seed (so all trials of a study share one generator)."""
    seed = int(seed)
    if seed < _FIRST_TRIAL_SEED:
        return seed
    return _FIRST_TRIAL_SEED + (seed - _FIRST_TRIAL_SEED) // _STUDY_STRIDE * _STUDY_STRIDE


def ratio_space(trial, ctx: MethodContext) -> dict:
    """The target ratio of every smaller class to the largest, above where the data already is (the search
    space of the generative rows that tune how far they top up)."""
    counts = [c for c in ctx.class_counts if c > 0]
    low = min(1.0, max(0.2, min(counts) / max(counts) + 0.05))
    return {"target_ratio": trial.suggest_float("target_ratio", low, 1.0)}


def image_width(ctx: MethodContext) -> int:
    """Base channel width of the family's DCGAN-style networks (:mod:`._nets`): 64 from 2,000 training
    images on, 32 below (tiny data); the VAE and BAGAN-GP rows use half of it."""
    return 64 if ctx.modality == "image" and sum(ctx.class_counts) > 2000 else 32


class Generator(ABC):
    """A generative model of the training rows, class-conditional (the contract is the module docstring)."""

    name: str = "generator"
    persistent: bool = True  # False: the state is a Python object, cached in memory only (never unpickled)

    @abstractmethod
    def fit(self, X: np.ndarray, y: np.ndarray, *, budget: GeneratorBudget, device: str, seed: int) -> None:
        """Train on the training rows ``X``, ``y`` within ``budget`` on ``device``, seeded by ``seed``."""

    @abstractmethod
    def sample(self, counts: dict[int, int], *, seed: int) -> np.ndarray:
        """``sum(counts.values())`` new rows, class by class in ascending class order."""

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """What ``sample`` needs, as tensors, numbers, strings and containers of them."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any], *, device: str = "cpu") -> None:
        """Restore a fitted generator from :meth:`state_dict`, its tensors on ``device``."""

    def settings(self) -> dict[str, Any]:
        """The constructor settings that change what ``fit`` learns (part of the cache key)."""
        return {}


def check_samples(samples: np.ndarray, counts: dict[int, int], X: np.ndarray, who: str) -> np.ndarray:
    """``samples`` if they are ``sum(counts)`` rows shaped and typed like ``X``; else a BenchmarkError."""
    samples = np.asarray(samples)
    n = sum(int(v) for v in counts.values())
    if samples.shape != (n, *X.shape[1:]) or samples.dtype != X.dtype:
        raise BenchmarkError(f"generator '{who}' returned {samples.dtype} rows of shape {samples.shape}",
                             f"return {n} rows of shape {X.shape[1:]} and dtype {X.dtype} (the training rows')")
    if samples.dtype.kind == "f" and not np.isfinite(samples).all():
        raise BenchmarkError(f"generator '{who}' returned non-finite values",
                             "check its training (a diverged generator) or lower its learning rate")
    return samples


def requested(counts: dict[int, int], num_classes: int, who: str):
    """(class, how many) for each class asked for with a positive count, in ascending class order; a class
    the generator was not trained on is a BenchmarkError naming ``who``."""
    for c in sorted(counts):
        n = int(counts[c])
        if n == 0:
            continue
        if not 0 <= int(c) < num_classes:
            raise BenchmarkError(f"{who} was asked for class {c}; it knows classes 0..{num_classes - 1}",
                                 "sample only classes of the training rows")
        yield int(c), n


def labels_for(counts: dict[int, int]) -> np.ndarray:
    """The labels of :meth:`Generator.sample`'s rows: class by class in ascending class order."""
    return np.concatenate([np.full(int(counts[c]), int(c), dtype=np.int64) for c in sorted(counts)]
                          or [np.zeros(0, np.int64)])


class GenerativeOversampler:
    """The ``resample`` component of every generative row (see the module docstring).

    Args:
        make_generator: builds a fresh, unfitted :class:`Generator` (the same settings every call).
        target_ratio: each class (of ``classes``) ends with ``ceil(target_ratio * n_max)`` rows where it
            had fewer.
        space: "input" (images, tabular rows) or "features" (after the featuriser).
        classes: the classes that may receive rows (None: every class).
        caption: how the samples were drawn, shown under the report's sample grid.
    """

    wants_context = True

    def __init__(self, make_generator: Callable[[], Generator], target_ratio: float, space: str = "input",
                 classes: Iterable[int] | None = None, caption: str = ""):
        if space not in ("input", "features"):
            raise BenchmarkError(f"generative over-sampling with space={space!r}", "use 'input' or 'features'")
        self.make_generator, self.space, self.caption = make_generator, space, caption
        self.target_ratio = check_ratio(target_ratio, "generative over-sampling")
        self.classes = None if classes is None else tuple(int(c) for c in classes)
        self.added: dict[int, int] = {}

    def resample(self, X: np.ndarray, y: np.ndarray, seed: int,
                 context: ResampleContext | None = None) -> tuple[np.ndarray, np.ndarray]:
        from benchmark.methods.generative._cache import GeneratorCache

        context = context if context is not None else ResampleContext()
        if hasattr(X, "detach"):  # a Stage.feature_resample gets the embeddings as device tensors
            X, y = X.detach().float().cpu().numpy(), y.detach().cpu().numpy()
        X, y = np.asarray(X), np.asarray(y, dtype=np.int64)
        for key in ("generator_seconds", "generator_cached_seconds", "sampling_seconds"):
            context.timings.setdefault(key, 0.0)
        wanted = top_up_targets(np.bincount(y), self.target_ratio, self.classes, who="generative over-sampling")
        self.added = wanted
        if not wanted:
            return X, y
        generator = self.make_generator()
        fitted = GeneratorCache.for_context(context).get_or_fit(generator, X, y, context, generator_seed(seed))
        context.timings["generator_seconds"] += fitted.fit_seconds
        context.timings["generator_cached_seconds"] += fitted.cached_seconds
        t0 = time.perf_counter()
        samples = check_samples(generator.sample(wanted, seed=int(seed)), wanted, X, generator.name)
        context.timings["sampling_seconds"] += time.perf_counter() - t0
        labels = labels_for(wanted)
        self._record_artifacts(context, X, y, samples, labels, sorted(wanted))
        return np.concatenate([X, samples]), np.concatenate([y, labels])

    def _record_artifacts(self, context: ResampleContext, X: np.ndarray, y: np.ndarray, samples: np.ndarray,
                          labels: np.ndarray, classes: list[int]) -> None:
        """Lazy artifacts: the engines keep them with the model and only seed re-runs call them."""
        from benchmark.methods.generative._grid import sample_grid_artifact
        from benchmark.methods.generative._reference import fidelity_artifact

        caption = self.caption or self.make_generator().name
        if X.ndim == 4 and X.dtype == np.uint8:
            shown = classes[-12:]  # the smallest classes are the last ones that receive rows
            context.artifacts["generated_samples"] = lambda: sample_grid_artifact(
                samples, labels, X, y, shown, per_class=8, caption=caption)
        device, cache = context.device, (context.cache_dir, context.split_fingerprint)
        context.artifacts["fidelity"] = lambda: fidelity_artifact(X, y, samples, labels, classes, device=device,
                                                                  cache=cache)
