"""The budget every pair of a run gets alike, and how much of it a pair's study has spent.

A pair's budget of ``trials`` is ``trials`` *slots*, numbered 0..trials-1. Every trial the loop runs
takes a slot when it starts (user attribute ``slot``; in trial-number order, the lowest slot no other
trial holds) and its configuration is a function of the slot alone (:mod:`benchmark.tuning.study`),
so slot k is the same configuration whichever trial number, worker or run ends up running it. A
trial holds its slot while it runs and, once finished, for good; the trials that count are the slots'
holders. Three kinds of trial hold no slot: one refused because every slot was taken ("over budget"),
one released before any work so that an earlier slot could be run first ("released"), and one whose
worker was stopped (Ctrl-C, a killed process, a lost machine): that is the run's misfortune, not the
method's, so its slot is free again and the next trial re-runs the same configuration. So that a
configuration that kills its worker (the kernel's out-of-memory killer looks like any other SIGKILL)
cannot retry forever, a slot's first ``RETRIES_PER_SLOT`` interruptions are forgiven; a later one
holds the slot, counted as failed.

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
RELEASED = "released"
SLOT = "slot"  # user attribute: the budget slot (and so the configuration) a trial runs
# Interruptions of one slot forgiven before the next one counts as a failure: enough that random kills
# of a run (20 in issue 16's check) do not reach it, few enough that a configuration that kills its
# worker every time is charged after a handful of tries.
RETRIES_PER_SLOT = 5


def failure_reason(t: FrozenTrial) -> str:
    """A failed trial's reason; Optuna's heartbeat check fails lost workers' trials without one."""
    return t.user_attrs.get("failure") or f"{INTERRUPTED}: its worker stopped sending heartbeats"


def interrupted(t: FrozenTrial) -> bool:
    return t.state == TrialState.FAIL and failure_reason(t).startswith(INTERRUPTED)


def never_ran(t: FrozenTrial) -> bool:
    """Refused over budget or released before any work: such a trial never held a slot."""
    return t.state == TrialState.FAIL and failure_reason(t).startswith((OVER_BUDGET, RELEASED))


def slots(trials: Iterable[FrozenTrial]) -> list[tuple[FrozenTrial, int | None, bool]]:
    """Each trial in number order with its slot (None: none) and whether it holds that slot.

    A study written before slots were recorded (no trial has the attribute) gets them replayed in
    number order by the same rule, so its budget reads as it did then."""
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
        holds = True
        if interrupted(t) and forgiven.get(slot, 0) < RETRIES_PER_SLOT:
            forgiven[slot] = forgiven.get(slot, 0) + 1
            holds = False
            if legacy:
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
        # training samples and optimiser steps (deep engine; None where no trial trains in epochs)
        "samples": _total(trials, "samples"),
        "steps": _total(trials, "steps"),
        "failures": sorted({failure_reason(t) for t in trials if t.state == TrialState.FAIL}),
        "interrupted": sum(interrupted(t) for t in every),  # run again, not charged
    }
    used["stopped_by"] = stop_reason(used, budget)
    return used


def _total(trials: list[FrozenTrial], attr: str) -> int | None:
    values = [int(t.user_attrs[attr]) for t in trials if attr in t.user_attrs]
    return sum(values) if values else None


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
