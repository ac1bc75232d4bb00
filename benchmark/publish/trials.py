"""Tuning trials in a bundle: Optuna's studies of a suite as plain JSON, and back into Optuna's tables.

A trial is kept whole (state, value, parameters with their distributions, user and system attributes,
per-epoch reports, times), so that the budget's charging rule (:func:`benchmark.tuning.budget.charged_trials`)
picks the same trials from a bundle as from the store, and a report built from the bundle shows the
same tuning histories and the same results hash. Only split seed 0's studies are published: the
dataset pages draw those, and the other splits' trials would multiply the bundle's size.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterable
from typing import Any

from sqlalchemy import inspect

from benchmark.store import Store
from benchmark.store.studies import parse_study_name, suite_study_names


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def trial_record(trial: Any) -> dict[str, Any]:
    """One Optuna trial as JSON."""
    from optuna.distributions import distribution_to_json

    return {"number": trial.number, "state": trial.state.name, "values": trial.values, "params": trial.params,
            "distributions": {k: distribution_to_json(d) for k, d in trial.distributions.items()},
            "user_attrs": trial.user_attrs, "system_attrs": trial.system_attrs,
            "intermediate_values": {str(k): v for k, v in sorted(trial.intermediate_values.items())},
            "datetime_start": _iso(trial.datetime_start), "datetime_complete": _iso(trial.datetime_complete)}


def study_records(store: Store, suite: str, split_seeds: Iterable[int] | None = None) -> list[dict[str, Any]]:
    """The studies of ``suite`` (those of ``split_seeds``; all when None) with their trials, by name."""
    if not inspect(store.engine).has_table("studies"):
        return []
    import optuna

    storage = optuna.storages.RDBStorage(store.url, skip_table_creation=True)
    wanted = None if split_seeds is None else set(split_seeds)
    records = []
    for name, key in sorted(suite_study_names(storage, suite).items()):
        if wanted is not None and key.split_seed not in wanted:
            continue
        study_id = storage.get_study_id_from_name(name)
        records.append({"study_name": name,
                        "directions": [d.name for d in storage.get_study_directions(study_id)],
                        "user_attrs": storage.get_study_user_attrs(study_id),
                        "system_attrs": storage.get_study_system_attrs(study_id),
                        "trials": [trial_record(t) for t in storage.get_all_trials(study_id, deepcopy=False)]})
    return records


def _date(value: Any) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else None


def frozen_trial(record: dict[str, Any]) -> Any:
    """A trial record back as Optuna's FrozenTrial (a malformed record raises ValueError, TypeError or KeyError)."""
    from optuna.distributions import json_to_distribution
    from optuna.trial import FrozenTrial, TrialState

    values = record.get("values")
    if values is not None and (not isinstance(values, list) or not all(isinstance(v, int | float) for v in values)):
        raise ValueError(f"values {values!r} are not numbers")
    return FrozenTrial(number=int(record["number"]), state=TrialState[record["state"]], value=None,
                       values=values, datetime_start=_date(record.get("datetime_start")),
                       datetime_complete=_date(record.get("datetime_complete")), params=dict(record["params"]),
                       distributions={k: json_to_distribution(v) for k, v in record["distributions"].items()},
                       user_attrs=dict(record["user_attrs"]), system_attrs=dict(record["system_attrs"]),
                       intermediate_values={int(k): v for k, v in record["intermediate_values"].items()}, trial_id=0)


def load_studies(url: str, records: list[dict[str, Any]]) -> None:
    """Create each study and its trials (in number order) in the Optuna tables at ``url``. A record that
    is not a study of this benchmark, or a malformed trial, raises ValueError naming it."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        storage = optuna.storages.RDBStorage(url)
    for study in records:
        name = study.get("study_name") if isinstance(study, dict) else None
        if not isinstance(name, str) or parse_study_name(name) is None:
            raise ValueError(f"study {name!r} is not a study name of this benchmark (suite::dataset::method)")
        try:
            directions = [optuna.study.StudyDirection[d] for d in study["directions"]]
            trials = [frozen_trial(t) for t in sorted(study["trials"], key=lambda t: t["number"])]
            study_id = storage.create_new_study(directions, name)
            for key, value in dict(study.get("user_attrs") or {}).items():
                storage.set_study_user_attr(study_id, key, value)
            for key, value in dict(study.get("system_attrs") or {}).items():
                storage.set_study_system_attr(study_id, key, value)
            insert_trials(storage, study_id, trials)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"study {name}: a trial or setting is malformed ({type(exc).__name__}: {exc})") from None
    storage.engine.dispose()


def insert_trials(storage: Any, study_id: int, trials: list[Any]) -> None:
    """Write finished ``trials`` (FrozenTrials in number order) into a new study's tables in one transaction.

    What Optuna's ``create_new_trial(template_trial=...)`` stores for each, row for row (the same value
    encodings, numbers 0..n-1 in order, a parameter's distribution checked against the study's earlier
    ones), in bulk: Optuna looks each trial and each of its 20-30 per-epoch values up again as it writes
    them, about 30 ms a trial, which made reading a suite's bundle take minutes. Uses Optuna's table
    models (``optuna.storages._rdb.models``), as :mod:`benchmark.tuning.writes` does; a test compares the
    result with Optuna's own path.
    """
    import json

    from optuna.distributions import check_distribution_compatibility, distribution_to_json
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session
    from sqlalchemy import insert

    seen: dict[str, Any] = {}
    with _create_scoped_session(storage.scoped_session) as session:
        rows = [models.TrialModel(study_id=study_id, number=number, state=t.state, datetime_start=t.datetime_start,
                                  datetime_complete=t.datetime_complete) for number, t in enumerate(trials)]
        session.add_all(rows)
        session.flush()  # the trials' ids
        values, params, user, system, steps = [], [], [], [], []
        for row, t in zip(rows, trials, strict=True):
            for objective, value in enumerate(t.values or ()):
                stored, kind = models.TrialValueModel.value_to_stored_repr(value)
                values.append({"trial_id": row.trial_id, "objective": objective, "value": stored, "value_type": kind})
            for param, value in t.params.items():
                distribution = t.distributions[param]
                if param in seen:
                    check_distribution_compatibility(seen[param], distribution)
                seen.setdefault(param, distribution)
                params.append({"trial_id": row.trial_id, "param_name": param,
                               "param_value": distribution.to_internal_repr(value),
                               "distribution_json": distribution_to_json(distribution)})
            user += [{"trial_id": row.trial_id, "key": k, "value_json": json.dumps(v)} for k, v in t.user_attrs.items()]
            system += [{"trial_id": row.trial_id, "key": k, "value_json": json.dumps(v)}
                       for k, v in t.system_attrs.items()]
            for step, value in t.intermediate_values.items():
                stored, kind = models.TrialIntermediateValueModel.intermediate_value_to_stored_repr(value)
                steps.append({"trial_id": row.trial_id, "step": step, "intermediate_value": stored,
                              "intermediate_value_type": kind})
        for model, batch in ((models.TrialValueModel, values), (models.TrialParamModel, params),
                             (models.TrialUserAttributeModel, user), (models.TrialSystemAttributeModel, system),
                             (models.TrialIntermediateValueModel, steps)):
            if batch:
                session.execute(insert(model), batch)
