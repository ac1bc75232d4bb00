"""Build ``reports/<suite>/index.html`` from the store: every figure comes from stored rows."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

import benchmark
from benchmark.errors import BenchmarkError
from benchmark.metrics import DEFINITIONS, HEADLINE, mean_interval
from benchmark.store import OK, Store

SHOWN = HEADLINE + ("balanced_accuracy", "macro_f1")
LABELS = {
    "minority_recall": "Minority recall",
    "minority_f1": "Minority F1",
    "minority_pr_auc": "Minority PR-AUC",
    "balanced_accuracy": "Balanced accuracy",
    "macro_f1": "Macro-F1",
}


@dataclass
class Cell:
    """One (dataset, method, metric) figure: mean and 95% half-width over seeds, or a status."""

    mean: float | None = None
    half: float | None = None
    n: int = 0
    status: str = OK
    reason: str | None = None

    def text(self) -> str:
        if self.mean is None:
            return self.status
        if self.half is None or self.half != self.half:  # NaN: a single seed
            return f"{self.mean:.3f}"
        return f"{self.mean:.3f} ± {self.half:.3f}"


def collect(store: Store, suite: str) -> dict[str, Any]:
    """Gather the suite's pairs and seed rows into per-dataset tables of cells."""
    pairs = store.pairs(suite)
    rows = store.results(suite)
    datasets = sorted({p.dataset for p in pairs} | {r.dataset for r in rows})
    methods = sorted({p.method for p in pairs} | {r.method for r in rows})
    by_pair: dict[tuple[str, str], list] = {}
    for r in rows:
        by_pair.setdefault((r.dataset, r.method), []).append(r)
    pair_info = {(p.dataset, p.method): p for p in pairs}
    tables = {}
    for d in datasets:
        table = {}
        for m in methods:
            ok = [r for r in by_pair.get((d, m), []) if r.status == OK]
            pair = pair_info.get((d, m))
            cells = {}
            for metric in SHOWN:
                if ok:
                    mean, half = mean_interval([r.metrics.get(metric) for r in ok])
                    cells[metric] = Cell(mean, half, len(ok))
                else:
                    failed = [r for r in by_pair.get((d, m), []) if r.status != OK]
                    status = pair.status if pair is not None else (failed[0].status if failed else "missing")
                    reason = (pair.reason if pair is not None else None) or (failed[0].reason if failed else None)
                    cells[metric] = Cell(status=status, reason=reason)
            if pair is not None or ok:
                table[m] = {"cells": cells, "seeds": len(ok), "best_params": pair.best_params if pair else None,
                            "spent": pair.spent if pair else {}}
        tables[d] = table
    return {"datasets": datasets, "methods": methods, "tables": tables, "rows": rows, "pairs": pairs}


def build_report(store: Store, suite: str, output: str | Path = "reports") -> Path:
    """Write ``<output>/<suite>/index.html``; returns its path. Errors only when nothing is stored."""
    data = collect(store, suite)
    if not data["datasets"]:
        raise BenchmarkError(f"the store {store.safe_url} holds no results for suite '{suite}'",
                             f"run `python -m benchmark run --suite {suite}` first, or pass the --storage it used")
    env = jinja2.Environment(loader=jinja2.PackageLoader("benchmark", "report/templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]))
    html = env.get_template("leaderboard.html.j2").render(
        suite=suite,
        data=data,
        metrics=SHOWN,
        labels=LABELS,
        definitions=DEFINITIONS,
        version=benchmark.__version__,
        generated=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    )
    folder = Path(output) / suite
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "index.html"
    path.write_text(html, encoding="utf-8")
    return path
