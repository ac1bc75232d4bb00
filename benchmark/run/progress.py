"""What a run tells its front end while it works (callbacks), its ETA, and its summary."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from benchmark.protocol import Budget
from benchmark.store.status import DATA_ERROR, DATA_UNAVAILABLE, NOT_APPLICABLE
from benchmark.tuning.budget import Spent

SKIPPED = "skipped"  # progress prefix of a pair found final at the start ("skipped (complete)")


@dataclass
class Progress:
    """Callbacks a front end (the CLI's progress bars) may set; all optional."""

    on_start: Callable[[int], None] = lambda total: None
    on_pair: Callable[[str, str, str], None] = lambda dataset, method, status: None
    on_trial: Callable[[str, str, Spent, float | None], None] = lambda d, m, spent, best: None
    on_seed: Callable[[str, str, int, str], None] = lambda d, m, seed, status: None
    # What a worker waits for (other workers' trials, with their workers), once per change.
    on_wait: Callable[[str, str, str], None] = lambda d, m, message: None


@dataclass
class RunSummary:
    pairs: int = 0
    skipped: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    worker_deaths: list[str] = field(default_factory=list)  # local workers that died and were replaced


class RunTracker:
    """Pairs done/total and an ETA from the work left: each pair is ``trials + seeds`` units.

    Pairs found finished at the start do not count towards the rate, so a resumed run's estimate
    reflects the speed of the work actually being done.
    """

    def __init__(self, budget: Budget, clock: Callable[[], float] = time.monotonic):
        self.per_pair = budget.trials + budget.seeds
        self.trials = budget.trials
        self.clock = clock
        self.started = clock()
        self.total = 0
        self.pairs_done = 0
        self.units: dict[tuple[str, str], float] = {}
        self.spent: dict[tuple[str, str], Spent] = {}  # the last budget spent seen per pair
        self.resumed_units = 0.0  # work that was done before this run started

    def start(self, total: int) -> None:
        self.total = total

    def pair(self, dataset: str, method: str, status: str) -> None:
        self.pairs_done += 1
        if status.startswith(SKIPPED) or status in (NOT_APPLICABLE, DATA_UNAVAILABLE, DATA_ERROR):
            self.resumed_units += self.per_pair - self.units.get((dataset, method), 0.0)
        self.units[(dataset, method)] = self.per_pair

    def trial(self, dataset: str, method: str, used: Spent) -> None:
        self.spent[(dataset, method)] = used
        done = used.finished
        if used.stopped_by not in (None, "trials"):  # a time cap ended tuning early
            done = self.trials
        self.units[(dataset, method)] = max(self.units.get((dataset, method), 0.0), float(done))

    def seed(self, dataset: str, method: str) -> None:
        key = (dataset, method)
        self.units[key] = min(self.per_pair, max(self.units.get(key, 0.0), float(self.trials)) + 1)

    def eta_seconds(self) -> float | None:
        done = sum(self.units.values())
        worked = done - self.resumed_units
        elapsed = self.clock() - self.started
        if worked <= 0 or elapsed <= 0:
            return None
        return max(0.0, self.total * self.per_pair - done) * elapsed / worked
