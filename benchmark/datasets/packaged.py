"""Data files shipped inside the package, so the smoke suite runs on a fresh machine, offline.

``benchmark/datasets/data/`` holds small copies laid out as under a data root (its README says what
each file is, where it comes from, its licence and how it was cut). A loader reads a file from the
data root when it is there and falls back to the packaged copy; the split cache keys a packaged copy
by the same path under the data root, so identical bytes give the identical cache key and split
(:func:`benchmark.datasets.base.source_fingerprint`).
"""

from __future__ import annotations

from pathlib import Path

PACKAGED_ROOT = Path(__file__).with_name("data")


def packaged_file(relative: str) -> Path | None:
    """The packaged copy of ``relative`` (a path as under a data root), or None when none ships."""
    path = PACKAGED_ROOT / relative
    return path if path.is_file() else None


def locate(data_root: Path, relative: str) -> Path | None:
    """``<data root>/relative`` when it exists, else the packaged copy, else None."""
    path = data_root / relative
    return path if path.exists() else packaged_file(relative)
