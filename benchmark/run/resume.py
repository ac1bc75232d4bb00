"""What a resumed run finds in the store, read without writing: the fits of a pair already done, and
the share of their epochs that this suite's pruned tuning trials trained.

A pair's tuning trials are counted by the budget's own rule (:func:`benchmark.tuning.budget.spent`:
the trials holding a budget slot, finished); its seed re-runs are its final seed rows. Optuna's tables
are opened only where they exist, and never created (``skip_table_creation``), so reading a store for
``--plan`` leaves it exactly as it was.
"""

from __future__ import annotations

from typing import Any

from benchmark.run.plan import RunPlan
from benchmark.store import Store
from benchmark.store.results import engine_options
from benchmark.store.status import RUNNING
from benchmark.store.studies import study_name
from benchmark.tuning.budget import Spent, spent

MIN_STUDIES = 3  # finished studies needed before their pruning share is offered as an estimate


class StoredProgress:
    """Reads, for each pair, the tuning trials and seed re-runs the store already holds."""

    def __init__(self, store: Store):
        from sqlalchemy import inspect

        self.store = store
        self.storage = None
        self.names: set[str] = set()
        if inspect(store.engine).has_table("studies"):  # Optuna's tables: present once a run has tuned
            import optuna

            self.storage = optuna.storages.RDBStorage(store.url, skip_table_creation=True,
                                                      engine_kwargs=engine_options(store.url))
            self.names = {s.study_name for s in self.storage.get_all_studies()}

    def seeds_done(self, plan: RunPlan, dataset: str, method: str, split_seed: int) -> int:
        rows = self.store.seed_rows(plan.suite.name, dataset, method, split_seed=split_seed)
        return sum(1 for r in rows if r.status != RUNNING and r.seed < plan.budget.seeds)

    def trials_done(self, plan: RunPlan, dataset: str, method: str, split_seed: int) -> tuple[int, bool]:
        """(finished trials holding a budget slot, whether a time cap has ended the pair's tuning)."""
        name = study_name(plan.suite.name, dataset, method, split_seed)
        if self.storage is None or name not in self.names:
            return 0, False
        import optuna

        used = spent(optuna.load_study(study_name=name, storage=self.storage), plan.budget)
        return used.finished, used.stopped_by in ("timeout", "device_seconds")

    def done(self, plan: RunPlan, row: Any) -> tuple[int, int]:
        """(trials, seeds) stored for a pair that is final in the store."""
        trials = Spent.from_record(row.spent).trials
        return trials, self.seeds_done(plan, row.dataset, row.method, row.split_seed)

    def progress(self, plan: RunPlan, row: Any, method: str, dataset: Any) -> tuple[int, int, int]:
        """(trials stored, seeds stored, tuning trials left) of a pair a run would (re)start."""
        if row is None:
            return 0, 0, plan.budget.trials
        trials, capped = self.trials_done(plan, dataset.name, method, dataset.split_seed)
        seeds = self.seeds_done(plan, dataset.name, method, dataset.split_seed)
        return trials, seeds, 0 if capped else max(0, plan.budget.trials - trials)


def observed_pruning(plan: RunPlan, store: Store) -> tuple[float, int] | None:
    """(share of their epochs that tuning trials trained, studies) over this suite's finished deep-engine
    studies in the store, or None with fewer than :data:`MIN_STUDIES` or no pruner."""
    if plan.pruner == "none":
        return None
    trained = budgeted = studies = 0
    for row in store.pairs(plan.suite.name):
        used = Spent.from_record(row.spent)
        if row.engine != "deep" or not used.trials:
            continue
        try:
            entry = plan.dataset_entry(row.dataset)
            epochs = plan.suite.training_for(row.dataset, entry.modality).epochs
        except Exception:  # noqa: BLE001 - a stored dataset this version no longer knows: left out
            continue
        trained += used.epochs
        budgeted += used.trials * epochs
        studies += 1
    if studies < MIN_STUDIES or not budgeted:
        return None
    return min(1.0, trained / budgeted), studies
