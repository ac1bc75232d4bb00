"""The shipped check of generative rows: their samples are nearer their own class than other classes, and
not collapsed to the class mean, measured in the reference features of the fidelity figures.

A generator is trained on a tiny long-tailed split at a small budget (:data:`CHECK_BUDGET`) and asked for
:data:`N_PER_CLASS` rows of every class smaller than the largest (the classes a row tops up). Both figures
are computed per class in the space the report's fidelity figures use
(:mod:`benchmark.methods.generative._reference`): images in the penultimate features of the split's
reference network, feature rows standardised with the real training rows' mean and deviation.

- own-class share: the share of generated rows whose nearest real training row is of their class, beside
  the same share for the class's held-out real rows (the split's test part), which is what real data of
  the class achieves (1 for the digits; lower where classes overlap, as in the tabular split);
- spread ratio: the mean distance of the generated rows to their own mean over the same for the class's
  real training rows. A generator that returns its class mean scores 0.

The check passes when every checked class has an own-class share of at least :data:`MIN_OWN_CLASS` times
its held-out share and a spread ratio of at least :data:`MIN_SPREAD`. Image generators are checked on
:func:`make_digits_split` (scikit-learn's bundled 8x8 digits made long-tailed, imbalance ratio 37.5: real
writing styles, so that a class has a spread to keep, and a rarest class of 4 images, where DeepSMOTE's
former penalty (each image against the decoding of another image's code, both networks learning from it)
drew samples towards the class mean and nearer other classes: 70% own-class share where the authors'
pairing keeps 85% or more); generators of feature rows on the numeric tiny tabular split. The budget,
200 passes at batch 32 (1,300 steps), is where the conditional VAE has learned its rarest classes.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmark.datasets.base import DataPart, Split
from benchmark.methods.base import GeneratorBudget, Method, MethodContext, method_registry
from benchmark.testing._context import MethodCheckError
from benchmark.testing._splits import make_tabular_split

CHECK_BUDGET = GeneratorBudget(epochs=200, batch_size=32)
N_PER_CLASS = 100
MIN_OWN_CLASS = 0.8
MIN_SPREAD = 0.35
DIGITS_COUNTS = (150, 40, 10, 4)  # digits 0-3: 204 training images, imbalance ratio 37.5


def make_digits_split(counts: tuple[int, ...] = DIGITS_COUNTS, seed: int = 0) -> Split:
    """Digits 0..len(counts)-1 of scikit-learn's bundled 8x8 digits as uint8 1x8x8 images (0..16 scaled to
    0..255), ``counts`` training images per class drawn with ``seed``; the rest of each class is the test part."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.clip(digits.images * 16, 0, 255).astype(np.uint8)[:, None]
    rng = np.random.default_rng(seed)
    train, rest = [], []
    for c, n in enumerate(counts):
        rows = rng.permutation(np.flatnonzero(digits.target == c))
        train.append(rows[:n]), rest.append(rows[n:n + 20])

    def part(rows):
        rows = np.concatenate(rows)
        return DataPart(images[rows], digits.target[rows].astype(np.int64))

    val = part([r[:10] for r in rest])
    return Split("tiny-digits-lt", "image", [str(c) for c in range(len(counts))], part(train), val,
                 part([r[10:] for r in rest]))


def generative_oversampler(method: str | Method, split: Split) -> Any:
    """The generative over-sampler of a row's default recipe on ``split``: its ``resample`` component or, for
    rows that generate features (LDMLR), the one inside its ``feature_resample`` stage."""
    method = method if isinstance(method, Method) else method_registry.get(method)
    recipe = method.build({}, MethodContext.from_split(split, "deep"))
    components = [recipe.resample, *(getattr(s, "feature_resample", None) for s in recipe.stages or ())]
    for component in components:
        oversampler = getattr(component, "oversampler", component)
        if hasattr(oversampler, "make_generator"):
            return oversampler
    raise ValueError(f"method '{method.name}' has no generative over-sampler (a component with make_generator) "
                     "in its recipe: check_generated_samples applies to generative rows")


def generator_and_split(method: str | Method | Callable[[], Any], split: Split | None = None
                        ) -> tuple[Callable[[], Any], Split]:
    """(generator factory, split to check it on): image generators on :func:`make_digits_split`, generators of
    feature rows (tabular rows, LDMLR's embeddings) on the numeric tiny tabular split; ``split`` overrides.
    A bare factory is taken for an image generator."""
    row = method_registry.get(method) if isinstance(method, str) else method
    if not isinstance(row, Method):
        return row, split or make_digits_split()
    probe = make_digits_split() if "image" in row.modalities else make_tabular_split(nominal=False)
    image = generative_oversampler(row, probe).space == "input" and "image" in row.modalities
    split = split or (make_digits_split() if image else make_tabular_split(nominal=False))
    return generative_oversampler(row, split).make_generator, split


def _features(split: Split, device: str, cache_dir: str) -> Callable[[np.ndarray], np.ndarray]:
    X, y = split.train.X, split.train.y
    if X.ndim == 4 and X.dtype == np.uint8:
        from benchmark.methods.generative._reference import reference_network

        reference = reference_network(X, y, device=device, cache=(cache_dir, split.fingerprint()))
        return reference.embed
    flat = X.reshape(len(X), -1).astype(np.float64)
    mean, std = flat.mean(0), np.where(flat.std(0) < 1e-12, 1.0, flat.std(0))
    return lambda A: (A.reshape(len(A), -1).astype(np.float64) - mean) / std


def _spread(F: np.ndarray) -> float:
    return float(np.linalg.norm(F - F.mean(0), axis=1).mean())


def generated_sample_quality(make_generator: Callable[[], Any], split: Split, *,
                             budget: GeneratorBudget = CHECK_BUDGET, n_per_class: int = N_PER_CLASS,
                             seed: int = 0, device: str = "cpu") -> dict[int, dict[str, float]]:
    """``{class: {"own_class_share", "spread_ratio"}}`` of a generator trained on ``split``'s training rows
    (see the module docstring), for every class smaller than the largest."""
    X, y = split.train.X, split.train.y
    counts = np.bincount(y)
    classes = [c for c in range(len(counts)) if 0 < counts[c] < counts.max()]
    generator = make_generator()
    generator.fit(X, y, budget=budget, device=device, seed=seed)
    samples = generator.sample(dict.fromkeys(classes, n_per_class), seed=seed + 1)
    labels = np.repeat(classes, n_per_class)
    with tempfile.TemporaryDirectory(prefix="generative-check-") as cache_dir:
        embed = _features(split, device, cache_dir)
        real, gen = embed(X), embed(samples)
        held_out = embed(split.test.X)

    def nearest_class(F: np.ndarray) -> np.ndarray:
        return y[np.argmin(((F[:, None, :] - real[None, :, :]) ** 2).sum(-1), axis=1)]

    gen_nearest, test_nearest = nearest_class(gen), nearest_class(held_out)
    out = {}
    for c in classes:
        mine, theirs = labels == c, split.test.y == c
        out[c] = {"own_class_share": round(float(np.mean(gen_nearest[mine] == c)), 4),
                  "held_out_share": round(float(np.mean(test_nearest[theirs] == c)), 4) if theirs.any() else 1.0,
                  "spread_ratio": round(_spread(gen[mine]) / max(_spread(real[y == c]), 1e-12), 4)}
    return out


def check_generated_samples(method: str | Method | Callable[[], Any], split: Split | None = None, *,
                            budget: GeneratorBudget = CHECK_BUDGET, min_own_class: float = MIN_OWN_CLASS,
                            min_spread: float = MIN_SPREAD, device: str = "cpu") -> dict[int, dict[str, float]]:
    """Check a generative row (a registered name, a :class:`Method`, or a generator factory): raises
    :class:`MethodCheckError` naming the class and figure when a class's samples are nearer other classes or
    collapsed towards their mean; returns the figures otherwise. ``split``: default :func:`make_digits_split`
    for image generators, the numeric tiny tabular split for generators of feature rows."""
    make, split = generator_and_split(method, split)
    figures = generated_sample_quality(make, split, budget=budget, device=device)
    who = method if isinstance(method, str) else method.name if isinstance(method, Method) else getattr(
        method, "__name__", "generator")
    for c, f in figures.items():
        if f["own_class_share"] < min_own_class * f["held_out_share"]:
            raise MethodCheckError(f"method '{who}' fails check_generated_samples on {split.dataset}: only "
                                   f"{f['own_class_share']:.0%} of class {c}'s samples are nearest a real row of "
                                   f"class {c}, against {f['held_out_share']:.0%} of its held-out real rows (at "
                                   f"least {min_own_class} x that expected); figures {figures}")
        if f["spread_ratio"] < min_spread:
            raise MethodCheckError(f"method '{who}' fails check_generated_samples on {split.dataset}: class {c}'s "
                                   f"samples spread {f['spread_ratio']:.2f} x the real class's spread (at least "
                                   f"{min_spread} expected): collapsed towards the class mean; figures {figures}")
    return figures
