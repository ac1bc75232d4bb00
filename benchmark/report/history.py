"""Tuning histories read from Optuna's studies, which live in the results database beside our rows.

A history shows exactly the trials that tuning charged to the pair's budget
(:func:`benchmark.tuning.budget.charged_trials`): trials refused over budget and interrupted trials
that were run again are left out, as tuning leaves them out.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import inspect

from benchmark.store import Store
from benchmark.store.studies import parse_study_name
from benchmark.tuning.budget import charged_trials


@dataclass
class TuningHistory:
    """The trials of one pair's study: ``trials`` holds ``{"number", "state", "value"}`` dicts."""

    dataset: str
    method: str
    trials: list[dict[str, Any]]
    started: dt.datetime | None = None
    finished: dt.datetime | None = None

    def best_so_far(self) -> list[tuple[int, float]]:
        """(trial number, best validation value among complete trials up to it), for each complete trial."""
        best, points = -math.inf, []
        for t in sorted(self.trials, key=lambda t: t["number"]):
            value = t["value"]
            if t["state"] == "COMPLETE" and value is not None and math.isfinite(value):
                best = max(best, value)
                points.append((t["number"], best))
        return points


def read_histories(store: Store, suite: str, budgets: dict[tuple[str, str], int],
                   problems: list[str]) -> dict[tuple[str, str], TuningHistory]:
    """The tuning history of every study of ``suite`` in the store; ``budgets`` maps a pair to its
    trial budget (trials beyond it were refused, not run). Damage is reported in ``problems``."""
    try:
        if not inspect(store.engine).has_table("studies"):
            return {}  # no Optuna tables: nothing was tuned here (and reading must not create them)
        import optuna

        storage = optuna.storages.RDBStorage(store.url, skip_table_creation=True)
        studies = storage.get_all_studies()
    except Exception as exc:  # an Optuna schema this version cannot read: report without histories
        problems.append(f"tuning histories could not be read from the store: {type(exc).__name__}: {exc}")
        return {}
    histories = {}
    for study in studies:
        parsed = parse_study_name(study.study_name)
        if parsed is None or parsed.suite != suite or parsed.split_seed != 0:
            continue  # the dataset page draws split seed 0's tuning; other splits are tuned alike
        dataset, method = parsed.dataset, parsed.method
        budget = budgets.get((dataset, method))
        try:
            trials = storage.get_all_trials(study._study_id, deepcopy=False)
        except Exception as exc:
            problems.append(f"tuning history of {dataset} x {method} is unreadable: {type(exc).__name__}: {exc}")
            continue
        kept = trials if budget is None else charged_trials(trials, budget)
        starts = [t.datetime_start for t in kept if t.datetime_start]
        ends = [t.datetime_complete for t in kept if t.datetime_complete]
        histories[(dataset, method)] = TuningHistory(
            dataset, method,
            [{"number": t.number, "state": t.state.name, "value": t.value} for t in kept],
            started=min(starts) if starts else None, finished=max(ends) if ends else None,
        )
    return histories
