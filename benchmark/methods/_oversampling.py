"""THE rule of every over-sampler that tops classes up to a share of the largest class.

``top_up_targets(counts, ratio)`` says how many new rows each class gets: every non-empty class below
``ceil(ratio * n_max)`` is raised to it; larger classes and empty classes get none. Image
augmentation over-sampling, text augmentation and every generative row use it, so "target ratio
0.5" means the same thing in all of them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from benchmark.errors import BenchmarkError


def check_ratio(ratio: float, who: str = "over-sampling") -> float:
    """``ratio`` as a float if it lies in (0, 1]; otherwise a BenchmarkError naming ``who``."""
    try:
        value = float(ratio)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0.0 < value <= 1.0:
        raise BenchmarkError(f"{who} got target_ratio={ratio!r}", "use a ratio to the largest class in (0, 1]")
    return value


def top_up_targets(counts: Sequence[int], ratio: float, classes: Iterable[int] | None = None,
                   who: str = "over-sampling") -> dict[int, int]:
    """New rows per class: ``{class: n_new}`` for every non-empty class (of ``classes``, default all)
    below ``ceil(ratio * max(counts))``, each raised to that target; classes that need none are absent.
    The keys are in ascending class order."""
    ratio = check_ratio(ratio, who)
    counts = [int(c) for c in counts]
    if any(c < 0 for c in counts):
        raise BenchmarkError(f"{who} got negative class counts {counts}", "pass the training class counts")
    if not counts or max(counts) == 0:
        return {}
    # a tiny epsilon keeps ratio * n_max that is an integer in floating point from rounding up by one
    target = math.ceil(ratio * max(counts) - 1e-9)
    eligible = range(len(counts)) if classes is None else sorted({int(c) for c in classes})
    return {c: target - counts[c] for c in eligible if c < len(counts) and 0 < counts[c] < target}
