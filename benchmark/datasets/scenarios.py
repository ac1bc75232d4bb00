"""Stress scenarios: each (method, dataset) pair trained and scored again under label noise or missing
values, and its test predictions re-scored under a shifted class prior.

A suite lists scenarios by name (``Suite.scenarios``):

- ``label-noise-P``: in the training and validation parts, a share P of the rows of every class but the
  largest get the largest class's label (class-conditional noise toward the majority: the direction in
  which rare labels are lost in practice, when an annotator defaults to the common class). Test labels
  stay clean. Per class and part, round(P n_c) rows are flipped, at most n_c - 1, so no class vanishes.
- ``missing-P`` (tabular data only): a share P of the training cells, drawn uniformly without
  replacement, become missing (NaN); the tabular featuriser, the pipeline every row shares, imputes
  them with the training mean (numeric columns) or most frequent code (nominal ones). Validation and
  test cells stay as they are.
- ``prior-shift``: no retraining. Each clean seed re-run's test predictions are also scored with the
  test rows re-weighted to the balanced prior and to the training prior (class c weighs pi'_c / p_c,
  p_c its share of the test rows), stored as extra metrics of the seed row
  (``minority_f1@balanced-prior``, ``minority_f1@training-prior``, ...). Recall is the same under any
  re-weighting within classes; precision, F1 and PR-AUC move with the prior.

Identity. A retraining scenario is a **dataset variant**: ``keel-yeast3@label-noise-0.2`` is a dataset
(the dataset registry's composer builds it from the registered entry, :func:`scenario_dataset`), whose
split is the clean split of the same split seed with the scenario applied (its own random stream, keyed
by the dataset, the scenario and the split seed). So each scenario pair has its own study
(``suite::keel-yeast3@label-noise-0.2::method``), its own tuning on its own (noisy) validation part,
its own stored rows and leaderboard columns, and resumes like any pair; the store, the tuner and every
reader stay as they are. The variant keeps the clean split's minority classes, so both are scored on the
same classes.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from benchmark.errors import BenchmarkError
from benchmark.metrics import HEADLINE, compute_metrics

SEPARATOR = "@"  # between a dataset's name and its scenario: keel-yeast3@label-noise-0.2
PRIOR_SHIFT = "prior-shift"
PRIORS = ("balanced-prior", "training-prior")  # the re-weighted test priors, suffixes of the extra metrics
_PATTERN = re.compile(r"(label-noise|missing)-(0?\.\d+|[01](?:\.\d+)?)")
_MAX_SHARE = {"label-noise": 0.5, "missing": 0.9}


@dataclass(frozen=True)
class Scenario:
    """One stress scenario (see the module docstring). ``kind``: "label-noise", "missing" or
    "prior-shift"; ``share``: its P (None for prior-shift)."""

    name: str
    kind: str
    share: float | None = None

    @property
    def retrains(self) -> bool:
        """Whether pairs are trained again under it (a dataset variant), or only re-scored."""
        return self.kind != PRIOR_SHIFT

    def not_applicable(self, modality: str) -> str | None:
        """Why the scenario does not apply to data of ``modality``, or None."""
        if self.kind == "missing" and modality != "tabular":
            return f"{self.name} makes table cells missing; {modality} data has no cells to drop"
        return None

    def apply(self, split: Any, rng_for: Any) -> Any:
        """The split under this scenario: ``rng_for(purpose)`` gives a generator per part."""
        if self.kind == "label-noise":
            majority = int(np.argmax(split.class_counts("train")))
            train_y, n_train = flip_toward(split.train.y, self.share, majority, rng_for("label-noise:train"))
            val_y, n_val = flip_toward(split.val.y, self.share, majority, rng_for("label-noise:val"))
            parts = {"train": replace(split.train, y=train_y), "val": replace(split.val, y=val_y)}
            record = {"flipped_to": majority, "flipped": {"train": n_train, "val": n_val}}
        elif self.kind == "missing":
            X, n = drop_cells(split.train.X, self.share, rng_for("missing:train"))
            parts, record = {"train": replace(split.train, X=X)}, {"missing_cells": n}
        else:
            raise BenchmarkError(f"scenario {self.name} re-scores test predictions; it builds no split",
                                 "list it in a suite's scenarios instead of naming a dataset variant")
        info = {**split.info, "scenario": {"name": self.name, **record}}
        return replace(split, **parts, info=info, minority_classes=list(split.minority_classes))


def parse_scenario(name: str) -> Scenario:
    """The scenario named ``name``; an unknown name or an out-of-range share is an error naming the forms."""
    if name == PRIOR_SHIFT:
        return Scenario(name, PRIOR_SHIFT)
    match = _PATTERN.fullmatch(name or "")
    if match is None:
        raise BenchmarkError(f"scenario {name!r} is unknown",
                             "use label-noise-P, missing-P (P a share, e.g. 0.2) or prior-shift")
    kind, share = match.group(1), float(match.group(2))
    if not 0 < share <= _MAX_SHARE[kind]:
        raise BenchmarkError(f"scenario {name!r} has the share {share}",
                             f"use a share in (0, {_MAX_SHARE[kind]}] for {kind}")
    return Scenario(name, kind, share)


def split_name(dataset: str) -> tuple[str, str | None]:
    """``keel-yeast3@label-noise-0.2`` -> (``keel-yeast3``, ``label-noise-0.2``); a clean name -> (name, None)."""
    base, sep, scenario = dataset.partition(SEPARATOR)
    return (base, scenario) if sep else (dataset, None)


def variant_name(dataset: str, scenario: str) -> str:
    return f"{dataset}{SEPARATOR}{scenario}"


def flip_toward(y: np.ndarray, share: float, target: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """``y`` with round(share * n_c) rows of every class c but ``target`` (at most n_c - 1) relabelled
    ``target``, drawn without replacement; and how many were flipped."""
    y = np.array(y, copy=True)
    flipped = 0
    for c in np.unique(y):
        if c == target:
            continue
        rows = np.flatnonzero(y == c)
        k = min(int(round(share * len(rows))), len(rows) - 1)
        if k > 0:
            y[rng.choice(rows, size=k, replace=False)] = target
            flipped += k
    return y, flipped


def drop_cells(X: np.ndarray, share: float, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """A float copy of the table ``X`` with round(share * cells) cells, uniform without replacement, NaN."""
    X = np.array(X, dtype=np.float32 if X.dtype != np.float64 else np.float64, copy=True)
    if X.ndim != 2:
        raise BenchmarkError(f"missing-value scenarios need a table (N, D); the data has shape {X.shape}",
                             "use them on tabular datasets")
    n = int(round(share * X.size))
    X.reshape(-1)[rng.choice(X.size, size=n, replace=False)] = np.nan
    return X, n


# -- the dataset variant ---------------------------------------------------------------------------------
def _rng(dataset: str, scenario: str, split_seed: int):
    def rng_for(purpose: str) -> np.random.Generator:
        digest = hashlib.sha256(f"{dataset}|{scenario}|{purpose}|{split_seed}".encode()).digest()
        return np.random.default_rng(int.from_bytes(digest[:8], "little"))

    return rng_for


def build_variant(base: Any, scenario: Scenario, request: Any) -> Any:
    """The variant's builder: the clean split of the request's split seed (its cache served as usual),
    with ``scenario`` applied."""
    clean = base.load(request.data_root, request.split_seed)
    split = scenario.apply(clean, _rng(base.name, scenario.name, request.split_seed))
    split.dataset = variant_name(base.name, scenario.name)
    return split


def variant(base: Any, scenario: Scenario) -> Any:
    """The dataset entry ``<base>@<scenario>`` of a registered or file dataset entry ``base``."""
    why = scenario.not_applicable(base.modality)
    if why or not scenario.retrains:
        raise BenchmarkError(f"dataset '{variant_name(base.name, scenario.name)}': "
                             + (why or f"{scenario.name} re-scores the clean pairs' test predictions"),
                             "list the scenario in a suite's scenarios; it applies where it can")
    return replace(base, name=variant_name(base.name, scenario.name), builder=functools.partial(build_variant, base, scenario),
                   params={**base.params, "scenario": scenario.name}, family=base.family or base.name,
                   description=f"{base.description} Under the stress scenario {scenario.name} "
                               "(benchmark.datasets.scenarios).")


def scenario_dataset(name: str) -> Any:
    """The dataset registry's composer: the variant entry for ``<dataset>@<scenario>``, None for a name
    without ``@``; an unknown dataset or scenario is an error naming it."""
    from benchmark.datasets.base import dataset_registry

    base_name, scenario_name = split_name(name)
    if scenario_name is None:
        return None
    return variant(dataset_registry.get(base_name), parse_scenario(scenario_name))


# -- prior shift -------------------------------------------------------------------------------------------
def prior_weights(y_true: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Per-row weights pi'_c / p_c that re-weight the test rows to the class prior ``prior`` (renormalised
    over the classes present in the test rows); rows keep weight 0 for a class the prior gives none."""
    y_true = np.asarray(y_true, dtype=np.int64)
    counts = np.bincount(y_true, minlength=len(prior)).astype(np.float64)
    present = counts > 0
    target = np.where(present, np.asarray(prior, dtype=np.float64), 0.0)
    if target.sum() <= 0:
        raise BenchmarkError(f"the prior {list(prior)} gives no weight to the test classes",
                             "re-weight to a prior over the classes the test rows hold")
    target /= target.sum()
    per_class = np.where(present, target / np.where(present, counts / counts.sum(), 1.0), 0.0)
    return per_class[y_true]


def prior_shift_metrics(y_true: np.ndarray, proba: np.ndarray, minority: list[int],
                        train_counts: list[int]) -> dict[str, float]:
    """The headline metrics of the test predictions re-weighted to the balanced and the training prior,
    named ``<metric>@balanced-prior`` and ``<metric>@training-prior``."""
    proba = np.asarray(proba, dtype=np.float64)
    priors = {"balanced-prior": np.ones(proba.shape[1]), "training-prior": np.asarray(train_counts, dtype=np.float64)}
    out = {}
    for suffix, prior in priors.items():
        scores, _ = compute_metrics(y_true, proba, minority, sample_weight=prior_weights(y_true, prior))
        for metric in HEADLINE:  # the metrics' one definition (benchmark.metrics), on the re-weighted split
            out[f"{metric}{SEPARATOR}{suffix}"] = scores[metric]
    return out
