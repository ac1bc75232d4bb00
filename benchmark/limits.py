"""Every numeric setting's valid range, declared once and checked in one place.

The command line (``--trials``, ``--timeout``, ``speed --lr``), suite files (``[budget]``,
``[training.*]``, ``split_seeds``) and the dataclasses they build (:class:`~benchmark.protocol.Budget`,
``TrainingConfig``, ``Suite``) all call :func:`check_setting`, so a value that would hang a run
(``trials = 2**63 - 1``), overflow a size (``batch_size = 1e12``) or poison every step (``lr = nan``,
``timeout = inf``) is refused with one line before any work, wherever it came from.

The bounds are generous: each is far above what any suite of this field uses (the largest published
long-tail schedule is a few hundred epochs; a tuning budget of 100,000 trials per pair is more than any
benchmark spends) and low enough that a plan or a loop over it finishes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from benchmark.errors import BenchmarkError


@dataclass(frozen=True)
class Limit:
    """A setting's range: ``low <= value <= high`` (``low`` excluded when ``open_low``); whole numbers
    only when ``integer``; always finite."""

    low: float
    high: float
    integer: bool = False
    open_low: bool = False
    unit: str = ""
    need: str = ""  # the fix in the field's words, e.g. "give at least 1 seed for the re-runs"

    def fix(self) -> str:
        return f"{self.need} ({self.describe()})" if self.need else f"give {self.describe()}"

    def describe(self) -> str:
        kind = "a whole number" if self.integer else "a finite number"
        low = f"above {_number(self.low)}" if self.open_low else f"from {_number(self.low)}"
        unit = f" {self.unit}" if self.unit else ""
        return f"{kind} {low} to {_number(self.high)}{unit}"


DAY = 86_400.0
LIMITS: dict[str, Limit] = {
    # the budget of a pair
    "trials": Limit(1, 100_000, integer=True, need="give at least 1 trial per pair"),
    "seeds": Limit(1, 1_000, integer=True, need="give at least 1 seed for the re-runs"),
    "timeout": Limit(0, 365 * DAY, open_low=True, unit="seconds", need="give a positive number of seconds"),
    "device_seconds": Limit(0, 365 * DAY, open_low=True, unit="seconds",
                            need="give a positive number of seconds, or none"),
    # the suite's protocol
    "split_seeds": Limit(1, 1_000, integer=True),
    "tuning_width": Limit(1, 4_096, integer=True),
    "stack_trials": Limit(1, 4_096, integer=True),
    # training settings (TrainingConfig)
    "epochs": Limit(1, 100_000, integer=True, need="train for at least 1 epoch"),
    "batch_size": Limit(1, 1 << 20, integer=True, need="use a positive batch size"),
    "eval_batch_size": Limit(1, 1 << 22, integer=True, need="use a positive batch size"),
    # 0 freezes the weights (the stage tests use it); a huge finite rate is allowed: its trial diverges and
    # fails with the NaN loss named, which is the method's outcome, not a malformed setting
    "lr": Limit(0, 1e12),
    "weight_decay": Limit(0, 10),
    "warmup_epochs": Limit(0, 100_000, integer=True),
    "cpu_threads": Limit(1, 4_096, integer=True, need="use a whole number of 1 or more"),
    "tfidf_max_features": Limit(1, 10_000_000, integer=True),
    "token_vocab_size": Limit(3, 10_000_000, integer=True),
    "max_tokens": Limit(1, 1_000_000, integer=True),
    "generator_epochs": Limit(0, 100_000, integer=True),
    "generator_batch_size": Limit(1, 1 << 20, integer=True),
    "lr_steps": Limit(0, 1),  # each entry: a fraction of the stage (0: the decay applies from the start)
}
MAX_NAME_LENGTH = 100  # suite, dataset-file and method names: they name folders, files and report pages


def check_setting(name: str, value: Any, shown: str | None = None) -> None:
    """Raise a :class:`BenchmarkError` unless ``value`` lies in :data:`LIMITS` [``name``].

    ``shown`` is how the user wrote the setting and names it in the message: an option (``--trials``,
    written ``--trials 0``) or a key (``epochs``, written ``epochs=0``); the default is the key ``name``."""
    limit = LIMITS[name]
    label = shown or name
    bad = (isinstance(value, bool) or not isinstance(value, int | float)
           or (limit.integer and not isinstance(value, int)))
    if not bad:
        number = float(value) if not isinstance(value, int) or abs(value) < 1 << 60 else math.inf
        bad = (not math.isfinite(number) or number > limit.high
               or (number <= limit.low if limit.open_low else number < limit.low))
    if bad:
        written = f"{label} {value!r}" if label.startswith("--") else f"{label}={value!r}"
        raise BenchmarkError(f"{written} is invalid", limit.fix())


def check_name_length(kind: str, name: str) -> None:
    """Names become folders, file names and page titles: refuse absurd lengths with one line."""
    if len(name) > MAX_NAME_LENGTH:
        raise BenchmarkError(f"the {kind} name '{name[:40]}...' has {len(name)} characters",
                             f"use at most {MAX_NAME_LENGTH} characters")


def _number(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"
