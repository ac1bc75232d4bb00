"""A bundle's trials load in bulk exactly as Optuna's own ``create_new_trial`` would store them."""

from __future__ import annotations

import math

import optuna
import pytest

from benchmark.publish.trials import frozen_trial, load_studies, study_records, trial_record
from benchmark.store import Store

NAME = "smoke::keel-yeast3::smote"


def _records() -> list[dict]:
    """Trials of every kind a study holds: complete, pruned with rungs, failed, an infinite and a NaN step."""
    study = optuna.create_study(direction="maximize")
    dists = {"lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True),
             "k": optuna.distributions.IntDistribution(1, 9),
             "kind": optuna.distributions.CategoricalDistribution(["a", "b", None])}
    states = [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL,
              optuna.trial.TrialState.COMPLETE]
    for i, state in enumerate(states):
        steps = {0: 0.1 * i, 1: float("inf") if i == 1 else 0.2, 2: float("nan") if i == 3 else 0.3}
        study.add_trial(optuna.trial.create_trial(
            state=state, value=0.5 + i / 10 if state == optuna.trial.TrialState.COMPLETE else None,
            params={"lr": 10 ** -(i + 1), "k": i + 1, "kind": [None, "a", "b", "a"][i]}, distributions=dists,
            user_attrs={"epochs": 30 + i, "val_metrics": {"f1": 0.4, "recall": [1, 2]}},
            system_attrs={"slot": i}, intermediate_values=steps))
    return [{"study_name": NAME, "directions": ["MAXIMIZE"], "user_attrs": {"charged": 4}, "system_attrs": {},
             "trials": [trial_record(t) for t in study.get_trials(deepcopy=False)]}]


def _loaded_with_optuna(url: str, records: list[dict]) -> None:
    storage = optuna.storages.RDBStorage(url)
    for study in records:
        study_id = storage.create_new_study([optuna.study.StudyDirection.MAXIMIZE], study["study_name"])
        for key, value in study["user_attrs"].items():
            storage.set_study_user_attr(study_id, key, value)
        for record in study["trials"]:
            storage.create_new_trial(study_id, template_trial=frozen_trial(record))
    storage.engine.dispose()


def _same(a, b) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


def test_bulk_load_stores_what_optunas_path_stores(tmp_path):
    records = _records()
    bulk, reference = Store(f"sqlite:///{tmp_path / 'bulk.db'}"), Store(f"sqlite:///{tmp_path / 'ref.db'}")
    load_studies(bulk.url, records)
    _loaded_with_optuna(reference.url, records)
    got, want = study_records(bulk, "smoke"), study_records(reference, "smoke")
    assert [s["study_name"] for s in got] == [NAME] and got[0]["user_attrs"] == {"charged": 4}
    assert len(got[0]["trials"]) == 4
    for mine, theirs in zip(got[0]["trials"], want[0]["trials"], strict=True):
        assert mine.keys() == theirs.keys()
        for key in mine:
            if key == "intermediate_values":
                assert mine[key].keys() == theirs[key].keys()
                assert all(_same(mine[key][s], theirs[key][s]) for s in mine[key]), key
            else:
                assert mine[key] == theirs[key], key
    assert got[0]["trials"][1]["intermediate_values"]["1"] == float("inf")
    assert got[0]["trials"][1]["state"] == "PRUNED" and got[0]["trials"][2]["state"] == "FAIL"


def test_a_parameter_whose_distribution_changes_within_a_study_is_refused(tmp_path):
    records = _records()
    records[0]["trials"][2]["distributions"]["k"] = optuna.distributions.distribution_to_json(
        optuna.distributions.CategoricalDistribution([1, 2, 3]))
    with pytest.raises(ValueError, match=f"study {NAME}: a trial or setting is malformed"):
        load_studies(Store(f"sqlite:///{tmp_path / 'x.db'}").url, records)
