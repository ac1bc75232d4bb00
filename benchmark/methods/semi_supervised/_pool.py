"""What the semi-supervised rows share: the pool's tag, the pool on the device, and draws from it.

The pool is ``Split.unlabeled`` (features only: the split holds no labels for it); the deep engine puts
it on the device as ``state.extra["unlabeled"]`` for every component that declares
``uses_unlabeled = True`` (uint8 images, or float features after the fitted featuriser). Whether a
split has a pool at all is :func:`benchmark.methods.base.unlabeled_pool_reason` (every pool row's
``applies_to``).
"""

from __future__ import annotations

from typing import Any

import torch

from benchmark.errors import BenchmarkError


def device_pool(state: Any, who: str) -> torch.Tensor:
    """The pool the engine put on the device for this trial, or a clear error naming ``who`` needs it."""
    pool = getattr(state, "extra", {}).get("unlabeled")
    if pool is None:
        raise BenchmarkError(
            f"{who} needs the unlabeled pool in state.extra['unlabeled'], and the training state holds none",
            "run it with the deep engine on a dataset that exposes an unlabeled pool (the engine provides it "
            "to components that declare uses_unlabeled = True)",
        )
    if pool.shape[0] == 0:
        raise BenchmarkError(f"{who} got an empty unlabeled pool", "use a dataset whose pool holds rows")
    return pool


def as_unit_floats(x: torch.Tensor) -> torch.Tensor:
    """Pool rows as the engine hands training rows to ``augment``: uint8 images to floats in [0, 1]."""
    return x.float().div_(255) if x.dtype == torch.uint8 else x.float()


class PoolStream:
    """Rows of the pool in shuffled passes (as FixMatch's unlabeled loader): each row is drawn once per
    pass, a new permutation (from the trial's generator) starting when a pass runs out."""

    def __init__(self) -> None:
        self._order: torch.Tensor | None = None
        self._next = 0

    def take(self, n: int, size: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
        """``n`` row indices into a pool of ``size`` rows."""
        parts, wanted = [], n
        while wanted > 0:
            if self._order is None or self._next >= self._order.numel() or self._order.numel() != size:
                self._order = torch.randperm(size, generator=generator, device=device)
                self._next = 0
            chunk = self._order[self._next : self._next + wanted]
            self._next += chunk.numel()
            wanted -= chunk.numel()
            parts.append(chunk)
        return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.long, device=device)
