"""Tuning: exact budgets, failed trials with reasons, seeded TPE, pruning, time caps, bad input,
and the rule that tuning never reads the test split."""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.trial import TrialState

from benchmark.datasets.base import DataPart, Split
from benchmark.errors import BenchmarkError
from benchmark.methods import method_registry
from benchmark.methods.base import Method, Recipe
from benchmark.protocol import Budget
from benchmark.run.pair import rerun_seed
from benchmark.testing import make_tabular_split
from benchmark.training.base import TrainingConfig
from benchmark.tuning.budget import spent, wall_seconds
from benchmark.tuning.job import PairJob, check_objective
from benchmark.tuning.study import best_trial, make_pruner, open_study, trial_params
from benchmark.tuning.trials import run_trials

TABULAR = TrainingConfig(epochs=2, batch_size=32, lr=3e-3)


def job_for(split: Split, method: Method | str = "baseline", *, trials: int = 3, config: TrainingConfig = TABULAR,
            engine: str = "deep", **kw) -> PairJob:
    method = method_registry.get(method) if isinstance(method, str) else method
    budget = Budget(trials=trials, seeds=1, timeout=kw.pop("timeout", None),
                        device_seconds=kw.pop("device_seconds", None))
    return PairJob(suite="t", dataset=split.dataset, method=method, split=split, engine=engine, config=config,
                   budget=budget, device="cpu", **kw)


def method_with(name: str, search_space, build=lambda params, ctx: Recipe()) -> Method:
    return Method(name=name, build=build, family="test", modalities=("image", "text", "tabular"), summary="test",
                  paper="", engines=("deep", "classical"), search_space=search_space)


class GuardedPart(DataPart):
    """A data part whose rows and labels raise when read (while ``guard`` is on)."""

    guard = True

    def __getattribute__(self, name):
        if name in ("X", "y") and object.__getattribute__(self, "guard"):
            raise AssertionError("the test split was read during tuning")
        return object.__getattribute__(self, name)


def guarded(split: Split) -> Split:
    test = GuardedPart(split.test.X, split.test.y)
    return Split(split.dataset, split.modality, split.class_names, split.train, split.val, test,
                 minority_classes=split.minority_classes, feature_kinds=split.feature_kinds)


def test_study_spends_exactly_the_budget_and_resumes_without_new_trials():
    storage = optuna.storages.InMemoryStorage()
    job = job_for(make_tabular_split(), trials=3, tune=("lr",))
    study = run_trials(job, storage)
    used = spent(study, job.budget)
    assert used.trials == 3 and used.complete + used.pruned + used.failed == 3
    assert used.running == 0 and used.stopped_by == "trials"
    assert used.epochs == sum(t.user_attrs["epochs"] for t in study.trials) and 3 <= used.epochs <= 6
    assert used.seconds >= used.wall_seconds > 0
    best = best_trial(study, job.budget)
    assert set(trial_params(best)) == {"train.lr"} and best.value == max(t.value for t in study.trials
                                                                        if t.state == TrialState.COMPLETE)
    run_trials(job, storage)  # resuming a finished study runs nothing
    assert len(optuna.load_study(study_name=job.study_name, storage=storage).trials) == 3


def test_tuning_never_reads_the_test_split_and_the_guard_works():
    split = guarded(make_tabular_split())
    job = job_for(split, "random-oversampling", trials=2)
    study = run_trials(job, optuna.storages.InMemoryStorage())
    assert spent(study, job.budget).complete >= 1
    params = trial_params(best_trial(study, job.budget))
    with pytest.raises(AssertionError, match="test split was read"):
        rerun_seed(job, params, seed=0)  # scoring does read it: the guard is live
    split.test.guard = False
    out = rerun_seed(job, params, seed=0)
    assert 0.0 <= out["metrics"]["minority_f1"] <= 1.0


def test_failing_trials_are_recorded_with_their_reason_and_counted():
    def build(params, ctx):
        if ctx.seed % 2:  # trial seeds are 10000 + trial number: every odd trial crashes
            raise RuntimeError(f"simulated crash at seed {ctx.seed}")
        return Recipe()

    job = job_for(make_tabular_split(), method_with("sometimes-crashes", lambda t, c: {}, build), trials=4)
    study = run_trials(job, optuna.storages.InMemoryStorage())
    used = spent(study, job.budget)
    assert (used.trials, used.failed, used.complete + used.pruned) == (4, 2, 2)
    assert used.failures == ("RuntimeError: simulated crash at seed 10001",
                             "RuntimeError: simulated crash at seed 10003")


@pytest.mark.parametrize("space, message", [
    (lambda trial, ctx: {"k": trial.suggest_float("k", 0, 1) * math.nan}, "k=nan, which cannot be stored"),
    (lambda trial, ctx: [1, 2], "returned list"),
    (lambda trial, ctx: {"train.lr": 0.1}, "reserved for Suite.tune"),
    (lambda trial, ctx: {"k": trial.suggest_int("k", 5, 1)}, "ValueError"),
])
def test_an_invalid_search_space_value_fails_the_trials_with_a_clear_reason(space, message):
    job = job_for(make_tabular_split(), method_with("bad-space", space), trials=2)
    study = run_trials(job, optuna.storages.InMemoryStorage())
    used = spent(study, job.budget)
    assert used.failed == 2 and best_trial(study, job.budget) is None
    assert message in used.failures[0]


def test_unknown_objective_and_pruner_and_zero_budgets_are_refused():
    with pytest.raises(BenchmarkError, match="objective 'minority_auc' is unknown.*minority_pr_auc"):
        check_objective("minority_auc")
    with pytest.raises(BenchmarkError, match="pruner 'asha' is unknown.*successive-halving"):
        make_pruner("asha", 5)
    with pytest.raises(BenchmarkError, match="--trials 0 is invalid"):
        Budget(trials=0, seeds=1)
    with pytest.raises(BenchmarkError, match="--seeds 0 is invalid"):
        Budget(trials=1, seeds=0)
    with pytest.raises(BenchmarkError, match="--device-seconds 0 is invalid"):
        Budget(trials=1, seeds=1, device_seconds=0)
    assert isinstance(make_pruner("hyperband", 5, engine="classical"), optuna.pruners.NopPruner)


def test_a_study_resumed_with_another_budget_or_objective_is_refused_untouched():
    storage = optuna.storages.InMemoryStorage()
    split = make_tabular_split()
    run_trials(job_for(split, trials=2), storage)
    for job, message in [(job_for(split, trials=3), r"trials 2 \(this run asks for 3\)"),
                         (job_for(split, trials=2, objective="gmean"), "objective 'minority_f1'"),
                         (job_for(split, trials=2, config=TrainingConfig(epochs=3)), "config")]:
        with pytest.raises(BenchmarkError, match=message):
            open_study(job, storage)
    study = optuna.load_study(study_name="t::tiny-tabular::baseline", storage=storage)
    assert len(study.trials) == 2 and study.user_attrs["protocol"]["trials"] == 2


def test_seeded_tpe_reproduces_params_and_draws_shared_values_alike_for_every_method():
    split = make_tabular_split()
    params = {}
    for name in ("baseline", "random-oversampling"):
        for run in (0, 1):
            job = job_for(split, name, trials=3, tune=("lr", "weight_decay"))
            study = run_trials(job, optuna.storages.InMemoryStorage())
            params[name, run] = [trial_params(t) for t in study.trials]
    assert params["baseline", 0] == params["baseline", 1]  # same seed, same trial numbers: same draws
    assert params["random-oversampling", 0] == params["random-oversampling", 1]
    shared = [{k: v for k, v in p.items() if k.startswith("train.")} for p in params["random-oversampling", 0]]
    assert shared == params["baseline", 0]  # the shared lr / weight decay come first, equal across methods
    assert len({p["train.lr"] for p in shared}) == 3


def test_hyperband_spends_fewer_epochs_than_no_pruning_at_the_same_trials():
    """Acceptance check 5 at test scale (see the report for the full-size figure)."""
    split = make_tabular_split(n_train=(200, 30))
    config = TrainingConfig(epochs=9, batch_size=32, lr=3e-3)
    epochs = {}
    for pruner in ("none", "hyperband"):
        job = job_for(split, trials=8, config=config, pruner=pruner, tune=("lr",))
        study = run_trials(job, optuna.storages.InMemoryStorage())
        used = spent(study, job.budget)
        assert used.trials == 8 and used.failed == 0
        epochs[pruner] = used.epochs, used.pruned
    assert epochs["none"] == (72, 0)
    assert epochs["hyperband"][1] >= 1 and epochs["hyperband"][0] < 72


def test_time_caps_stop_tuning_at_an_epoch_boundary():
    split = make_tabular_split()
    config = TrainingConfig(epochs=50, batch_size=16)
    for cap, reason in [({"device_seconds": 0.05}, "device_seconds"), ({"timeout": 0.05}, "timeout")]:
        job = job_for(split, trials=5, config=config, pruner="none", **cap)
        study = run_trials(job, optuna.storages.InMemoryStorage())
        used = spent(study, job.budget)
        assert used.stopped_by == reason and used.trials == 1 and used.pruned == 1
        assert 1 <= used.epochs < 50
        assert "time cap" in study.trials[0].user_attrs["pruned"]


def test_wall_seconds_is_the_union_of_trial_intervals():
    import datetime as dt

    t = dt.datetime(2026, 1, 1)
    s = dt.timedelta(seconds=1)
    assert wall_seconds([(t, t + 4 * s), (t + 2 * s, t + 6 * s), (t + 10 * s, t + 11 * s)]) == 7.0
    assert wall_seconds([]) == 0.0


def test_stacked_trials_spend_exactly_the_budget_with_an_outcome_per_member(monkeypatch):
    """``--stack-trials``: trials asked and trained together, told one by one (failures stay alone)."""
    from benchmark.training import stacked as stacked_engine

    stacks = []
    for name in ("fit_stacked", "fit_exact"):  # the MLP on a CPU takes the exact path
        real = getattr(stacked_engine, name)
        monkeypatch.setattr(stacked_engine, name, lambda split, recipes, *a, real=real, **kw: stacks.append(
            len(recipes)) or real(split, recipes, *a, **kw))

    def build(params, ctx):
        if ctx.seed == 10_003:
            raise RuntimeError("simulated crash in trial 3")
        return Recipe()

    split = make_tabular_split()
    config = TrainingConfig(epochs=3, batch_size=32, lr=3e-3)
    method = method_with("crashes-in-trial-3", lambda trial, ctx: {}, build)
    stacked = job_for(split, method, trials=5, config=config, pruner="none", tune=("lr", "weight_decay"), stack=2)
    study = run_trials(stacked, optuna.storages.InMemoryStorage())
    used = spent(study, stacked.budget)
    assert (used.trials, used.complete, used.failed, used.epochs) == (5, 4, 1, 12)
    assert used.failures == ("RuntimeError: simulated crash in trial 3",)
    assert stacks == [2]  # trials 0 and 1 as one model; trial 3 failed alone, so 2 and 4 ran by themselves
    one_by_one = run_trials(job_for(split, method, trials=5, config=config, pruner="none", tune=("lr", "weight_decay")),
                            optuna.storages.InMemoryStorage())
    assert [trial_params(t) for t in study.trials] == [trial_params(t) for t in one_by_one.trials]


def test_a_study_without_recorded_slots_reads_by_the_old_rule():
    """Trials written before slots were recorded get them replayed in number order: an interrupted
    trial's slot goes to the next trial, refused ones take none (see tests/tuning/test_determinism.py
    for the slot rules themselves)."""
    from benchmark.tuning.budget import budget_trials, spent

    study = optuna.create_study(direction="maximize")

    def add(state, failure=None):
        t = study.ask()
        if failure is not None:
            t.set_user_attr("failure", failure)
        study.tell(t, 0.5 if state == TrialState.COMPLETE else None, state=state)

    add(TrialState.COMPLETE)                                  # 0: slot 0
    add(TrialState.FAIL, "interrupted: Ctrl-C")               # 1: slot 1, forgiven
    add(TrialState.FAIL, "over budget")                       # 2: refused, no slot
    add(TrialState.FAIL, "RuntimeError: boom")                # 3: slot 1 again, the method's own failure
    add(TrialState.COMPLETE)                                  # 4: slot 2, beyond the budget
    assert [t.number for t in budget_trials(study, 2)] == [0, 3]
    used = spent(study, Budget(trials=2, seeds=1))
    assert (used.trials, used.complete, used.failed, used.interrupted, used.stopped_by) == (
        2, 1, 1, 1, "trials")
