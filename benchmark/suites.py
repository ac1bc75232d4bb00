"""Suites: which datasets and methods are crossed, under which budget and training settings.

A suite fixes everything that must be equal across the methods of a comparison: the budget (trials,
seeds, timeout), the training configuration per modality, the shared hyper-parameters tuned for
every method alike, the objective and the split seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from benchmark.errors import BenchmarkError
from benchmark.metrics import OBJECTIVES
from benchmark.protocol import Budget
from benchmark.registry import Registry
from benchmark.training.base import TrainingConfig

# Shared hyper-parameters a suite may tune for every method alike: name -> (low, high, log scale).
SHARED_RANGES: dict[str, tuple[float, float, bool]] = {
    "lr": (1e-4, 1e-1, True),
    "weight_decay": (1e-6, 1e-2, True),
}


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    datasets: tuple[str, ...]
    methods: tuple[str, ...] | None  # None: every registered method that applies
    budget: Budget
    training: dict[str, TrainingConfig]  # modality -> settings
    engines: dict[str, str] = field(default_factory=lambda: {"image": "deep", "text": "deep", "tabular": "deep"})
    tune: tuple[str, ...] = ()  # shared hyper-parameters tuned for every method alike
    objective: str = "minority_f1"
    split_seed: int = 0
    pruner: str = "hyperband"

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise BenchmarkError(f"objective {self.objective!r} is unknown", f"use one of {', '.join(OBJECTIVES)}")
        unknown = set(self.tune) - set(SHARED_RANGES)
        if unknown:
            raise BenchmarkError(f"suite '{self.name}' tunes unknown shared parameters {sorted(unknown)}",
                                 f"use some of {sorted(SHARED_RANGES)}")

    def engine_for(self, modality: str, method_engines: tuple[str, ...]) -> str:
        """The suite's engine for the modality, unless the method runs only on the other one
        (imbalanced-learn's ensembles are their own classical models)."""
        engine = self.engines.get(modality, "deep")
        return engine if engine in method_engines else method_engines[0]

    def card(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "datasets": list(self.datasets),
            "methods": list(self.methods) if self.methods is not None else "all",
            "trials": self.budget.trials,
            "seeds": self.budget.seeds,
            "timeout": self.budget.timeout,
            "tune": list(self.tune),
            "objective": self.objective,
            "split_seed": self.split_seed,
            "engines": self.engines,
            "training": {m: {k: v for k, v in vars(c).items() if k != "extra"} for m, c in self.training.items()},
        }


suite_registry: Registry[Suite] = Registry("suite")
register_suite = suite_registry.add


SMOKE_METHODS = ("baseline", "random-oversampling", "random-undersampling", "smote", "class-weighted-ce", "focal-loss")

register_suite("smoke", Suite(
    name="smoke",
    description="A few-minute end-to-end check on 2 CPU cores: long-tailed digits, a subset of SMS spam and "
                "one KEEL dataset, crossed with six basic remedies.",
    datasets=("digits-lt", "sms-spam-mini", "keel-yeast3"),
    methods=SMOKE_METHODS,
    budget=Budget(trials=2, seeds=2),
    training={
        "image": TrainingConfig(epochs=6, batch_size=64, lr=3e-3),
        "text": TrainingConfig(epochs=6, batch_size=64, lr=3e-3, tfidf_max_features=2000),
        "tabular": TrainingConfig(epochs=20, batch_size=64, lr=3e-3),
    },
))
