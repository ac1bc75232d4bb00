"""The budget every pair of a run gets alike, and how much of it a pair's study has spent.

The trials that count are the study's first ``trials`` trials in number order, whoever ran them, less
those refused and those interrupted: a trial asked for once the budget is taken is refused before any
work ("over budget"), and a trial whose worker was stopped (Ctrl-C, a killed process, a lost machine)
is the run's misfortune, not the method's, so it is run again rather than charged to the method. So
that a method whose trials kill their worker (the kernel's out-of-memory killer looks like any other
SIGKILL) cannot retry forever, at most ``trials`` interruptions per pair are forgiven; later ones count.

Time caps are measured from the trials themselves, so they hold across workers, machines and resumed
runs: wall-clock seconds are the union of the trials' intervals (pauses between runs do not count),
device-seconds their sum.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from benchmark.protocol import Budget

OVER_BUDGET = "over budget"
INTERRUPTED = "interrupted"


def failure_reason(t: FrozenTrial) -> str:
    """A failed trial's reason; Optuna's heartbeat check fails lost workers' trials without one."""
    return t.user_attrs.get("failure") or f"{INTERRUPTED}: its worker stopped sending heartbeats"


def interrupted(t: FrozenTrial) -> bool:
    return t.state == TrialState.FAIL and failure_reason(t).startswith(INTERRUPTED)


def _charged(trials: Iterable[FrozenTrial], budget: int) -> list[tuple[FrozenTrial, bool]]:
    """Each trial in number order with whether it uses the budget (see the module's docstring)."""
    forgiven, out = 0, []
    for t in sorted(trials, key=lambda t: t.number):
        if t.state == TrialState.FAIL and t.user_attrs.get("failure") == OVER_BUDGET:
            out.append((t, False))
        elif interrupted(t) and forgiven < budget:
            forgiven += 1
            out.append((t, False))
        else:
            out.append((t, True))
    return out


def charged_trials(trials: Iterable[FrozenTrial], budget: int) -> list[FrozenTrial]:
    """Of a study's ``trials``, those that use the pair's budget, in number order: at most ``budget``.
    Tuning spends the budget by this rule and the report's tuning history shows exactly these trials."""
    return [t for t, charged in _charged(trials, budget) if charged][:budget]


def budget_trials(study: optuna.Study, budget: int) -> list[FrozenTrial]:
    """The trials of ``study`` that use the pair's budget (see :func:`charged_trials`)."""
    return charged_trials(study.get_trials(deepcopy=False), budget)


def within_budget(study: optuna.Study, number: int, budget: int) -> bool:
    """Whether trial ``number``, just asked for, has a slot: fewer than ``budget`` trials before it use
    the budget. A trial still running counts, so two workers never share the last slot; if it is later
    found interrupted, its slot frees and the next trial asked for takes it."""
    before = [t for t in study.get_trials(deepcopy=False) if t.number < number]
    return sum(charged for _, charged in _charged(before, budget)) < budget


def _interval(t: FrozenTrial, now: dt.datetime) -> tuple[dt.datetime, dt.datetime] | None:
    if t.datetime_start is None:
        return None
    return t.datetime_start, t.datetime_complete or now


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


def spent(study: optuna.Study, budget: Budget) -> dict[str, Any]:
    """The budget a pair has used: trials by outcome, device and wall-clock seconds, epochs, failures."""
    every = study.get_trials(deepcopy=False)
    trials = charged_trials(every, budget.trials)
    now = dt.datetime.now()  # Optuna stores naive local times
    intervals = [i for t in trials if (i := _interval(t, now)) is not None]
    count = {s: sum(t.state == s for t in trials) for s in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)}
    used = {
        "trials": len(trials),
        "complete": count[TrialState.COMPLETE],
        "pruned": count[TrialState.PRUNED],
        "failed": count[TrialState.FAIL],
        "running": sum(t.state == TrialState.RUNNING for t in trials),
        "seconds": round(sum((b - a).total_seconds() for a, b in intervals), 3),  # device-seconds
        "wall_seconds": round(wall_seconds(intervals), 3),
        "epochs": sum(int(t.user_attrs.get("epochs", 0)) for t in trials),
        "failures": sorted({failure_reason(t) for t in trials if t.state == TrialState.FAIL}),
        "interrupted": sum(interrupted(t) for t in every),  # run again, not charged
    }
    used["stopped_by"] = stop_reason(used, budget)
    return used


def stop_reason(used: dict[str, Any], budget: Budget) -> str | None:
    """Why no further trial may start: 'trials', 'timeout', 'device_seconds', or None."""
    if used["trials"] >= budget.trials:
        return "trials"
    if budget.timeout is not None and used["wall_seconds"] >= budget.timeout:
        return "timeout"
    if budget.device_seconds is not None and used["seconds"] >= budget.device_seconds:
        return "device_seconds"
    return None


def time_left(used: dict[str, Any], budget: Budget) -> float | None:
    """Seconds a trial starting now may run before a time cap is reached (None: no cap)."""
    left = [cap - used[key] for cap, key in ((budget.timeout, "wall_seconds"), (budget.device_seconds, "seconds"))
            if cap is not None]
    return min(left) if left else None
