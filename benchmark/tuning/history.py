"""The history a budget slot conditions on, read from the store until it is final and then kept.

Slot k's sampler and pruner see only the finished holders of slots 0..k-W, renumbered by slot (see
:mod:`benchmark.tuning.study`). Once every one of those slots is held by a finished trial the history
is final: no later write changes it. The trial loop waits for that (``await_history``), and the
sampler and pruner of the trial then use the history it saw (:func:`slot_history`) instead of reading
the whole study again (issue 26: a read cost a small model's trial more than a tenth of its training).
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Container
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from benchmark.tuning.budget import SLOT, slot_holders


def slot_of(trial: FrozenTrial) -> int:
    return int(trial.user_attrs.get(SLOT, trial.number))


def history(trials: list[FrozenTrial], slot: int, width: int, budget: int
            ) -> tuple[list[FrozenTrial], list[int], list[FrozenTrial]]:
    """What slot ``slot`` conditions on: (the finished holders of slots 0..slot-width renumbered by
    slot, the slots among those that nobody holds, the holders among those still running)."""
    holders = slot_holders(trials, budget)
    visible, missing, running = [], [], []
    for j in range(slot - width + 1):
        t = holders.get(j)
        if t is None:
            missing.append(j)
        elif t.state == TrialState.RUNNING:
            running.append(t)
        elif t.state in (TrialState.COMPLETE, TrialState.PRUNED):
            renumbered = copy.copy(t)
            renumbered.number = j
            visible.append(renumbered)
    return visible, missing, running


# storage -> (study id, slot, width, budget) -> the final history's visible trials; dropped with the storage
_final_histories: weakref.WeakKeyDictionary[Any, dict[tuple[int, int, int, int], list[FrozenTrial]]] = (
    weakref.WeakKeyDictionary())


def slot_history(study: optuna.Study, slot: int, width: int, budget: int,
                 trials: list[FrozenTrial] | None = None) -> tuple[list[FrozenTrial], list[int], list[FrozenTrial]]:
    """:func:`history` of ``slot`` in ``study``, from ``trials`` (the study's trials as just read, this
    process's writes since included) or else a read of the store, until it is final (every slot it holds
    finished); then kept, since a final history never changes: the waiting loop, the sampler and the
    pruner of a trial read it once between them, and a slot below the width reads nothing."""
    if slot - width + 1 <= 0:
        return [], [], []
    kept = _final_histories.setdefault(study._storage, {})
    key = (study._study_id, slot, width, budget)
    if key in kept:
        return kept[key], [], []
    visible, missing, running = history(study.get_trials(deepcopy=False) if trials is None else trials,
                                        slot, width, budget)
    if not missing and not running:
        kept[key] = visible
    return visible, missing, running


class _HistoryStorage:
    """A storage whose study holds only ``trials``; everything else (writes included) is the real one.

    The study's id and directions are those of ``study`` (a view is made without reading the store), and
    a system attribute written for a trial of ``tracked`` (the slot pruner's rungs of a running trial) is
    also kept there, so that the pruner reads it back without the store."""

    def __init__(self, study: optuna.Study, trials: list[FrozenTrial],
                 tracked: dict[int, dict[str, Any]] | None = None):
        self._real, self._trials, self._tracked = study._storage, trials, tracked
        self._study_id, self._directions = study._study_id, study.directions

    def get_study_id_from_name(self, study_name: str) -> int:
        return self._study_id

    def get_study_directions(self, study_id: int) -> list[optuna.study.StudyDirection]:
        return list(self._directions)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._real.set_trial_system_attr(trial_id, key, value)
        if self._tracked is not None and trial_id in self._tracked:
            self._tracked[trial_id][key] = value

    def get_all_trials(self, study_id: int, deepcopy: bool = True,
                       states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        trials = [t for t in self._trials if states is None or t.state in states]
        return copy.deepcopy(trials) if deepcopy else trials

    def get_n_trials(self, study_id: int, state=None) -> int:
        return len(self.get_all_trials(study_id, deepcopy=False, states=None if state is None else (state,)))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def history_view(study: optuna.Study, trials: list[FrozenTrial],
                 tracked: dict[int, dict[str, Any]] | None = None) -> optuna.Study:
    """``study`` as a sampler or pruner should see it: holding only ``trials`` (see :class:`_HistoryStorage`
    for ``tracked``)."""
    return optuna.Study(study.study_name, _HistoryStorage(study, trials, tracked),  # type: ignore[arg-type]
                        sampler=study.sampler, pruner=study.pruner)
