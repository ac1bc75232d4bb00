"""``python -m benchmark verify DIR``: check a published bundle, then re-run some of its cells and compare.

1. Integrity: every file matches the manifest's SHA-256; the scores hash of ``rows.json.gz`` is the one the
   bundle states; every stored metric is recomputed from its row's stored predictions and matches (6
   decimals, the scores hash's rule). An edited file fails here.
2. Re-runs: ``cells`` (dataset, method, split seed) cells drawn at random (``seed``, printed, repeats the
   draw) are run again in a fresh temporary store through the run layer itself: tuning with the stored
   budget, then the seed re-runs; or, with ``seeds_only``, the seed re-runs of the stored best
   parameters. Where this environment is the bundle's (the same lock, Python, CPU model and GPU, data
   files and suite definition) every metric of every seed row must be equal to 6 decimals, and tuning
   must choose the same parameters; elsewhere each compared metric's mean over the cell's seeds must lie
   within ``tolerance`` of the bundle's, and the report says so.
"""

from __future__ import annotations

import math
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.metrics import COMPARED, HEADLINE
from benchmark.publish.environment import (
    data_files,
    environment_lock,
    same_machine,
    suite_definition,
    suite_digest,
)
from benchmark.publish.files import CONSTRAINTS, check_manifest, read_json
from benchmark.publish.reader import read_bundle
from benchmark.report.records import StoredResult, StoredRun, scores_hash
from benchmark.run.pair import prepare_split, rerun_seeds, run_pair, start_pair
from benchmark.run.plan import RunOptions
from benchmark.run.progress import Progress
from benchmark.store import COMPLETE, OK
from benchmark.store.studies import optuna_storage
from benchmark.suites import resolve_suite

DIGITS = 6
SCORED = ("suite", "dataset", "method", "split_seed", "seed", "status", "metrics")  # what the scores hash reads
EXACT, WITHIN, MISMATCH, FAILED = "exact", "within tolerance", "mismatch", "failed"


@dataclass
class CellCheck:
    """One re-run cell and how it compared."""

    dataset: str
    method: str
    split_seed: int
    status: str
    lines: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status in (EXACT, WITHIN)


@dataclass
class Verification:
    """What :func:`verify_bundle` found."""

    folder: Path
    integrity: list[str] = field(default_factory=list)
    environment: list[str] = field(default_factory=list)  # how this environment differs from the bundle's
    cells: list[CellCheck] = field(default_factory=list)
    draw_seed: int = 0
    tolerance: float = 0.05
    rescored: int = 0

    @property
    def exact(self) -> bool:
        return not self.environment

    @property
    def ok(self) -> bool:
        return not self.integrity and all(c.ok for c in self.cells)


def same_figure(a: Any, b: Any) -> bool:
    """Equal to :data:`DIGITS` decimals (NaN equals NaN; None equals None)."""
    if a is None or b is None:
        return a is b
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return f"{float(a):.{DIGITS}f}" == f"{float(b):.{DIGITS}f}"


def check_integrity(folder: Path, content: dict[str, Any]) -> tuple[list[str], int]:
    """Manifest, scores hash and every metric recomputed from the stored predictions: the problems found,
    and how many seed rows were rescored."""
    meta, problems = content["meta"], []
    run = StoredRun(meta.get("suite"), [], [StoredResult(id=i, **{k: r[k] for k in SCORED}) for i, r in
                                            enumerate(content["rows"])])
    if (found := scores_hash(run)) != meta.get("scores_hash"):
        problems.append(f"the scores in rows.json.gz hash to sha256:{found[:12]}, the bundle states "
                        f"sha256:{str(meta.get('scores_hash'))[:12]}")
    rows = {(r["dataset"], r["method"], r["split_seed"], r["seed"]): r for r in content["rows"] if r["status"] == OK}
    rescored = 0
    for entry, predictions in content["predictions"]:
        row = rows.get((entry["dataset"], entry["method"], entry["split_seed"], entry["seed"]))
        if row is None:
            continue
        rescored += 1
        computed, _ = predictions.scores()
        differ = [f"{k} {row['metrics'][k]!r} (recomputed {computed[k]!r})" for k in sorted(computed)
                  if k in row["metrics"] and not same_figure(row["metrics"][k], computed[k])]
        if differ:
            problems.append(f"{entry['dataset']} x {entry['method']} split {entry['split_seed']} seed {entry['seed']}: "
                            f"stored scores differ from those of its stored predictions: {'; '.join(differ[:3])}")
    return problems, rescored


def environment_differences(folder: Path, content: dict[str, Any], device: str, data_root: str | None) -> list[str]:
    """How this machine, its packages, data files and the suite's definition differ from the bundle's."""
    recorded = read_json(folder, "environment.json")
    lock, here = recorded.get("lock") or {}, environment_lock()
    out = []
    changed = sorted(k for k in set(lock.get("packages") or {}) | set(here["packages"])
                     if (lock.get("packages") or {}).get(k) != here["packages"].get(k))
    if changed:
        out.append(f"{len(changed)} package version(s) differ from the bundle's lock: {', '.join(changed[:8])}"
                   + (" ..." if len(changed) > 8 else "")
                   + (f" (to compare exactly, install the bundle's versions: pip install -c {folder / CONSTRAINTS} "
                      "-e \".[all]\")" if (folder / CONSTRAINTS).is_file() else ""))
    if lock.get("python") != here["python"]:
        out.append(f"Python {here['python']} here, {lock.get('python')} in the bundle")
    if not same_machine(recorded.get("hardware") or [], device):
        out.append("the CPU (or GPU) here is not the one machine the bundle's rows ran on")
    suite = resolve_suite(content["meta"]["suite"])
    if suite_digest(suite_definition(suite)) != content["meta"].get("suite_digest"):
        out.append(f"suite '{suite.name}' is defined differently here than in the bundle (suite.json)")
    stated = read_json(folder, "data.json")
    datasets = sorted(stated)
    if data_files(datasets, suite, data_root) != stated:
        out.append("a data file differs from the bundle's data.json (or is absent here)")
    return out


def draw_cells(content: dict[str, Any], cells: int, seed: int) -> list[dict[str, Any]]:
    """``cells`` complete pairs of the bundle, drawn at random with ``seed`` (the same seed, the same draw)."""
    complete = sorted((p for p in content["pairs"] if p["status"] == COMPLETE),
                      key=lambda p: (p["dataset"], p["method"], p["split_seed"]))
    return random.Random(seed).sample(complete, min(cells, len(complete)))


def rerun_cell(suite: str, pair: dict[str, Any], seeds_only: bool, data_root: str | None, device: str,
               work: Path) -> tuple[dict[str, Any] | None, dict[int, Any], str | None]:
    """Run one cell again in a fresh store under ``work``: (its pair row's best parameters record, its seed
    rows by seed, the reason it could not run)."""
    budget, dataset, method, split_seed = pair["budget"], pair["dataset"], pair["method"], pair["split_seed"]
    plan = RunOptions(suite=suite, methods=[method], datasets=[dataset], trials=budget.get("trials"),
                      seeds=budget.get("seeds"), timeout=budget.get("timeout"),
                      device_seconds=budget.get("device_seconds"), objective=budget.get("objective"),
                      pruner=budget.get("pruner"), storage=f"sqlite:///{work / 'cell.db'}", data_root=data_root,
                      workers=1, device=device, split_seeds=split_seed + 1).resolve()
    store = plan.open_store()
    jobs = prepare_split(plan, store, dataset, split_seed, plan.device or "cpu", Progress())
    if not jobs:
        row = store.get_pair(suite, dataset, method, split_seed=split_seed)
        return None, {}, f"{row.status}: {row.reason}" if row is not None else "the pair was not run"
    job = jobs[0]
    if seeds_only:
        start_pair(job, store, plan)
        rerun_seeds(job, store, pair["best_params"] or {}, range(plan.budget.seeds), plan.heartbeat, Progress())
    else:
        run_pair(job, store, optuna_storage(plan.storage, plan.heartbeat), plan, Progress())
    row = store.get_pair(suite, dataset, method, split_seed=split_seed)
    seeds = {r.seed: r for r in store.seed_rows(suite, dataset, method, split_seed=split_seed)}
    store.engine.dispose()
    return {"best_params": row.best_params if row else None}, seeds, None


def compare_cell(pair: dict[str, Any], stored: list[dict[str, Any]], again: dict[int, Any], tuned: dict[str, Any],
                 exact: bool, tolerance: float, seeds_only: bool) -> tuple[str, list[str]]:
    """The cell's verdict and one line per difference found."""
    lines = []
    if exact and not seeds_only and tuned.get("best_params") != pair.get("best_params"):
        lines.append(f"tuning chose {tuned.get('best_params')}, the bundle {pair.get('best_params')}")
    for row in stored:
        new = again.get(row["seed"])
        if new is None or new.status != row["status"]:
            lines.append(f"seed {row['seed']}: {row['status']} in the bundle, "
                         f"{'missing' if new is None else new.status} here" + (f" ({new.reason})" if new and new.reason else ""))
            continue
        if exact:
            differ = [f"{k} {row['metrics'][k]!r} vs {new.metrics.get(k)!r}" for k in sorted(row["metrics"])
                      if not same_figure(row["metrics"][k], new.metrics.get(k))]
            if differ:
                lines.append(f"seed {row['seed']}: " + "; ".join(differ[:4]))
    if not exact:
        for name in dict.fromkeys(HEADLINE + COMPARED):
            a = _mean([r["metrics"].get(name) for r in stored if r["status"] == OK])
            b = _mean([r.metrics.get(name) for r in again.values() if r.status == OK])
            if a is not None and (b is None or abs(a - b) > tolerance):
                lines.append(f"{name}: mean {a:.4f} in the bundle, {b if b is None else f'{b:.4f}'} here "
                             f"(tolerance ±{tolerance})")
    return (MISMATCH if lines else EXACT if exact else WITHIN), lines


def _mean(values: list[Any]) -> float | None:
    known = [float(v) for v in values if isinstance(v, int | float) and math.isfinite(v)]
    return sum(known) / len(known) if known else None


def verify_bundle(folder: str | Path, cells: int = 3, *, seeds_only: bool = False, seed: int | None = None,
                  tolerance: float = 0.05, data_root: str | None = None, device: str = "cpu",
                  progress: Callable[[str], None] | None = None) -> Verification:
    """Check the bundle at ``folder`` and re-run ``cells`` of its cells (see the module's docstring)."""
    step = progress or (lambda _: None)
    folder = Path(folder)
    draw_seed = random.SystemRandom().randrange(2**31) if seed is None else seed
    out = Verification(folder, draw_seed=draw_seed, tolerance=tolerance)
    out.integrity = check_manifest(folder)
    if out.integrity:
        return out  # files were changed: nothing else in them can be trusted
    content = read_bundle(folder)
    problems, out.rescored = check_integrity(folder, content)
    out.integrity += problems
    out.environment = environment_differences(folder, content, device, data_root)
    suite = content["meta"]["suite"]
    rows = content["rows"]
    for pair in draw_cells(content, cells, draw_seed):
        label = f"{pair['dataset']} x {pair['method']} split {pair['split_seed']}"
        step(f"re-running {label}")
        t0 = time.perf_counter()
        work = Path(tempfile.mkdtemp(prefix="benchmark-verify-"))
        try:
            tuned, again, reason = rerun_cell(suite, pair, seeds_only, data_root, device, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        check = CellCheck(pair["dataset"], pair["method"], pair["split_seed"], FAILED)
        if reason is not None:
            check.lines.append(f"could not run here: {reason}")
        else:
            stored = [r for r in rows if (r["dataset"], r["method"], r["split_seed"]) ==
                      (pair["dataset"], pair["method"], pair["split_seed"])]
            check.status, check.lines = compare_cell(pair, stored, again, tuned or {}, out.exact, tolerance, seeds_only)
        check.seconds = time.perf_counter() - t0
        out.cells.append(check)
    return out
