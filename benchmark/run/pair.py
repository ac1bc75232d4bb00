"""The life of one (dataset, method) pair, the steps both executors call.

prepare (the dataset's split once, the pairs that still need work, "not applicable" and "data
unavailable" recorded) -> start -> tune (:func:`benchmark.tuning.trials.run_trials`, shared by every
worker through the study) -> finish tuning (once no trial of the budget runs anywhere: the budget spent
and the best parameters) -> re-run the best configuration for each seed (claimed row by row in the
store, refreshed by a heartbeat while it trains) and score the test split -> finish (once every seed row
is final, by whichever worker finishes last). The test split is read only by :func:`rerun_seed`.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, replace
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from benchmark.datasets.base import Dataset, Split
from benchmark.datasets.scenarios import split_name
from benchmark.errors import BenchmarkError, DataUnavailableError, ResourceUnavailableError, describe_failure
from benchmark.methods import method_registry
from benchmark.metrics import compute_metrics
from benchmark.run.plan import RunPlan
from benchmark.run.progress import SKIPPED, Progress
from benchmark.store import Store
from benchmark.store.full_disk import disk_full_as_error
from benchmark.store.liveness import beating
from benchmark.store.predictions import Predictions, save_predictions
from benchmark.store.provenance import provenance
from benchmark.store.status import (
    COMPLETE,
    DATA_ERROR,
    DATA_UNAVAILABLE,
    FAILED,
    FINAL_PAIR_STATES,
    NOT_APPLICABLE,
    OK,
    RE_RUNNING,
    RESOURCE_UNAVAILABLE,
    RUNNING,
    TUNING,
)
from benchmark.training.base import TrainingConfig
from benchmark.tuning.budget import spent
from benchmark.tuning.job import PairJob, split_label
from benchmark.tuning.study import best_trial, trial_params, wait_for_trials
from benchmark.tuning.trials import release_device_memory, run_trials

RE_RUNNING_ELSEWHERE = "re-running elsewhere"  # progress status: another worker finishes the pair's seeds


def prepare_dataset(plan: RunPlan, store: Store, dataset_name: str, device: str,
                    progress: Progress) -> list[PairJob]:
    """The jobs of one dataset's pairs that still need work, on every split seed of the run; pairs
    found final, not applicable or without (readable) data are recorded (and reported) here."""
    jobs = []
    with disk_full_as_error(plan.storage):  # a full disk under the store: one line, not a traceback
        for split_seed in range(plan.split_seeds):
            jobs += prepare_split(plan, store, dataset_name, split_seed, device, progress)
    return jobs


def prepare_split(plan: RunPlan, store: Store, dataset_name: str, split_seed: int, device: str,
                  progress: Progress) -> list[PairJob]:
    """The jobs of one dataset's pairs on one split seed (see :func:`prepare_dataset`)."""
    asked = plan.pair_budget(dataset_name)
    suite = plan.suite
    label = split_label(dataset_name, split_seed)
    todo = []
    for method_name in plan.methods:
        row = store.get_pair(suite.name, dataset_name, method_name, split_seed=split_seed)
        check_pair_budget(row, asked, suite.name, dataset_name, method_name, split_seed)
        if row is not None and row.status in FINAL_PAIR_STATES:
            progress.on_pair(label, method_name, f"{SKIPPED} ({row.status})")
            continue
        todo.append(method_name)
    if not todo:
        return []
    entry = plan.dataset_entry(dataset_name)  # registered, or read from a file
    try:
        split = entry.load(plan.data_root, split_seed)
    except Exception as exc:  # noqa: BLE001 - whatever a loader raises fails only this dataset's pairs
        # Absent files may appear later, damaged ones may be repaired: both are retried by the next run.
        status = DATA_UNAVAILABLE if isinstance(exc, DataUnavailableError) else DATA_ERROR
        reason = str(exc) if isinstance(exc, BenchmarkError) else (
            f"dataset '{dataset_name}': loading failed: {describe_failure(exc)}")
        for method_name in todo:
            store.update_pair(suite.name, dataset_name, method_name, split_seed=split_seed, status=status,
                              reason=reason, budget=asked)
            progress.on_pair(label, method_name, status)
        return []
    base_config = suite.training_for(dataset_name, split.modality)
    jobs = []
    for method_name in todo:
        method = method_registry.get(method_name)
        engine = suite.engine_for(split.modality, method.engines)
        config = model_config(base_config, entry.default_model, engine)
        status, reason = applicability(method, split, engine, config)
        if reason:
            store.update_pair(suite.name, dataset_name, method_name, split_seed=split_seed, status=status,
                              reason=reason, budget=asked, engine=engine)
            progress.on_pair(label, method_name, status)
            continue
        jobs.append(PairJob(suite=suite.name, dataset=dataset_name, method=method, split=split, engine=engine,
                            config=config, budget=plan.budget,
                            objective=plan.objective, tune=suite.tune, device=device, pruner=plan.pruner,
                            split_seed=split_seed, sampler_seed=split_seed, stack=plan.options.stack_trials,
                            stack_exact_only=plan.stack_exact_only, commit=plan.commit, width=suite.tuning_width,
                            prior_shift=suite.rescores_prior_shift and split_name(dataset_name)[1] is None))
    return jobs


def check_pair_budget(row: Any, asked: dict[str, Any], suite: str, dataset: str, method: str, split_seed: int) -> None:
    """A pair stored with another budget than this run asks for is refused, before any work on it."""
    if row is not None and row.budget and row.budget != asked:
        raise BenchmarkError(
            f"pair {dataset} x {method} (split seed {split_seed}) of suite '{suite}' is stored "
            f"with budget {row.budget}; this run asks for {asked}",
            "run with the original --trials/--seeds/--timeout/--objective/--pruner to resume, "
            "or use another --storage",
        )


def applicability(method: Any, split: Split, engine: str, config: TrainingConfig) -> tuple[str, str | None]:
    """(status, reason) of a pair the method cannot run: not applicable, or a resource it needs is missing
    (retried by the next run); reason None when it runs. The run records it; ``--plan`` lists it."""
    try:
        return NOT_APPLICABLE, method.not_applicable_reason(split, engine, config)
    except ResourceUnavailableError as exc:
        return RESOURCE_UNAVAILABLE, str(exc)


def model_config(config: TrainingConfig, default_model: dict[str, str], engine: str) -> TrainingConfig:
    """The suite's settings, with the dataset's default backbone where the suite names none."""
    if engine == "deep" and config.model is None and default_model.get("deep"):
        return replace(config, model=default_model["deep"])
    return config


def run_pair(job: PairJob, store: Store, storage: optuna.storages.BaseStorage, plan: RunPlan,
             progress: Progress) -> str:
    """Tune one pair within its budget, then re-run the best configuration for every seed. A full disk
    under the store ends the run with one line (the trial or seed in flight is re-run on resume)."""
    with disk_full_as_error(plan.storage):
        return _run_pair(job, store, storage, plan, progress)


def _run_pair(job: PairJob, store: Store, storage: optuna.storages.BaseStorage, plan: RunPlan,
              progress: Progress) -> str:
    start_pair(job, store, plan)

    def on_trial(study: optuna.Study, trials: list[FrozenTrial] | None = None) -> None:
        trials = study.get_trials(deepcopy=False) if trials is None else trials  # one read for both figures
        best = best_trial(study, job.budget, trials)
        progress.on_trial(job.label, job.method.name, spent(study, job.budget, trials), best.value if best else None)

    def on_wait(message: str) -> None:
        progress.on_wait(job.label, job.method.name, message)

    study = run_trials(job, storage, on_trial, on_wait)
    best = finish_tuning(job, store, study, on_wait)
    on_trial(study)  # the final count, with the trials other workers ran
    if best is None:
        return FAILED
    rerun_seeds(job, store, best, range(job.budget.seeds), plan.heartbeat, progress)
    return finish_pair(job, store)


def start_pair(job: PairJob, store: Store, plan: RunPlan) -> None:
    store.update_pair(job.suite, job.dataset, job.method.name, split_seed=job.split_seed, status=TUNING,
                      engine=job.engine, study_name=job.study_name, budget=plan.pair_budget(job.dataset),
                      info=split_record(job.split, plan.file_datasets.get(job.dataset)))


def split_record(split: Split, file_entry: Dataset | None = None) -> dict[str, Any]:
    """What a pair stores about its split, so that a report built from the store alone has the
    dataset card (class counts per part, names, imbalance ratio, minority classes) and can tell
    results of different splits apart (seed and fingerprint). A dataset read from a file (the suite
    file's, ``--datasets file:``) is in no registry: its card is stored too (:func:`file_card`)."""
    summary = split.summary()
    return {"split_fingerprint": summary["fingerprint"], "split_seed": split.info.get("split_seed"),
            **{key: summary[key] for key in ("class_names", "class_counts", "imbalance_ratio", "minority_classes")},
            **({"duplicates": summary["duplicates"]} if "duplicates" in summary else {}),
            **({"unlabeled": summary["unlabeled"]} if "unlabeled" in summary else {}),  # the pool's record, no rows
            **({"dataset_card": file_card(file_entry, split)} if file_entry is not None else {})}


def file_card(entry: Dataset, split: Split) -> dict[str, Any]:
    """The card of a dataset read from a file, as its report shows it: where it lies, the SHA-256 of its
    content (the table's bytes; for an image folder, of every image's size and SHA-256 in order), rows,
    classes, imbalance, duplicates, modality and the options it was read with."""
    sources = entry.source_record(None)
    digest = sources[0][2] if len(sources) == 1 else hashlib.sha256(json.dumps(sources).encode()).hexdigest()
    rows = sum(sum(split.class_counts(part)) for part in ("train", "val", "test"))
    return {"spec": getattr(entry, "spec", ""), "path": entry.params.get("path", entry.source),
            "sha256": digest, "files": len(sources), "rows": rows, "classes": split.num_classes,
            "imbalance_ratio": round(split.imbalance_ratio, 3), "modality": entry.modality,
            "description": entry.description, "license": entry.license,
            "duplicates": split.info.get("duplicates"), "options": entry.options_record()
            if hasattr(entry, "options_record") else {}}


def finish_tuning(job: PairJob, store: Store, study: optuna.Study,
                  on_wait: Callable[[str], None] | None = None) -> dict[str, Any] | None:
    """Once no trial of the budget runs anywhere: store the budget spent and the best parameters;
    returns them, or None (the pair failed: no trial completed)."""
    trials = wait_for_trials(study, job.budget, on_wait)
    used = spent(study, job.budget, trials)
    best = best_trial(study, job.budget, trials)
    suite, dataset, method, split_seed = job.suite, job.dataset, job.method.name, job.split_seed
    if best is None:
        reason = "no tuning trial completed: " + ("; ".join(used.failures) or "all were pruned")
        store.update_pair(suite, dataset, method, split_seed=split_seed, status=FAILED, reason=reason,
                          spent=used.record())
        return None
    params = trial_params(best)
    store.update_pair(suite, dataset, method, split_seed=split_seed, status=RE_RUNNING, spent=used.record(),
                      best_params=params, best_value=best.value)
    return params


def rerun_seeds(job: PairJob, store: Store, params: dict[str, Any], seeds: Iterable[int], heartbeat: int,
                progress: Progress) -> None:
    """Re-train the best configuration for each seed this worker can claim, and store the test scores."""
    suite, dataset, method = job.suite, job.dataset, job.method.name
    on_split = {"split_seed": job.split_seed}
    prov = provenance(job.device, commit=job.commit)
    prov.update(budget=job.budget.record(), split_seed=job.split.info.get("split_seed"),
                split_fingerprint=job.split.fingerprint(), engine=job.engine,
                config={k: v for k, v in asdict(job.config).items() if k != "extra"})
    for group in claimed_groups(job, store, seeds):
        try:
            with ExitStack() as claims:
                for seed in group:
                    claims.enter_context(claim_heartbeat(store, (suite, dataset, method, seed), heartbeat,
                                                         job.split_seed))
                outs = rerun_group(job, params, group)
        except KeyboardInterrupt:
            for seed in group:
                store.release_seed(suite, dataset, method, seed, **on_split)
            raise
        except Exception as exc:  # noqa: BLE001 - the group as a whole failed: each seed records why
            outs = [exc] * len(group)
        for seed, out in zip(group, outs, strict=True):
            if isinstance(out, BaseException):
                release_device_memory(job.device)
                store.finish_seed(suite, dataset, method, seed, **on_split, status=FAILED,
                                  reason=describe_failure(out), params=params, provenance=prov)
                progress.on_seed(job.label, method, seed, FAILED)
                continue
            # The predictions first: a kill between the two leaves a claim that is re-run, never an ok row
            # without the predictions its scores came from.
            save_predictions(store, suite, dataset, method, seed, out.pop("predictions"), **on_split)
            store.finish_seed(suite, dataset, method, seed, **on_split, status=OK, reason=None, params=params,
                              provenance=prov, **out)
            progress.on_seed(job.label, method, seed, OK)


def claimed_groups(job: PairJob, store: Store, seeds: Iterable[int]) -> Iterator[list[int]]:
    """The seeds this worker claims, in groups of up to ``job.stack`` (deep engine: trained as one stacked
    model; a seed is claimed only when its group is about to train, so other workers share the rest)."""
    size = job.stack if job.engine == "deep" else 1
    group: list[int] = []
    for seed in seeds:
        if store.claim_seed(job.suite, job.dataset, job.method.name, seed, split_seed=job.split_seed):
            group.append(seed)
        if len(group) == size:
            yield group
            group = []
    if group:
        yield group


def rerun_group(job: PairJob, params: dict[str, Any], seeds: list[int]) -> list[dict[str, Any] | BaseException]:
    """Each seed's scores (:func:`rerun_seed`), or the exception that failed it. Several seeds train as one
    stacked model (:func:`benchmark.training.stacked.fit_many`: on a CPU each the fit it would be alone)."""
    if len(seeds) == 1:
        try:
            return [rerun_seed(job, params, seeds[0])]
        except Exception as exc:  # noqa: BLE001 - recorded as the seed's failure
            return [exc]
    # imported here: it imports torch, which `import benchmark.run` does not need
    from benchmark.training.stacked import fit_many

    t0 = time.perf_counter()
    built = [job.build(params, seed) for seed in seeds]
    models = fit_many(job.split, [r for r, _ in built], [c for _, c in built], seeds, device=job.device,
                      exact_only=job.stack_exact_only)
    outs: list[dict[str, Any] | BaseException] = []
    for model in models:
        try:
            outs.append(model if isinstance(model, BaseException) else score_seed(job, model, t0))
        except Exception as exc:  # noqa: BLE001 - recorded as the seed's failure
            outs.append(exc)
    return outs


def rerun_seed(job: PairJob, params: dict[str, Any], seed: int) -> dict[str, Any]:
    """Train the best configuration with ``seed`` on the training split; score validation and test."""
    t0 = time.perf_counter()
    return score_seed(job, job.fit(params, seed), t0)


def score_seed(job: PairJob, model: Any, t0: float) -> dict[str, Any]:
    """A trained seed re-run's scores on validation and test, its timings (from ``t0``) and artifacts."""
    split = job.split
    train_counts = split.class_counts("train")
    t_pred = time.perf_counter()
    # Scored as stored (float16), so a later metric or a check recomputes these figures from the store.
    # job.prior_shift: the same predictions, the test rows re-weighted to other class priors, as well.
    predictions = Predictions(split.test.y, model.predict_proba(split.test.X), split.minority_classes,
                              train_counts, job.prior_shift)
    test_metrics, per_class = predictions.scores()
    val_metrics, _ = compute_metrics(split.val.y, model.predict_proba(split.val.X), split.minority_classes,
                                     train_counts)
    timings = dict(model.timings)
    timings["predict_seconds"] = time.perf_counter() - t_pred
    timings["total_seconds"] = time.perf_counter() - t0
    artifacts = {"pr_curves": predictions.curves()}
    for key, value in (getattr(model, "artifacts", None) or {}).items():  # generative rows: sample grids, fidelity
        artifacts[key] = value() if callable(value) else value  # computed for seed rows only, never in trials
    adjust = getattr(model, "adjust", None)
    if callable(getattr(adjust, "fitted", None)):  # what a post-hoc step chose on validation (tau, offsets)
        artifacts["fitted"] = adjust.fitted()
    return {"metrics": test_metrics, "val_metrics": val_metrics, "per_class": per_class, "timings": timings,
            "artifacts": artifacts, "predictions": predictions}


@contextmanager
def claim_heartbeat(store: Store, key: tuple[str, str, str, int], interval: float,
                    split_seed: int = 0) -> Iterator[None]:
    """Refresh a seed claim every ``interval`` seconds while the re-run trains."""
    with beating(lambda: store.touch_seed(*key, split_seed=split_seed), interval, "seed-heartbeat"):
        yield


def final_seed_rows(store: Store, job: PairJob) -> list[Any]:
    """The pair's seed rows that are final (ok or failed), whoever ran them."""
    return [r for r in store.seed_rows(job.suite, job.dataset, job.method.name, split_seed=job.split_seed)
            if r.status != RUNNING and r.seed < job.budget.seeds]


def finish_pair(job: PairJob, store: Store) -> str:
    """Complete the pair once every seed row is finished (by whichever worker finishes last)."""
    rows = final_seed_rows(store, job)
    if len(rows) < job.budget.seeds:
        return RE_RUNNING_ELSEWHERE
    status = COMPLETE if any(r.status == OK for r in rows) else FAILED
    reason = None if status == COMPLETE else "every seed re-run failed: " + "; ".join(
        sorted({r.reason or "" for r in rows}))
    store.update_pair(job.suite, job.dataset, job.method.name, split_seed=job.split_seed, status=status,
                      reason=reason)
    return status
