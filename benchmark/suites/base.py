"""The :class:`Suite` type and the suite registry.

A suite fixes everything that must be equal across the methods of a comparison: the budget (trials,
seeds, timeout), the training configuration per modality (or per dataset, where datasets of one
modality need different schedules, such as 28x28 digits and CIFAR), the shared hyper-parameters
tuned for every method alike, the objective and the number of split seeds.

Suites come from three places: the built-in ones (:mod:`benchmark.suites.builtin`), suite files
(:mod:`benchmark.suites.files`, ``--suite path/to/my-suite.toml``) and other packages, through the
entry-point group ``benchmark.suites`` (an entry point names a :class:`Suite` or a list of them).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from benchmark.datasets.scenarios import PRIOR_SHIFT, parse_scenario, split_name, variant, variant_name
from benchmark.errors import BenchmarkError
from benchmark.limits import check_name_length, check_setting
from benchmark.metrics import OBJECTIVES
from benchmark.protocol import Budget
from benchmark.registry import Registry
from benchmark.training.base import TrainingConfig

if TYPE_CHECKING:
    from benchmark.datasets import Dataset

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
    split_seeds: int = 1  # splits 0..split_seeds-1, each tuned on its own validation part
    pruner: str = "hyperband"
    dataset_training: dict[str, TrainingConfig] = field(default_factory=dict)  # dataset -> settings (overrides)
    # Tuning width W: trial slot k is sampled from the finished slots 0..k-W only, so the same k draws the
    # same configuration with any number of workers (up to W run at once without waiting) and on resume.
    tuning_width: int = 4
    # The device the suite's settings are meant for: "gpu" (vision-lt and its kin: CNNs for hundreds of epochs)
    # or "any". Only the plan reads it, to say so and give a GPU estimate beside a CPU's (benchmark.run.cost).
    intended_device: str = "any"
    # A suite read from a file: the file's path, and the datasets it reads from files (name -> entry).
    # File datasets are not registered: the suite (and the run's plan) carries them to every worker.
    origin: str | None = None
    file_datasets: dict[str, Dataset] = field(default_factory=dict)
    # Stress scenarios (benchmark.datasets.scenarios): each retraining one adds the variant <dataset>@<scenario>
    # of every dataset it applies to (label-noise-P, missing-P); prior-shift re-scores the clean seed rows.
    scenarios: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.scenarios:
            self._add_scenario_variants()
        stray = {split_name(d)[0] for d in self.dataset_training} - {split_name(d)[0] for d in self.datasets}
        if stray:
            raise BenchmarkError(f"suite '{self.name}' sets training for datasets it does not hold: {sorted(stray)}",
                                 "add them to its datasets or drop their settings")
        if self.intended_device not in ("any", "gpu"):
            raise BenchmarkError(f"suite '{self.name}' has intended_device {self.intended_device!r}", "use 'any' or 'gpu'")
        if self.objective not in OBJECTIVES:
            raise BenchmarkError(f"objective {self.objective!r} is unknown", f"use one of {', '.join(OBJECTIVES)}")
        check_name_length("suite", self.name)
        for key in ("tuning_width", "split_seeds"):
            try:
                check_setting(key, getattr(self, key))
            except BenchmarkError as exc:
                raise BenchmarkError(f"suite '{self.name}' has {exc.message}", exc.fix) from None
        unknown = set(self.tune) - set(SHARED_RANGES)
        if unknown:
            raise BenchmarkError(f"suite '{self.name}' tunes unknown shared parameters {sorted(unknown)}",
                                 f"use some of {sorted(SHARED_RANGES)}")

    def _add_scenario_variants(self) -> None:
        """``datasets``: the clean datasets, then each one's variant under each retraining scenario that
        applies to its modality (a file dataset's variants join ``file_datasets``)."""
        from benchmark.datasets import dataset_registry

        parsed = [parse_scenario(name) for name in dict.fromkeys(self.scenarios)]
        object.__setattr__(self, "scenarios", tuple(s.name for s in parsed))
        clean = tuple(d for d in self.datasets if split_name(d)[1] is None)
        files, variants = dict(self.file_datasets), []
        for scenario in (s for s in parsed if s.retrains):
            for name in clean:
                entry = files.get(name) or dataset_registry.get(name)
                if scenario.not_applicable(entry.modality) is None:
                    variants.append(variant_name(entry.name, scenario.name))
                    if name in files:
                        files[variants[-1]] = variant(entry, scenario)
        object.__setattr__(self, "datasets", tuple(dict.fromkeys(self.datasets + tuple(variants))))
        object.__setattr__(self, "file_datasets", files)

    @property
    def rescores_prior_shift(self) -> bool:
        """Whether seed rows of clean datasets also store their scores under shifted test priors."""
        return PRIOR_SHIFT in self.scenarios

    def training_for(self, dataset: str, modality: str) -> TrainingConfig:
        """The training settings of one dataset: its own where the suite gives them, else its modality's;
        a scenario variant (``keel-yeast3@label-noise-0.2``) trains as its clean dataset."""
        dataset = dataset if dataset in self.dataset_training else split_name(dataset)[0]
        if dataset in self.dataset_training:
            return self.dataset_training[dataset]
        try:
            return self.training[modality]
        except KeyError:
            raise BenchmarkError(f"suite '{self.name}' has no training settings for {modality} data ({dataset})",
                                 f"give the suite a training config for '{modality}'") from None

    def engine_for(self, modality: str, method_engines: tuple[str, ...]) -> str:
        """The suite's engine for the modality, unless the method runs only on the other one
        (imbalanced-learn's ensembles are their own classical models)."""
        engine = self.engines.get(modality, "deep")
        return engine if engine in method_engines else method_engines[0]

    def pair_digest(self, dataset: str, modality: str) -> str | None:
        """SHA-256 over the suite's settings a pair of ``dataset`` runs under, for suites read from a file
        (None for the others): its training settings, its modality's engine and the tuning width. The budget,
        objective, pruner, tuned parameters and a file dataset's options are stored beside it already.
        Stored with every pair, so that a suite file changed under the same name is refused like a
        changed budget. Computed from the resolved settings, not the file's bytes (comments and layout
        do not count); the lists of datasets and methods are left out, so that adding a dataset or a
        method to a suite file runs only the new pairs."""
        if self.origin is None:
            return None
        try:
            training: dict[str, Any] | None = _config_card(self.training_for(dataset, modality))
        except BenchmarkError:  # no settings for this modality: the pair fails with that message
            training = None
        settings = {"training": training, "engine": self.engines.get(modality, "deep"), "tuning_width": self.tuning_width}
        blob = json.dumps(settings, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    def card(self) -> dict[str, Any]:
        card = {
            "name": self.name,
            "description": self.description,
            "datasets": list(self.datasets),
            "methods": list(self.methods) if self.methods is not None else "all",
            "trials": self.budget.trials,
            "seeds": self.budget.seeds,
            "timeout": self.budget.timeout,
            "tune": list(self.tune),
            "objective": self.objective,
            "split_seeds": self.split_seeds,
            "tuning_width": self.tuning_width,
            "intended_device": self.intended_device,
            "engines": self.engines,
            "training": {m: _config_card(c) for m, c in self.training.items()},
            "dataset_training": {d: _config_card(c) for d, c in self.dataset_training.items()},
        }
        if self.scenarios:
            card["scenarios"] = list(self.scenarios)
        if self.budget.device_seconds is not None:
            card["device_seconds"] = self.budget.device_seconds
        if self.origin is not None:
            card["file"] = self.origin
            card["pruner"] = self.pruner
        if self.file_datasets:
            card["file_datasets"] = {n: getattr(e, "spec", "") for n, e in self.file_datasets.items()}
        return card


def _config_card(config: TrainingConfig) -> dict[str, Any]:
    return {k: v for k, v in vars(config).items() if k != "extra"}


suite_registry: Registry[Suite] = Registry("suite", entry_point_group="benchmark.suites")
register_suite = suite_registry.add
