"""What the self-supervised rows share: the tuned share of the epoch budget the pretext stage takes."""

from __future__ import annotations

from typing import Any

from benchmark.errors import BenchmarkError

# Yang & Xu pre-train for as many epochs as they then train (a share of 0.5); here the pre-training
# takes 20-50% of the suite's epochs, so at least half the budget stays supervised. The engine gives the
# pretext stage at least one epoch and leaves every supervised stage at least one.
SHARE_RANGE = (0.2, 0.5)


def suggest_share(trial: Any) -> float:
    """The tuned share of the suite's epochs the pretext stage takes."""
    return trial.suggest_float("share", *SHARE_RANGE)


def checked_share(share: float) -> float:
    """``share`` if it lies strictly between 0 and 1, else a clear error."""
    share = float(share)
    if not 0 < share < 1:
        raise BenchmarkError(f"pre-training share={share} is invalid",
                             "give the pretext stage a share of the epochs strictly between 0 and 1")
    return share
