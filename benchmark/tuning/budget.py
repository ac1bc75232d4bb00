"""The budget every pair of a run gets alike, and how much of it a pair's study has spent.

A pair's budget of ``trials`` is ``trials`` *slots*, numbered 0..trials-1. Every trial the loop runs
takes a slot when it starts (user attribute ``slot``; in trial-number order, the lowest slot no other
trial holds) and its configuration is a function of the slot alone (:mod:`benchmark.tuning.study`),
so slot k is the same configuration whichever trial number, worker or run ends up running it. A
trial holds its slot while it runs and, once finished, for good; the trials that count are the slots'
holders. Three kinds of trial hold no slot: one refused because every slot was taken ("over budget"),
one released before any work so that an earlier slot could be run first ("released"), and one the
run's own stop interrupted ("interrupted": Ctrl-C or SIGTERM, a run killed as a whole, a machine
lost, found by a resumed run): that is the run's misfortune, never the method's, so its slot is free
again, whatever the number of times, and the next trial re-runs the same configuration.

A trial whose worker process died while its run went on ("worker died": the run's pool saw the
process end, or another worker of the live run found it gone) is what an out-of-memory kill of one
configuration looks like. So that such a configuration cannot retry forever, a slot's first
``RETRIES_PER_SLOT`` worker deaths are forgiven (the slot is run again); a later one holds the slot,
counted as failed. The two kinds carry distinct reasons, so :class:`Spent` and the report count them
apart.

What a study spent is one typed record, :class:`Spent`, stored as JSON in the pair's row and read
back with :meth:`Spent.from_record` (rows written before a field existed read it as its default). The
cost of a leaderboard row in device-seconds is :func:`row_cost_seconds`.

Time caps are measured from the trials themselves, so they hold across workers, machines and resumed
runs: wall-clock seconds are the union of the trials' intervals (pauses between runs do not count),
device-seconds their sum.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from benchmark.protocol import Budget

OVER_BUDGET = "over budget"
INTERRUPTED = "interrupted"  # the run stopped (signal, whole run killed, machine lost): never charged
WORKER_DIED = "worker died"  # its worker died while the run went on: forgiven RETRIES_PER_SLOT times
RELEASED = "released"
SLOT = "slot"  # user attribute: the budget slot (and so the configuration) a trial runs
RUN = "run"  # user attribute: the process whose end is the run's end (benchmark.store.liveness.run_id)
# Worker deaths of one slot forgiven before the next one counts as a failure. Kills of the run never
# count here, so only a worker's own deaths do: one or two may be a neighbour's doing (the kernel's
# out-of-memory killer picks the largest process, not the guilty one); a configuration that kills its
# worker every time is charged on its third.
RETRIES_PER_SLOT = 2


def failure_reason(t: FrozenTrial) -> str:
    """A failed trial's reason; Optuna's heartbeat check fails lost workers' trials without one."""
    return t.user_attrs.get("failure") or f"{INTERRUPTED}: its worker stopped sending heartbeats"


def interrupted(t: FrozenTrial) -> bool:
    """Interrupted by the run's own stop: never charged (its slot runs again)."""
    return t.state == TrialState.FAIL and failure_reason(t).startswith(INTERRUPTED)


def worker_died(t: FrozenTrial) -> bool:
    """Its worker died while the run went on: charged once its slot's retries are used up."""
    return t.state == TrialState.FAIL and failure_reason(t).startswith(WORKER_DIED)


def never_ran(t: FrozenTrial) -> bool:
    """Refused over budget or released before any work: such a trial never held a slot."""
    return t.state == TrialState.FAIL and failure_reason(t).startswith((OVER_BUDGET, RELEASED))


def slots(trials: Iterable[FrozenTrial]) -> list[tuple[FrozenTrial, int | None, bool]]:
    """Each trial in number order with its slot (None: none) and whether it holds that slot.

    A study written before slots were recorded (no trial has the attribute) gets them replayed in
    number order by the same rule. Interruptions stored before the two kinds were told apart all read
    as the run's ("interrupted"), so none of them is charged."""
    ordered = sorted(trials, key=lambda t: t.number)
    legacy = not any(SLOT in t.user_attrs for t in ordered)
    forgiven: dict[int, int] = {}
    free: list[int] = []  # legacy replay: slots whose holder was interrupted, lowest first
    fresh = 0
    out = []
    for t in ordered:
        slot = t.user_attrs.get(SLOT)
        if never_ran(t) or (slot is None and not legacy):
            out.append((t, None, False))
            continue
        if legacy:
            if free:
                slot = free.pop(0)
            else:
                slot, fresh = fresh, fresh + 1
        holds = not interrupted(t)
        if holds and worker_died(t) and forgiven.get(slot, 0) < RETRIES_PER_SLOT:
            forgiven[slot] = forgiven.get(slot, 0) + 1
            holds = False
        if not holds and legacy:
            free = sorted([*free, slot])
        out.append((t, slot, holds))
    return out


def slot_holders(trials: Iterable[FrozenTrial], budget: int) -> dict[int, FrozenTrial]:
    """The trial holding each slot below ``budget`` (the first by number, should two claim one)."""
    holders: dict[int, FrozenTrial] = {}
    for t, slot, holds in slots(trials):
        if holds and slot is not None and slot < budget:
            holders.setdefault(slot, t)
    return holders


def charged_trials(trials: Iterable[FrozenTrial], budget: int) -> list[FrozenTrial]:
    """Of a study's ``trials``, those that use the pair's budget (the slots' holders), in slot order:
    at most ``budget``. Tuning spends the budget by this rule and the report's tuning history shows
    exactly these trials, so an interrupted and resumed run shows the history of an uninterrupted one."""
    holders = slot_holders(trials, budget)
    return [holders[s] for s in sorted(holders)]


def budget_trials(study: optuna.Study, budget: int) -> list[FrozenTrial]:
    """The trials of ``study`` that use the pair's budget (see :func:`charged_trials`)."""
    return charged_trials(study.get_trials(deepcopy=False), budget)


def open_slot(before: Iterable[FrozenTrial], budget: int) -> int | None:
    """The slot of a trial just asked for, given the trials numbered before it (each of which has
    taken its slot or finished): the lowest slot none of them holds, or None when all are taken (the
    trial is refused). A slot whose holder is later found interrupted frees, and the next trial
    asked for takes it."""
    held = slot_holders(before, budget)
    return next((s for s in range(budget) if s not in held), None)


STARTED = "started"  # user attribute: when the trial began its work, after waiting for its slot and history


def _interval(t: FrozenTrial, now: dt.datetime) -> tuple[dt.datetime, dt.datetime] | None:
    """When the trial worked: from the end of its waiting (if recorded) to its end."""
    start = dt.datetime.fromisoformat(t.user_attrs[STARTED]) if STARTED in t.user_attrs else t.datetime_start
    if start is None:
        return None
    return start, max(start, t.datetime_complete or now)


def wall_seconds(intervals: list[tuple[dt.datetime, dt.datetime]]) -> float:
    """Length of the union of time intervals: the wall-clock time during which any trial ran."""
    total, end = 0.0, None
    for start, stop in sorted(intervals):
        if end is None or start > end:
            total += (stop - start).total_seconds()
            end = stop
        elif stop > end:
            total += (stop - end).total_seconds()
            end = stop
    return total


@dataclass(frozen=True)
class Spent:
    """What a pair's study was charged: its budget's trials by outcome, their compute and time, and the
    trials run again uncharged. Stored as JSON in the pair's row (:meth:`record`) and read back with
    :meth:`from_record`, which also reads rows written before a field existed."""

    trials: int = 0  # slots held (charged trials), running ones included
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    running: int = 0
    seconds: float = 0.0  # device-seconds: the sum of the charged trials' working intervals
    wall_seconds: float = 0.0  # the union of those intervals
    epochs: int = 0
    samples: int | None = None  # training samples (deep engine; None where no trial trains in epochs)
    steps: int | None = None  # optimiser steps (likewise)
    failures: tuple[str, ...] = ()  # the charged failures' distinct reasons
    interrupted: int = 0  # trials the run's own stops interrupted: run again, never charged
    worker_deaths: int = 0  # trials whose worker died while the run went on (charged ones also in failed)
    stopped_by: str | None = None  # why no further trial may start (see stop_reason)

    @property
    def finished(self) -> int:
        """Charged trials that have ended."""
        return self.trials - self.running

    def record(self) -> dict[str, Any]:
        """The JSON form stored in the pair's row."""
        return {**asdict(self), "failures": list(self.failures)}

    @classmethod
    def from_record(cls, record: Any) -> Spent:
        """The record stored in a pair's row (``{}`` for a pair that never tuned; an older row lacks the
        newer fields, which read as their defaults). Stored data is input: a value of the wrong type
        reads as the field's default, and unknown keys are left out."""
        if not isinstance(record, Mapping):
            return cls()
        values: dict[str, Any] = {}
        for f in fields(cls):
            if record.get(f.name) is None:
                continue
            value = record[f.name]
            try:
                if f.name == "failures":
                    values[f.name] = tuple(str(v) for v in value) if isinstance(value, list | tuple) else ()
                elif f.name == "stopped_by":
                    values[f.name] = str(value)
                elif f.name in ("seconds", "wall_seconds"):
                    values[f.name] = float(value)
                else:
                    values[f.name] = int(value)
            except (TypeError, ValueError):
                continue
        return cls(**values)


def spent(study: optuna.Study, budget: Budget, every: list[FrozenTrial] | None = None) -> Spent:
    """The budget a pair has used: trials by outcome, device and wall-clock seconds, epochs, failures.
    ``every``: the study's trials as just read (None: read them)."""
    every = study.get_trials(deepcopy=False) if every is None else every
    trials = charged_trials(every, budget.trials)
    now = dt.datetime.now()  # Optuna stores naive local times
    intervals = [i for t in trials if (i := _interval(t, now)) is not None]
    used = Spent(
        trials=len(trials),
        complete=sum(t.state == TrialState.COMPLETE for t in trials),
        pruned=sum(t.state == TrialState.PRUNED for t in trials),
        failed=sum(t.state == TrialState.FAIL for t in trials),
        running=sum(t.state == TrialState.RUNNING for t in trials),
        seconds=round(sum((b - a).total_seconds() for a, b in intervals), 3),
        wall_seconds=round(wall_seconds(intervals), 3),
        epochs=sum(int(t.user_attrs.get("epochs", 0)) for t in trials),
        samples=_total(trials, "samples"),
        steps=_total(trials, "steps"),
        failures=tuple(sorted({failure_reason(t) for t in trials if t.state == TrialState.FAIL})),
        interrupted=sum(interrupted(t) for t in every),
        worker_deaths=sum(worker_died(t) for t in every),
    )
    return replace(used, stopped_by=stop_reason(used, budget))


def _total(trials: list[FrozenTrial], attr: str) -> int | None:
    values = [int(t.user_attrs[attr]) for t in trials if attr in t.user_attrs]
    return sum(values) if values else None


def stop_reason(used: Spent, budget: Budget) -> str | None:
    """Why no further trial may start: 'trials', 'timeout', 'device_seconds', or None."""
    if used.trials >= budget.trials:
        return "trials"
    if budget.timeout is not None and used.wall_seconds >= budget.timeout:
        return "timeout"
    if budget.device_seconds is not None and used.seconds >= budget.device_seconds:
        return "device_seconds"
    return None


def time_left(used: Spent, budget: Budget) -> float | None:
    """Seconds a trial starting now may run before a time cap is reached (None: no cap)."""
    left = [cap - value for cap, value in ((budget.timeout, used.wall_seconds), (budget.device_seconds, used.seconds))
            if cap is not None]
    return min(left) if left else None


# -- the cost of a leaderboard row -------------------------------------------------------------------
GENERATOR_CACHED_SECONDS = "generator_cached_seconds"  # timings key: a reused generator's training time


def rerun_seconds(timings: Mapping[str, Any]) -> float:
    """Device-seconds charged to one seed re-run: its total time, plus the training time of a generator
    it took from the cache instead of training (a user without that cache would pay it)."""
    return float(timings.get("total_seconds") or 0.0) + float(timings.get(GENERATOR_CACHED_SECONDS) or 0.0)


def row_cost_seconds(tuning: Iterable[Spent], reruns: Iterable[Mapping[str, Any]]) -> float:
    """Device-seconds a leaderboard row cost: what its studies spent tuning (one per split seed) plus
    each seed re-run's charge (:func:`rerun_seconds`, given the re-runs' timings)."""
    return sum(s.seconds for s in tuning) + sum(rerun_seconds(t) for t in reruns)
