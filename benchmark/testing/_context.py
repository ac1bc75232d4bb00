"""What every check shares: its failure type, its options, and the tiny splits a method applies to."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from benchmark.datasets.base import Split
from benchmark.methods.base import FAMILIES, Method, MethodContext, Recipe, family
from benchmark.testing._probe import PROBE_EPOCHS, cheapest_params
from benchmark.testing._splits import tiny_config, tiny_splits
from benchmark.training.base import TrainingConfig


class MethodCheckError(AssertionError):
    """A method broke a property its family or its recipe promises; the message names the method,
    the check, the tiny split and what was seen."""


def fail(method: Method, check: str, message: str) -> None:
    raise MethodCheckError(f"method '{method.name}' fails {check}: {message}")


@dataclass(frozen=True)
class CheckOptions:
    """Settings of the checks of one method.

    ``neutral_params``: the parameters at which the method's loss is cross-entropy when the classes
    are balanced (e.g. ``{"gamma": 0.0}`` for focal loss); ``{}`` when its defaults already are.
    ``inert_params``: tuned parameters whose effect no tiny split can show, each with the reason
    (the parameter check skips them; say why, so the exception is reviewed, not silent).
    ``config``: the training settings of the engine runs (two quick epochs by default).
    """

    neutral_params: dict[str, Any] = field(default_factory=dict)
    inert_params: dict[str, str] = field(default_factory=dict)
    config: TrainingConfig = field(default_factory=tiny_config)


@dataclass(frozen=True)
class Case:
    """One tiny split a method applies to, with the engine and training settings to run it."""

    split: Split
    engine: str
    config: TrainingConfig

    def context(self, epochs: int = PROBE_EPOCHS) -> MethodContext:
        return MethodContext.from_split(self.split, self.engine, epochs=epochs)


def promised(method: Method, check: str) -> bool:
    """Whether the method's family names ``check`` among its checks (:class:`~benchmark.methods.Family`):
    then the recipe must switch the checked hook on and show the family's effect, where a method of
    another family that merely uses the hook is held only to the hook's contract."""
    return method.family in FAMILIES and check in family(method.family).checks


def main_engine(method: Method) -> str:
    """The engine a suite runs a method on by default: deep where the method runs there."""
    return "deep" if "deep" in method.engines else method.engines[0]


def config_for(method: Method, modality: str, config: TrainingConfig) -> TrainingConfig:
    """The training settings with what the method requires on ``modality`` (e.g. MiniLM features)."""
    return replace(config, **method.requires.get(modality, {}))


def applicable_cases(method: Method, options: CheckOptions, engines: tuple[str, ...] | None = None,
                     modalities: tuple[str, ...] | None = None) -> list[Case]:
    """Every (tiny split, engine) of the modalities and engines the method claims that it applies to.
    A :class:`~benchmark.errors.ResourceUnavailableError` (a model or corpus missing here) propagates."""
    cases = []
    for modality in modalities or method.modalities:
        config = config_for(method, modality, options.config)
        for split in tiny_splits(modality):
            for engine in engines or method.engines:
                if method.not_applicable_reason(split, engine, config) is None:
                    cases.append(Case(split, engine, config))
    return cases


def main_cases(method: Method, options: CheckOptions) -> list[Case]:
    """The applicable tiny splits on the method's main engine (one per split)."""
    return applicable_cases(method, options, engines=(main_engine(method),))


def default_recipe(method: Method, case: Case, epochs: int = PROBE_EPOCHS) -> tuple[dict, Recipe]:
    """The study's first configuration with numeric parameters at their cheapest, built for ``case``."""
    ctx = case.context(epochs)
    params = cheapest_params(method, ctx)
    return params, method.build(params, ctx)


def minority_share(y: np.ndarray, minority: int) -> float:
    y = np.asarray(y)
    return float((y == minority).mean()) if y.size else 0.0


def smallest_class(counts) -> int:
    counts = np.asarray(counts)
    present = np.flatnonzero(counts > 0)
    return int(present[np.argmin(counts[present])])


def largest_class(counts) -> int:
    return int(np.argmax(np.asarray(counts)))
