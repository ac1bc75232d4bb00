"""A small stored suite without training: seed rows scored from random predictions the way a run scores them
(:func:`benchmark.store.predictions.seed_scores`), their predictions saved, and split seed 0's studies with
trials, so that bundles can be written and read in a second."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import optuna

from benchmark.store import COMPLETE, OK, Store
from benchmark.store.predictions import Predictions, save_predictions
from benchmark.store.studies import optuna_storage, study_name

SUITE = "smoke"  # a registered suite: publishing records its definition
DATASETS = {"keel-yeast3": (2, [1], [600, 80]), "digits-lt": (10, [7, 8, 9], [60, 50, 40, 32, 25, 20, 15, 12, 9, 7])}


def predictions(dataset: str, method: str, split_seed: int, seed: int, n: int = 120) -> Predictions:
    classes, minority, counts = DATASETS[dataset]
    rng = np.random.default_rng(zlib.crc32(f"{dataset}/{method}/{split_seed}/{seed}".encode()))
    y = np.arange(n) % classes
    skill = 1.0 + len(method) / 4  # methods differ in how well they separate the classes
    logits = rng.normal(size=(n, classes)) + skill * np.eye(classes)[y]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return Predictions(y, proba, minority, counts)


def fabricate(path: Path, methods: tuple[str, ...] = ("baseline", "smote", "focal-loss"), seeds: int = 2,
              split_seeds: int = 2, drop: tuple[str, ...] = ()) -> Store:
    """A store at ``path`` holding ``methods`` x DATASETS x split seeds x seeds, complete; metrics named in
    ``drop`` are left out of the stored rows (as if added to the table after the rows were scored)."""
    store = Store(f"sqlite:///{path}")
    storage = optuna_storage(store.url, 10)
    budget = {"trials": 2, "seeds": seeds, "timeout": None, "device_seconds": None, "objective": "minority_f1",
              "pruner": "hyperband", "tune": []}
    for dataset, (classes, minority, counts) in DATASETS.items():
        for method in methods:
            for split_seed in range(split_seeds):
                info = {"class_counts": {"train": counts}, "minority_classes": minority,
                        "class_names": [str(c) for c in range(classes)], "split_seed": split_seed}
                store.update_pair(SUITE, dataset, method, split_seed=split_seed, status=COMPLETE, budget=budget,
                                  spent={"trials": 2, "seconds": 1.5}, best_params={"train.lr": 0.01},
                                  best_value=0.5, info=info, engine="deep",
                                  study_name=study_name(SUITE, dataset, method, split_seed))
                if split_seed == 0:
                    study = optuna.create_study(storage=storage, direction="maximize",
                                                study_name=study_name(SUITE, dataset, method))
                    for value in (0.4, 0.5):
                        study.add_trial(optuna.trial.create_trial(
                            params={"train.lr": 0.01}, value=value, user_attrs={"slot": 0, "epochs": 3},
                            distributions={"train.lr": optuna.distributions.FloatDistribution(1e-4, 0.1, log=True)}))
                for seed in range(seeds):
                    p = predictions(dataset, method, split_seed, seed)
                    metrics, per_class = p.scores()
                    for name in drop:
                        metrics.pop(name, None)
                    store.claim_seed(SUITE, dataset, method, seed, split_seed=split_seed)
                    save_predictions(store, SUITE, dataset, method, seed, p, split_seed=split_seed)
                    store.finish_seed(SUITE, dataset, method, seed, split_seed=split_seed, status=OK, reason=None,
                                      params={"train.lr": 0.01}, metrics=metrics, per_class=per_class,
                                      timings={"total_seconds": 0.5},
                                      provenance={"device": "cpu", "hardware": {"cpu": "test"}, "git_commit": "x"})
    return store
