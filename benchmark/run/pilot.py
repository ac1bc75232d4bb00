"""The plan's pilot pair and stacked rates: what a pair pays besides its training steps, and what stacked trials
train per second on a CPU, measured by running the real code (issue 26).

The calibration (:mod:`benchmark.run.calibration`) times one fit's steps. A run pays more, and on a CPU also
less: each trial is asked, slotted, sampled, reported, pruned and told through Optuna and the store, each seed
re-run is scored, its predictions and row stored (with tabular shapes that is most of a pair's time); and MLP
trials train as one stacked model (:mod:`benchmark.training.stacked_mlp`), several trials per step.

- :func:`run_pilot` runs one whole pair of the suite's budget and settings through the run's own code
  (:func:`~benchmark.tuning.trials.run_trials`, :func:`~benchmark.run.pair.finish_tuning`,
  :func:`~benchmark.run.pair.rerun_seeds`, :func:`~benchmark.run.pair.finish_pair`) on a tiny synthetic table
  (two batches a step) into a temporary SQLite store, without pruning (an upper bound). Its time (on a CPU its
  CPU time: what a quiet core takes) less its own training steps, per fit, is what the plan adds to every
  fit's steps.
- :func:`stacked_rate` times ``members`` stacked MLP fits on a workload's calibration split: the samples/s the
  plan uses for trials and seed re-runs that stack.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmark.datasets.base import DataPart, Split
from benchmark.protocol import Budget
from benchmark.training.base import TrainingConfig

if TYPE_CHECKING:
    from benchmark.run.calibration import Workload
    from benchmark.run.cost import RunCost

PILOT_ROWS = 128  # training rows of the pilot's table (at least 2 a class): two batches of 64 a step
PILOT_EVAL_ROWS = 512  # validation and test rows at most: their passes are in the calibrated rates
PILOT_EPOCHS = 30  # epochs the pilot's fits train at most (vision-lt's 200 took minutes on a CPU)


@dataclass(frozen=True)
class Pilot:
    """One pilot pair: its fits (trials + seed re-runs, none pruned) and the seconds it took beyond their
    training steps (validation passes are in the calibrated rates, so the pilot validates on few rows)."""

    fits: int
    seconds: float
    val_rows: int
    test_rows: int

    @property
    def fit_seconds(self) -> float:
        """What a fit pays besides its own training steps (the pair's share of it)."""
        return self.seconds / max(self.fits, 1)

    def record(self) -> dict[str, Any]:
        return {"fits": self.fits, "seconds": round(self.seconds, 3), "fit_seconds": round(self.fit_seconds, 5),
                "val_rows": self.val_rows, "test_rows": self.test_rows}


def pilot_split(num_classes: int, val_rows: int, test_rows: int, seed: int = 0) -> Split:
    """A tiny table of 8 numeric features, classes in turn, with the plan's validation and test sizes (at most
    :data:`PILOT_EVAL_ROWS`)."""
    rng = np.random.default_rng(seed)

    def part(n: int) -> DataPart:
        y = np.arange(n, dtype=np.int64) % num_classes
        return DataPart((rng.standard_normal((n, 8)) + y[:, None]).astype(np.float32), y)

    classes = [f"class-{c}" for c in range(num_classes)]
    return Split("plan-pilot", "tabular", classes, part(max(PILOT_ROWS, 2 * num_classes)),
                 part(max(num_classes, min(val_rows, PILOT_EVAL_ROWS))),
                 part(max(num_classes, min(test_rows, PILOT_EVAL_ROWS))), info={"synthetic": True, "split_seed": 0})


def run_pilot(config: TrainingConfig, budget: Budget, tune: tuple[str, ...], width: int, stack: int,
              exact_only: bool, device: str, num_classes: int, val_rows: int, test_rows: int,
              objective: str = "minority_f1", heartbeat: int = 60) -> Pilot:
    """Run the baseline method as one pair of ``budget`` (no pruning) on :func:`pilot_split` with the suite's
    training ``config`` (an MLP), tuning, width and stacking, into a temporary SQLite store; time all of it."""
    from benchmark.methods import method_registry
    from benchmark.run.calibration import calibration_config
    from benchmark.run.pair import finish_pair, finish_tuning, rerun_seeds, split_record
    from benchmark.run.progress import Progress
    from benchmark.store import Store
    from benchmark.store.studies import optuna_storage
    from benchmark.tuning.job import PairJob
    from benchmark.tuning.trials import run_trials

    split = pilot_split(num_classes, val_rows, test_rows)
    epochs = min(config.epochs, PILOT_EPOCHS)
    job = PairJob(suite="plan-pilot", dataset="plan-pilot", method=method_registry.get("baseline"), split=split,
                  engine="deep", config=replace(config, model="mlp", epochs=epochs), budget=budget, objective=objective, tune=tune,
                  device=device, pruner="none", stack=stack, stack_exact_only=exact_only, width=width)
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/pilot.db"
        store, storage = Store(url), optuna_storage(url, heartbeat)
        clock = time.process_time if device == "cpu" else time.perf_counter  # CPU: what a quiet core takes
        started = clock()
        store.update_pair(job.suite, job.dataset, job.method.name, status="tuning", engine="deep",
                          study_name=job.study_name, budget=budget.record(), info=split_record(split))
        study = run_trials(job, storage)
        best = finish_tuning(job, store, study)
        if best is not None:
            rerun_seeds(job, store, best, range(budget.seeds), heartbeat, Progress())
            finish_pair(job, store)
        seconds = clock() - started
        storage.engine.dispose()
        store.engine.dispose()
    # Its own training steps are not what it measures: each fit's steps are counted at the calibrated rates.
    samples = (budget.trials + budget.seeds) * job.config.epochs * len(split.train)
    short = calibration_config(job.config)  # 3 epochs (a warm-up that fits in them)
    rate = stacked_rate(split, short, min(stack, width), device) if stack > 1 else None
    steps = samples / (rate or single_rate(split, short, device))
    # beyond PILOT_EPOCHS, scaled by epochs (per-trial costs with them: on the safe side)
    return Pilot(budget.trials + budget.seeds, max(0.0, seconds - steps) * config.epochs / epochs, val_rows, test_rows)


def single_rate(split: Split, config: TrainingConfig, device: str) -> float:
    """Training samples/s of one fit by the engine on ``split``, validation included, after its first epoch
    (on a CPU with one thread, CPU time: as the calibration)."""
    from benchmark.methods.base import Recipe
    from benchmark.run.calibration import fit_clock
    from benchmark.training.deep import DeepEngine

    clock = fit_clock(device, config)
    marks: list[float] = []
    model = DeepEngine().fit(split, Recipe(), config, seed=0, device=device,
                             on_epoch=lambda epoch, proba: marks.append(clock()))
    return int(model.timings["epoch_samples"]) * (len(marks) - 1) / max(marks[-1] - marks[0], 1e-9)


def stacked_rate(split: Split, config: TrainingConfig, members: int, device: str) -> float | None:
    """Training samples/s of ``members`` MLP fits stacked exactly on ``split`` (the calibration's), validation
    included, over the epochs after the first; None where they would not take the exact stacked path."""
    import torch

    from benchmark.methods.base import Recipe
    from benchmark.run.calibration import fit_clock
    from benchmark.training.stacked_mlp import exact_conflict, fit_exact

    dev = torch.device(device)
    if members < 2 or exact_conflict(split, config, dev) is not None:
        return None
    marks: list[float] = []
    clock = fit_clock(device, config)

    def on_epoch(member: int, epoch: int, proba: Any) -> None:
        if member == 0:
            marks.append(clock())

    models = fit_exact(split, [Recipe()] * members, [config] * members, list(range(members)), dev, on_epoch)
    failed = [m for m in models if isinstance(m, BaseException)]
    if failed:
        raise failed[0]
    epoch_samples = int(models[0].timings["epoch_samples"])
    if len(marks) < 2 or marks[-1] <= marks[0]:
        return None
    return members * epoch_samples * (len(marks) - 1) / (marks[-1] - marks[0])


_STACKS: dict[tuple[Any, ...], bool] = {}  # (method, dataset, modality, device, exact only) -> recipes_stack


def recipes_stack(method: Any, split: Split, config: TrainingConfig, device: str = "cpu",
                  exact_only: bool = False) -> bool:
    """Whether a deep pair's trials would train stacked: the engine's own rule
    (:func:`benchmark.training.stacked.stack_path`) on its recipe, built at parameters drawn from its space
    (which hooks a recipe has does not depend on their values). Asked once per method and dataset (a
    dataset's split seeds share its shape)."""
    key = (method.name, split.dataset, split.modality, device, exact_only)
    if key not in _STACKS:
        from benchmark.training.stacked import stack_path

        try:
            recipe = drawn_recipe(method, split, "deep", config.epochs)
            _STACKS[key] = stack_path(split, [recipe, recipe], [config, config], device, exact_only) is not None
        except Exception:  # noqa: BLE001 - a recipe that cannot be built here counts as unstacked (the safe side)
            _STACKS[key] = False
    return _STACKS[key]


def drawn_recipe(method: Any, split: Split, engine: str, epochs: int) -> Any:
    """The method's recipe at parameters drawn from its search space (a random draw of an in-memory study)."""
    import optuna

    from benchmark.methods.base import MethodContext

    ctx = MethodContext.from_split(split, engine, epochs=epochs)
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    finally:
        optuna.logging.set_verbosity(verbosity)
    return method.build(method.search_space(trial, ctx), ctx)


def classical_fit_seconds(method: Any, split: Split, config: TrainingConfig) -> float | None:
    """Seconds of one fit of a row on the classical engine on ``split`` (its recipe at drawn parameters), in
    CPU time of the process (its estimators' threads included); None when the row does not apply."""
    from benchmark.training.classical import ClassicalEngine

    if method.not_applicable_reason(split, "classical", config) is not None:
        return None
    recipe = drawn_recipe(method, split, "classical", 1)
    started = time.process_time()
    ClassicalEngine().fit(split, recipe, config, seed=0)
    return time.process_time() - started


GENERATOR_ROWS = 512  # training rows a generator is timed on at most (an image generator's epoch is slow on a CPU)


def timing_split(split: Split, rows: int = GENERATOR_ROWS) -> Split:
    """``split`` with its training part cut to about ``rows`` rows, every class kept in its share (at least
    2 rows each, the first ones of the class): where a generator is timed; the plan scales by cells."""
    n = len(split.train)
    if n <= rows:
        return split
    keep = np.concatenate([np.flatnonzero(split.train.y == c)[: max(2, round(count * rows / n))]
                           for c, count in enumerate(split.class_counts("train")) if count])
    keep.sort()
    part = DataPart(split.train.X[keep], split.train.y[keep])
    return replace(split, train=part, info={**split.info, "timing_rows": len(keep)})


def generator_cost(method: Any, split: Split, config: TrainingConfig, device: str) -> tuple[float, float] | None:
    """(seconds to start, seconds per generator training sample) of a generative row on ``split``: one fit of
    the row by the engine (2 epochs) with 1 and then with 2 generator epochs, each with ``$BENCHMARK_CACHE`` a
    fresh folder and a seed of its own (no generator is reused, and the user's cache is not written), the
    difference being one generator epoch over the training rows. On a CPU, the process's CPU time (what a quiet
    machine takes, the threads a generator's library starts included). None when the row does not apply."""
    from benchmark.training.deep import DeepEngine

    if method.not_applicable_reason(split, "deep", config) is not None:
        return None
    recipe = drawn_recipe(method, split, "deep", 2)
    clock = time.process_time if device == "cpu" else time.perf_counter  # a generator's library may use threads
    seconds = []
    saved = os.environ.get("BENCHMARK_CACHE")
    try:
        for epochs in (1, 2):
            with tempfile.TemporaryDirectory() as cache:
                os.environ["BENCHMARK_CACHE"] = cache
                budgeted = replace(config, epochs=2, generator_epochs=epochs)
                started = clock()
                DeepEngine().fit(split, recipe, budgeted, seed=time.time_ns() % 2**31, device=device)
                seconds.append(clock() - started)
    finally:
        if saved is None:
            os.environ.pop("BENCHMARK_CACHE", None)
        else:
            os.environ["BENCHMARK_CACHE"] = saved
    per_epoch = max(seconds[1] - seconds[0], 0.0)
    return max(0.0, seconds[0] - per_epoch), per_epoch / max(len(split.train), 1)


# -- what the plan measures with them (benchmark.run.cost) -------------------------------------------
def measure_generators(cost: RunCost, splits: dict[str, Split], device: str) -> None:
    """Each generative row's generator (:func:`generator_cost`), timed on the real split of the dataset among
    its pairs with the fewest cells (training rows x input width), and each classical-engine row's fit
    (:func:`classical_fit_seconds`) on the datasets with the fewest and the most cells: a fit of a boosted or
    bagged ensemble is mostly start-up on small tables (measured: 22 s for a pair on 161 rows, 8-15 s on 403)."""
    from benchmark.methods import method_registry
    from benchmark.run.pair import model_config

    for method in sorted({p.method for p in cost.to_run() if p.engine == "classical" and p.fits and p.cells}):
        pairs = [p for p in cost.to_run() if p.method == method and p.engine == "classical" and p.dataset in splits]
        timed = []
        for pair in {min(pairs, key=lambda p: p.cells).dataset: None, max(pairs, key=lambda p: p.cells).dataset: None}:
            first = next(p for p in pairs if p.dataset == pair)
            dataset = next(d for d in cost.datasets if d.name == pair)
            try:
                seconds = classical_fit_seconds(method_registry.get(method), splits[pair], dataset.config)
            except Exception:  # noqa: BLE001 - a row that cannot be timed here leaves its pairs unestimated
                seconds = None
            if seconds is not None:
                timed.append((first.cells, seconds))
        if timed:
            cost.classical[method] = (timed[0], timed[-1])
    for method in sorted({p.method for p in cost.to_run() if p.generator_samples and p.shape is not None}):
        pairs = [p for p in cost.to_run() if p.method == method and p.dataset in splits and p.shape is not None]
        if not pairs:
            continue
        first = min(pairs, key=lambda p: p.cells)
        dataset = next(d for d in cost.datasets if d.name == first.dataset)
        config = model_config(dataset.config, cost.plan.dataset_entry(dataset.name).default_model, "deep")
        split = timing_split(splits[first.dataset])
        try:
            measured = generator_cost(method_registry.get(method), split, config, device)
        except Exception:  # noqa: BLE001 - a generator that cannot be timed here leaves its pairs unestimated
            measured = None
        if measured is not None:
            cost.generators[method] = (first.cells * len(split.train) // max(len(splits[first.dataset].train), 1),
                                       *measured)


def measure_beside_steps(cost: RunCost, workloads: list[Workload], device: str) -> None:
    """The pilot pair (validating on the smallest validation split: the calibrated rates include validation;
    test splits about twice as large) and, on a CPU where trials stack, each MLP shape's stacked samples/s."""
    from benchmark.run.calibration import calibration_config, synthetic_split

    plan = cost.plan
    small = min(workloads, key=lambda w: w.val_rows)
    members = min(plan.options.stack_trials or 1, plan.suite.tuning_width)
    cost.pilot = run_pilot(small.config, plan.budget, plan.suite.tune, plan.suite.tuning_width,
                           plan.options.stack_trials or 1, plan.stack_exact_only, device, small.num_classes,
                           small.val_rows, 2 * small.val_rows, plan.objective, plan.heartbeat)
    if not any(p.stacked for p in cost.to_run()):
        return
    for w in workloads:
        if w.shape in cost.calibrations and w.shape not in cost.stack_rates:
            rate = stacked_rate(synthetic_split(w, device), replace(calibration_config(w.config), model=w.shape.model),
                                members, device)
            if rate is not None:
                cost.stack_rates[w.shape] = rate
