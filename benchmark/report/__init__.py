"""Report builder: HTML leaderboards, statistics, plots and exports rendered from the results store alone.

``build_report`` is imported lazily, so that reading stored rows (``python -m benchmark results``)
does not load Jinja2 and matplotlib.
"""

from __future__ import annotations

from typing import Any

__all__ = ["build_report", "result_records"]


def __getattr__(name: str) -> Any:
    if name == "build_report":
        from benchmark.report.builder import build_report

        return build_report
    if name == "result_records":
        from benchmark.report.records import result_records

        return result_records
    raise AttributeError(f"module 'benchmark.report' has no attribute {name!r}")
