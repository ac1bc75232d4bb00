"""The pair job: everything one (dataset, method) pair needs to be tuned and re-run, the same for every
worker of a run; and how a trial's parameters become a trained model."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Any

from benchmark.datasets.base import Split
from benchmark.errors import BenchmarkError
from benchmark.methods.base import Method, MethodContext, Recipe
from benchmark.metrics import OBJECTIVES
from benchmark.protocol import Budget
from benchmark.store.studies import study_name
from benchmark.suites import SHARED_RANGES
from benchmark.training import get_engine
from benchmark.training.base import TrainingConfig

SHARED_PREFIX = "train."


@dataclass
class PairJob:
    """Everything one (dataset, method) pair needs on one split; the same for every worker of a run."""

    suite: str
    dataset: str
    method: Method
    split: Split
    engine: str
    config: TrainingConfig
    budget: Budget
    objective: str = "minority_f1"
    tune: tuple[str, ...] = ()
    device: str = "cpu"
    pruner: str = "hyperband"
    split_seed: int = 0  # which of the suite's splits ``split`` is; each split has its own study
    sampler_seed: int = 0  # the study's sampler seed: the split seed (each split's study draws its own stream)
    stack: int = 1  # trials (and seed re-runs) trained at once as one stacked model (deep engine)
    # Stack only where every member is bit for bit its single fit (benchmark.training.stacked_mlp): the CPU default.
    stack_exact_only: bool = False
    commit: str | None = None  # the code's commit when the run started (provenance of its rows)
    width: int = 4  # tuning width W: slot k conditions on slots 0..k-W (Suite.tuning_width)
    prior_shift: bool = False  # seed rows also store test scores under shifted priors (the prior-shift scenario)

    @property
    def label(self) -> str:
        """How progress lines name this pair's dataset (see :func:`split_label`)."""
        return split_label(self.dataset, self.split_seed)

    @property
    def study_name(self) -> str:
        return study_name(self.suite, self.dataset, self.method.name, self.split_seed)

    def context(self, seed: int) -> MethodContext:
        return MethodContext.from_split(self.split, self.engine, epochs=self.config.epochs, seed=seed)

    def protocol(self) -> dict[str, Any]:
        """What must not change while a study resumes: budget, objective, pruner, shared tuning, training."""
        config = {k: v for k, v in asdict(self.config).items() if k != "extra"}
        record = {**self.budget.record(), "objective": self.objective, "pruner": self.pruner, "tune": list(self.tune),
                  "sampler_seed": self.sampler_seed, "tuning_width": self.width, "engine": self.engine,
                  "config": config}
        return json.loads(json.dumps(record, default=str))  # as stored: tuples become lists

    def build(self, params: dict[str, Any], seed: int) -> tuple[Recipe, TrainingConfig]:
        """The method's recipe and the training settings for ``params`` (method and shared ones)."""
        method_params, config = split_params(params, self.config)
        return self.method.build(method_params, self.context(seed)), config

    def fit(self, params: dict[str, Any], seed: int, on_epoch=None):
        """Train ``params`` with ``seed`` on the training split (``on_epoch`` sees validation scores)."""
        recipe, config = self.build(params, seed)
        return get_engine(self.engine).fit(self.split, recipe, config, seed=seed, device=self.device,
                                           on_epoch=on_epoch)


def split_label(dataset: str, split_seed: int) -> str:
    """How progress lines name a dataset on one split: its name, with the split seed when it is not 0."""
    return dataset if split_seed == 0 else f"{dataset} (split {split_seed})"


def check_objective(name: str) -> None:
    if name not in OBJECTIVES:
        raise BenchmarkError(f"objective {name!r} is unknown", f"use one of {', '.join(OBJECTIVES)}")


# -- parameters --------------------------------------------------------------------------------------
def suggest_params(trial, job: PairJob) -> dict[str, Any]:
    """The shared training parameters the suite tunes for all methods, then the method's own space.

    The shared ones (learning rate, weight decay) are the deep engine's; a classical model has none."""
    params: dict[str, Any] = {}
    for name in job.tune if job.engine == "deep" else ():  # first: every method draws the same startup values
        low, high, log = SHARED_RANGES[name]
        params[SHARED_PREFIX + name] = trial.suggest_float(SHARED_PREFIX + name, low, high, log=log)
    own = job.method.search_space(trial, job.context(seed=0))
    return {**check_params(job.method.name, own if own is not None else {}), **params}


def check_params(method: str, params: Any) -> dict[str, Any]:
    """A search space returns a dict of names to JSON values (finite numbers, strings, lists of them)."""
    if not isinstance(params, dict):
        raise BenchmarkError(f"the search space of method '{method}' returned {type(params).__name__} {params!r}",
                             "return a dict of parameter name -> value")
    for name, value in params.items():
        if not isinstance(name, str) or name.startswith(SHARED_PREFIX):
            raise BenchmarkError(f"the search space of method '{method}' returned the parameter name {name!r}",
                                 f"use string names not starting with {SHARED_PREFIX!r} (reserved for Suite.tune)")
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            raise BenchmarkError(
                f"the search space of method '{method}' returned {name}={value!r}, which cannot be stored",
                "return finite numbers, strings, booleans, None or lists of them",
            ) from None
    return params


def split_params(params: dict[str, Any], config: TrainingConfig) -> tuple[dict[str, Any], TrainingConfig]:
    method_params = {k: v for k, v in params.items() if not k.startswith(SHARED_PREFIX)}
    shared = {k[len(SHARED_PREFIX):]: v for k, v in params.items() if k.startswith(SHARED_PREFIX)}
    return method_params, replace(config, **shared) if shared else config
