"""Report builder: HTML leaderboards rendered from the results store alone."""

from benchmark.report.builder import build_report

__all__ = ["build_report"]
