"""The report's tuning history shows exactly the trials that tuning charged to a pair's budget."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from benchmark.report.history import read_histories
from benchmark.store import Store, optuna_storage, study_name
from benchmark.tuning.budget import INTERRUPTED, OVER_BUDGET, charged_trials


def test_history_leaves_out_forgiven_and_refused_trials_and_keeps_their_replacements(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'results.db'}")
    study = optuna.create_study(storage=optuna_storage(store.url, 10), study_name=study_name("s", "d", "m"),
                                direction="maximize")
    outcomes = [(TrialState.COMPLETE, None), (TrialState.FAIL, f"{INTERRUPTED}: Ctrl-C"),
                (TrialState.COMPLETE, None), (TrialState.FAIL, OVER_BUDGET), (TrialState.COMPLETE, None)]
    for number, (state, failure) in enumerate(outcomes):
        trial = study.ask()
        if failure:
            trial.set_user_attr("failure", failure)
        study.tell(trial, float(number) if state == TrialState.COMPLETE else None, state=state)
    # Another suite's study and a study this benchmark did not name are never shown.
    optuna.create_study(storage=optuna_storage(store.url, 10), study_name=study_name("other", "d", "m"))
    optuna.create_study(storage=optuna_storage(store.url, 10), study_name="someone-else's")

    histories = read_histories(store, "s", {("d", "m"): 2}, problems := [])
    assert not problems and list(histories) == [("d", "m")]
    shown = [t["number"] for t in histories[("d", "m")].trials]
    # Budget 2: trial 0 counts, trial 1 was interrupted (run again, not charged), trial 2 takes its
    # slot; trial 3 was refused and trial 4 lies beyond the budget. The old rule (number < budget)
    # showed trials 0 and 1.
    assert shown == [0, 2]
    assert shown == [t.number for t in charged_trials(study.get_trials(deepcopy=False), 2)]
