"""The cost of a run before it runs (``python -m benchmark run ... --plan``), and the packing it implies.

From the resolved plan, without training and without writing anything: the pairs (dataset x method x
split seed) and what a run would do with each, as :mod:`benchmark.run.pair` decides it (already stored
and final, not applicable or missing a resource, with the reason, or to run); for each pair to run,
the fits left (tuning trials and seed re-runs of the budget, less what the store holds: the trials
that hold a budget slot and the final seed rows, read as a resumed run reads them); the training
samples of those fits (epochs x the samples of an epoch, :func:`benchmark.training.epochs.epoch_compute`
of the original training split); the generator pre-training of generative rows, counted apart; and the
device-seconds, from a calibration of each distinct (model, input shape, batch size) on this device
(:mod:`benchmark.run.calibration`).

Datasets are read as a run reads them, but never downloaded: one whose files are absent is counted
from its card (``Dataset.card_split``: class counts, sizes and input shape are known without data), and
the plan says so. The estimate assumes no pruning (an upper bound) and the baseline's step for every
method; where this suite's finished studies in the store show what share of their epochs pruned
tuning trials trained, the estimate with that share is given too.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from benchmark.datasets.base import Dataset, Split
from benchmark.datasets.download import downloads_disabled, downloads_off
from benchmark.errors import DataUnavailableError, describe_failure
from benchmark.methods import method_registry
from benchmark.run.calibration import (
    GPU_REFERENCE,
    Calibration,
    StepShape,
    Workload,
    aggregate_rates,
    calibrate_all,
    device_memory,
    device_name,
)
from benchmark.run.packing import Packing, PackingInputs, choose_packing, measured_levels, memory_cap
from benchmark.run.pair import applicability, check_pair_budget, model_config
from benchmark.run.pilot import (
    Pilot,
    measure_beside_steps,
    measure_generators,
    recipes_stack,
)
from benchmark.run.plan import AUTO, RunPlan, capped_workers, machine_capacity
from benchmark.run.resume import StoredProgress, observed_pruning
from benchmark.store.status import DATA_ERROR, DATA_UNAVAILABLE, FINAL_PAIR_STATES, reason_rule
from benchmark.training.base import TrainingConfig, resolve_device
from benchmark.training.deep import DEFAULT_MODELS
from benchmark.training.epochs import epoch_compute
from benchmark.training.features import make_featurizer
from benchmark.training.stacked_mlp import exact_conflict

TO_RUN = "to run"
NO_ESTIMATE = "no estimate"  # data absent and no card to count from
MINILM_WIDTH = 384  # all-MiniLM-L6-v2's embedding size: the MLP's input under text_features="minilm"


# -- the datasets: read as a run reads them, else counted from their cards ---------------------------
@dataclass
class DatasetPlan:
    """One dataset on one split seed, as the plan sees it: read from its files or counted from its card."""

    name: str
    split_seed: int
    source: str  # "data" or "card"
    note: str | None  # why the card: what a run would record now
    modality: str
    num_classes: int
    train_rows: int
    val_rows: int
    config: TrainingConfig  # the suite's settings for the dataset, as a pair's come from them
    shape: StepShape | None  # the deep engine's step; None: not calibrated (token features)

    @property
    def epoch_samples(self) -> int:
        return epoch_compute(self.train_rows, self.config.batch_size)[0]


def read_dataset(plan: RunPlan, name: str, split_seed: int) -> tuple[DatasetPlan, Split | None]:
    """The dataset's split as a run would load it (never downloading), else the split its card predicts
    (:meth:`Dataset.card_split`); the split is None when neither works (a run would record the load's status)."""
    entry = plan.dataset_entry(name)
    source, note = "data", None
    may_download = not downloads_disabled()  # the run's setting, before the plan turns downloads off
    with downloads_off():
        try:
            split = entry.load(plan.data_root, split_seed)
        except Exception as exc:  # noqa: BLE001 - as a run: whatever a loader raises concerns this dataset only
            if isinstance(exc, DataUnavailableError) and may_download:
                note = "its files are absent; a run would try to download them"
            elif isinstance(exc, DataUnavailableError):
                note = f"its files are absent; a run now would record it {DATA_UNAVAILABLE} ({exc.message})"
            else:
                message = getattr(exc, "message", None) or (str(exc).splitlines() or [type(exc).__name__])[0]
                note = f"its files cannot be read; a run now would record it {DATA_ERROR} ({message})"
            source, split = "card", entry.card_split()
    config = plan.suite.training_for(name, entry.modality)
    if split is None:
        return DatasetPlan(name, split_seed, NO_ESTIMATE, f"{note}; its card gives no class counts", entry.modality,
                           entry.num_classes, 0, 0, config, None), None
    deep = model_config(config, entry.default_model, "deep")  # the backbone a deep-engine pair trains
    shape = step_shape(split, deep) if source == "data" else card_shape(entry, deep)
    return DatasetPlan(name, split_seed, source, note, split.modality, split.num_classes, len(split.train),
                       len(split.val), config, shape), split


def step_shape(split: Split, config: TrainingConfig) -> StepShape | None:
    """The calibrated shape of a loaded split's training step: the backbone's input after featurisation."""
    model = config.model or DEFAULT_MODELS[split.modality]
    if split.modality == "image":
        return StepShape(model, tuple(int(d) for d in split.train.X.shape[1:]), config.batch_size, "image")
    if split.modality == "tabular":
        return StepShape(model, (int(split.train.X.shape[1]),), config.batch_size, "features")
    width = text_width(config, split)
    return None if width is None else StepShape(model, (width,), config.batch_size, text_kind(config))


def text_kind(config: TrainingConfig) -> str:
    """TF-IDF rows are calibrated as TF-IDF of synthetic texts (sparse rows, as a run trains them on a CPU)."""
    return "tfidf" if config.text_features == "tfidf" else "features"


def card_shape(entry: Dataset, config: TrainingConfig) -> StepShape | None:
    """The step shape from a dataset's card (:meth:`Dataset.input_shape`; text: the featuriser's width)."""
    model = config.model or DEFAULT_MODELS[entry.modality]
    if entry.modality == "text":
        width = text_width(config, None)
        return None if width is None else StepShape(model, (width,), config.batch_size, text_kind(config))
    shape = entry.input_shape()
    return None if shape is None else StepShape(model, shape, config.batch_size,
                                                "image" if entry.modality == "image" else "features")


def text_width(config: TrainingConfig, split: Split | None) -> int | None:
    """The MLP's input width on text: TF-IDF terms (fitted on the training texts where they are here, else
    the cap), the sentence encoder's size; token ids feed a sequence model, not calibrated here."""
    if config.text_features == "tfidf":
        if split is None:
            return config.tfidf_max_features
        return int(make_featurizer("text", config).fit(split.train.X).spec.shape[0])
    if config.text_features == "minilm":
        return MINILM_WIDTH
    return None


@dataclass
class PairPlan:
    """What a run would do with one pair, and the fits and samples it has left."""

    dataset: str
    method: str
    split_seed: int
    status: str  # TO_RUN, or the status a run records or finds stored (complete, not-applicable, ...)
    reason: str | None = None
    engine: str | None = None
    trials: int = 0  # tuning fits left
    seeds: int = 0  # seed re-runs left
    stored_trials: int = 0
    stored_seeds: int = 0
    samples: int = 0  # training samples of the fits left (deep engine)
    generator_samples: int = 0  # generator pre-training (generative rows), not in the estimate
    shape: StepShape | None = None
    epochs: int = 0
    epoch_samples: int = 0
    stacked: bool = False  # its trials and seed re-runs train stacked (the run's stacking, its recipes allow it)
    cells: int = 0  # training rows x input width: what a generator's start-up and a classical fit scale with

    @property
    def fits(self) -> int:
        return self.trials + self.seeds


@dataclass
class RunCost:
    """The plan of a run in numbers."""

    plan: RunPlan
    device: str
    device_name: str
    datasets: list[DatasetPlan]
    pairs: list[PairPlan]
    calibrations: dict[StepShape, Calibration] = field(default_factory=dict)
    pruning: tuple[float, int] | None = None  # (share of tuning epochs trained, studies it comes from)
    packing: Packing | None = None
    aggregate: dict[int, float] = field(default_factory=dict)  # k processes at once -> samples/s (CUDA)
    pilot: Pilot | None = None  # what a fit pays besides its steps (Optuna, scores, the store), measured
    stack_rates: dict[StepShape, float] = field(default_factory=dict)  # samples/s of stacked fits (CPU, MLP)
    # generative row -> (cells it was timed at, start-up seconds there, seconds per generator sample)
    generators: dict[str, tuple[int, float, float]] = field(default_factory=dict)
    # classical-engine row -> ((cells, s per fit) on its smallest dataset, the same on its largest)
    classical: dict[str, tuple[tuple[int, float], tuple[int, float]]] = field(default_factory=dict)
    seconds: float = 0.0

    def to_run(self) -> list[PairPlan]:
        return [p for p in self.pairs if p.status == TO_RUN]

    def pair_seconds(self, pair: PairPlan, share: float = 1.0) -> float | None:
        """Device-seconds of a pair's fits left; tuning fits train ``share`` of their epochs (pruning). Each fit:
        its start-up and samples at the calibrated rate (stacked fits: the stacked rate), plus what the pilot
        pair paid per fit besides (:mod:`benchmark.run.pilot`)."""
        if pair.status == TO_RUN and pair.engine == "classical" and pair.method in self.classical:
            (lo, at_lo), (hi, at_hi) = self.classical[pair.method]  # a line through both, never below the least
            per_fit = at_lo if hi == lo else max(min(at_lo, at_hi), at_lo + (at_hi - at_lo) * (pair.cells - lo) / (hi - lo))
            return pair.fits * (per_fit + self.beside_steps)
        calibration = self.calibrations.get(pair.shape) if pair.shape is not None else None
        if calibration is None or pair.status != TO_RUN:
            return None
        per_fit = pair.epochs * pair.epoch_samples
        rate = self.stack_rates.get(pair.shape, calibration.samples_per_second) if pair.stacked else \
            calibration.samples_per_second
        seconds = (pair.fits * calibration.overhead_seconds
                   + (pair.trials * share * per_fit + pair.seeds * per_fit) / rate
                   + pair.fits * self.beside_steps)
        if pair.generator_samples:  # each generator's start-up (scaled by cells), then its samples
            if pair.method not in self.generators:
                return None
            cells, start, per_sample = self.generators[pair.method]
            trained = (pair.trials > 0) + pair.seeds
            seconds += trained * start * pair.cells / cells + pair.generator_samples * per_sample
        return seconds

    @property
    def beside_steps(self) -> float:
        """Seconds a fit pays besides its steps (the pilot pair's, per fit; 0 without one)."""
        return self.pilot.fit_seconds if self.pilot else 0.0

    def wall_hours(self, share: float = 1.0) -> float | None:
        """On a CPU: hours of wall time with the run's workers, each training on a core of its own (None
        elsewhere, where packing decides; or when the workers are not known)."""
        workers = self.plan.options.workers
        if self.device != "cpu" or not isinstance(workers, int) or workers < 1:
            return None
        return self.device_hours(share) / workers

    def gpu_hours(self) -> tuple[float, list[str]] | None:
        """For a suite meant for a GPU planned on a CPU: hours on one H100 from the performance note's
        figures (:data:`GPU_REFERENCE`, training steps only), and the figures used; None otherwise or when
        a pair's model has no figure."""
        if self.plan.suite.intended_device != "gpu" or self.device.startswith("cuda"):
            return None
        pairs = [p for p in self.to_run() if p.samples]
        if not pairs or any(p.shape is None or p.shape.model not in GPU_REFERENCE for p in pairs):
            return None
        used = sorted({GPU_REFERENCE[p.shape.model][1] for p in pairs})
        return sum(p.samples / GPU_REFERENCE[p.shape.model][0] for p in pairs) / 3600, used

    def device_hours(self, share: float = 1.0) -> float:
        return sum(s for p in self.to_run() if (s := self.pair_seconds(p, share)) is not None) / 3600

    def unestimated(self) -> list[PairPlan]:
        """Pairs to run whose fits have no calibration (classical engine, uncalibrated inputs, untimed generators)."""
        return [p for p in self.to_run() if p.fits and self.pair_seconds(p) is None]

    def record(self) -> dict[str, Any]:
        """Everything the plan found, as JSON (``--plan --format json``; every pair listed, with its reason)."""
        pairs = self.to_run()
        gpu = self.gpu_hours()
        share = self.pruning[0] if self.pruning else None
        return {
            "suite": self.plan.suite.name, "device": self.device, "device_name": self.device_name,
            "budget": self.plan.budget.record(), "split_seeds": self.plan.split_seeds, "pruner": self.plan.pruner,
            "workers": self.plan.options.workers, "stack_trials": self.plan.options.stack_trials,
            "datasets": [{"name": d.name, "split_seed": d.split_seed, "source": d.source, "note": d.note,
                          "train_rows": d.train_rows, "val_rows": d.val_rows, "epochs": d.config.epochs,
                          "epoch_samples": d.epoch_samples, "shape": d.shape.label if d.shape else None}
                         for d in self.datasets],
            "pairs": [{"dataset": p.dataset, "method": p.method, "split_seed": p.split_seed, "status": p.status,
                       "reason": p.reason, "engine": p.engine, "trials": p.trials, "seeds": p.seeds,
                       "stored_trials": p.stored_trials, "stored_seeds": p.stored_seeds, "samples": p.samples,
                       "generator_samples": p.generator_samples, "cells": p.cells, "stacked": p.stacked,
                       "device_seconds": _round(self.pair_seconds(p))} for p in self.pairs],
            "totals": {"pairs": len(self.pairs), "to_run": len(pairs), "fits": sum(p.fits for p in pairs),
                       "trials": sum(p.trials for p in pairs), "seeds": sum(p.seeds for p in pairs),
                       "stored_fits": sum(p.stored_trials + p.stored_seeds for p in self.pairs),
                       "samples": sum(p.samples for p in pairs),
                       "generator_samples": sum(p.generator_samples for p in pairs),
                       "device_hours": round(self.device_hours(), 4),
                       "device_hours_pruned": round(self.device_hours(share), 4) if share is not None else None,
                       "unestimated_pairs": len(self.unestimated()),
                       "gpu_hours": round(gpu[0], 4) if gpu else None},
            "intended_device": self.plan.suite.intended_device,
            "gpu_reference": gpu[1] if gpu else None,
            "pilot": self.pilot.record() if self.pilot else None,
            "stack_rates": {shape.label: round(rate, 1) for shape, rate in self.stack_rates.items()},
            "wall_hours": _round(self.wall_hours()),
            "generators": {m: {"cells": c, "start_seconds": round(a, 4), "seconds_per_sample": b}
                           for m, (c, a, b) in self.generators.items()},
            "classical": {m: [{"cells": c, "fit_seconds": round(f, 4)} for c, f in points]
                          for m, points in self.classical.items()},
            "not_run_by_reason": [{"status": s, "reason": r, "pairs": len(ps)} for (s, r), ps in refused_by_reason(
                self.pairs).items()],
            "pruning": {"assumption": "no pruning: an upper bound", "observed_share": share,
                        "studies": self.pruning[1] if self.pruning else 0},
            "calibrations": [c.record() for c in self.calibrations.values()],
            "packing": self.packing.record() if self.packing else None,
            "aggregate": {str(k): round(v, 1) for k, v in self.aggregate.items()},
            "seconds": round(self.seconds, 2),
        }


def refused_by_reason(pairs: list[PairPlan]) -> dict[tuple[str, str], list[PairPlan]]:
    """The pairs a run would not run, grouped by status and rule (:func:`benchmark.store.status.reason_rule`);
    largest group first."""
    groups: dict[tuple[str, str], list[PairPlan]] = {}
    for p in pairs:
        if p.status != TO_RUN and p.reason:
            groups.setdefault((p.status, reason_rule(p.reason, p.method, p.dataset)), []).append(p)
    return dict(sorted(groups.items(), key=lambda kv: -len(kv[1])))


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


# -- the pairs ---------------------------------------------------------------------------------------
def plan_cost(plan: RunPlan, *, calibrate: bool = True) -> RunCost:
    """The run's pairs, fits, samples and (with ``calibrate``) device-seconds and packing; writes nothing."""
    started = time.perf_counter()
    device = plan.device or resolve_device("auto")  # Ray tasks choose on their nodes: calibrate here
    store = plan.open_store()
    stored = StoredProgress(store)
    rows = {(p.dataset, p.method, p.split_seed): p for p in store.pairs(plan.suite.name)}
    datasets: list[DatasetPlan] = []
    pairs: list[PairPlan] = []
    splits: dict[str, Split] = {}  # each dataset's first split read: where generators are timed
    for name in plan.datasets:
        asked = plan.pair_budget(name)
        for split_seed in range(plan.split_seeds):
            todo = []
            for method in plan.methods:
                row = rows.get((name, method, split_seed))
                check_pair_budget(row, asked, plan.suite.name, name, method, split_seed)
                if row is not None and row.status in FINAL_PAIR_STATES:
                    done = stored.done(plan, row)
                    pairs.append(PairPlan(name, method, split_seed, str(row.status), row.reason, row.engine,
                                          stored_trials=done[0], stored_seeds=done[1]))
                else:
                    todo.append((method, row))
            if todo:
                dataset, split = read_dataset(plan, name, split_seed)
                datasets.append(dataset)
                if split is not None and dataset.source == "data":  # a card's stand-in rows time nothing real
                    splits.setdefault(name, split)
                pairs += [pair_plan(plan, dataset, split, method, row, stored) for method, row in todo]
    cost = RunCost(plan, device, device_name(device), datasets, pairs, pruning=observed_pruning(plan, store))
    if calibrate:
        workloads = [Workload(d.shape, d.num_classes, d.train_rows, d.val_rows, d.config)
                     for d in datasets if d.shape is not None and any(
                         p.dataset == d.name and p.shape == d.shape and p.fits for p in cost.to_run())]
        cost.calibrations = calibrate_all(workloads, device)
        if workloads:
            measure_beside_steps(cost, workloads, device)
            measure_generators(cost, splits, device)
        cost.device_name = device_name(device)  # on a CPU: the threads a trial trains on (the engine sets them)
        cost.packing, cost.aggregate = pack(cost, workloads)
    cost.seconds = time.perf_counter() - started
    return cost


def pair_plan(plan: RunPlan, dataset: DatasetPlan, split: Split | None, method_name: str, row: Any,
              stored: StoredProgress) -> PairPlan:
    """One pair that is not final in the store: what a run would record, or the fits it has left."""
    pair = PairPlan(dataset.name, method_name, dataset.split_seed, TO_RUN)
    if split is None:
        pair.status, pair.reason = NO_ESTIMATE, dataset.note
        return pair
    method = method_registry.get(method_name)
    pair.engine = plan.suite.engine_for(dataset.modality, method.engines)
    config = model_config(dataset.config, plan.dataset_entry(dataset.name).default_model, pair.engine)
    status, reason = applicability(method, split, pair.engine, config)
    if reason:
        pair.status, pair.reason = str(status), reason
        return pair
    pair.stored_trials, pair.stored_seeds, trials_left = stored.progress(plan, row, method_name, dataset)
    pair.cells = dataset.train_rows * (math.prod(dataset.shape.input_shape) if dataset.shape is not None else 1)
    pair.trials, pair.seeds = trials_left, plan.budget.seeds - pair.stored_seeds
    if pair.engine == "deep":
        pair.epochs, pair.epoch_samples = config.epochs, dataset.epoch_samples
        pair.samples = pair.fits * pair.epochs * pair.epoch_samples
        pair.shape = dataset.shape
        exact_only_excludes = plan.stack_exact_only and exact_conflict(split, config, torch.device(plan.device or "cpu"))
        pair.stacked = (plan.options.stack_trials or 1) > 1 and not exact_only_excludes and recipes_stack(
            method, split, config, plan.device or "cpu", plan.stack_exact_only)
        if generative(method):  # a study's trials share a generator; each seed re-run trains its own
            pair.generator_samples = ((pair.trials > 0) + pair.seeds) * config.generator_budget.samples(dataset.train_rows)
    return pair


def generative(method: Any) -> bool:
    """A generative row, or a combined row with a generative part: it trains a generator before its model."""
    parts = [method_registry.get(p) for p in method.parts] if method.parts else [method]
    return any(p.family == "generative" for p in parts)


# -- packing -----------------------------------------------------------------------------------------
def pack(cost: RunCost, workloads: list[Workload]) -> tuple[Packing, dict[int, float]]:
    """Trial processes per device for this run: on CUDA from the calibrations' peak memory, the device's
    free memory, the cores, and the aggregate samples/s of k processes at once on the workload with the
    most device time; elsewhere one (a CPU trial already uses every core given to it)."""
    if not cost.device.startswith("cuda") or not cost.calibrations:
        why = "the device is a CPU" if not cost.device.startswith("cuda") else "nothing to calibrate"
        return Packing(1, f"1 process per device: {why}; packing applies to trials on CUDA devices"), {}
    import torch

    peaks = [c.peak_reserved for c in cost.calibrations.values() if c.peak_reserved is not None]
    free = device_memory(cost.device)
    cores, _ = machine_capacity()
    devices = max(1, torch.cuda.device_count())
    trial_memory = max(peaks) if peaks else None
    free_memory = free[0] if free else None
    by_memory = memory_cap(trial_memory, free_memory)
    cap = max(1, min(cores // devices, by_memory if by_memory is not None else cores))
    seconds: dict[StepShape, float] = {}
    for p in cost.to_run():
        if (s := cost.pair_seconds(p)) is not None:
            seconds[p.shape] = seconds.get(p.shape, 0.0) + s
    aggregate: dict[int, float] = {}
    if seconds and cap > 1:
        main = max(seconds, key=seconds.__getitem__)
        aggregate = aggregate_rates(next(w for w in workloads if w.shape == main), cost.device, measured_levels(cap))
    return choose_packing(PackingInputs(trial_memory, free_memory, cores, devices, aggregate)), aggregate


def fill_device(plan: RunPlan) -> RunPlan:
    """``--workers auto`` on CUDA: the plan with the number of worker processes the packing policy
    chooses (per device, times the devices), capped as any ``--workers``, and a note saying why."""
    if plan.options.workers != AUTO:
        return plan
    import torch

    try:
        packing = plan_cost(plan).packing or Packing(1, "1 process per device: nothing was measured")
    except Exception as exc:  # noqa: BLE001 - a calibration that fails (out of memory) must not stop the run
        packing = Packing(1, f"1 process per device: the calibration failed ({describe_failure(exc)})")
    devices = max(1, torch.cuda.device_count())
    options, notes = capped_workers(replace(plan.options, workers=packing.per_device * devices))
    note = f"--workers auto: {options.workers} worker process(es) ({packing.per_device} per GPU): {packing.reason}"
    return replace(plan, options=options, notes=[*plan.notes, note, *notes])

