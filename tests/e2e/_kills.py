"""The fault-injection harness: SIGKILL a ``run`` command at random moments, resume it until it completes,
and read back everything a run stores except timings, for comparison with an uninterrupted run.

Kills are timed by what the run has done, read from its SQLite store (trials finished, seed rows
written, trials training), not by the clock alone, so they land whatever the machine's speed or load:

- a *training* kill (1 in 2) waits until a tuning trial of the process is training (running, past
  its wait for a slot), then a random delay of up to half the time a unit has taken so far: it lands
  while pairs are training, where a kill costs the most;
- a *working* kill (1 in 4) waits until the process has finished at least one unit of work (a trial
  or a seed row), then a random delay of up to twice the time a unit has taken so far in this run:
  it lands in a trial, a seed re-run, between them or in the store's bookkeeping;
- an *early* kill lands at a random moment before the process's first finished unit (importing,
  loading the splits, opening the studies, creating the first trial).

Every kill takes the whole run (its process group), so none may be charged to a method however often
one slot is hit (issue 28): :func:`stored` asserts that every study was charged exactly its budget and
that no charged trial is an interruption or a worker's death.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from optuna.trial import TrialState

from benchmark.store import Store, optuna_storage
from benchmark.store.liveness import worker_gone
from benchmark.tuning.budget import STARTED, Spent, charged_trials, interrupted, worker_died

POLL = 0.1  # seconds between two looks at the store
STALL = 900.0  # seconds without any finished unit before the harness gives up on a process
# What may differ between an interrupted and an uninterrupted run: times, who ran what, how often
# a slot was interrupted. Everything else a run stores must be equal, bit for bit.
TIMING_KEYS = ("seconds", "wall_seconds", "interrupted", "started", "finished", "worker", "run", "heartbeat")


@dataclass
class KillLog:
    """What the harness did to one run: kills by kind, processes started, waits imposed, wall time."""

    working: int = 0
    early: int = 0
    starts: int = 0
    in_training: int = 0  # kills that landed while a tuning trial was training
    unit_seconds: list[float] = field(default_factory=list)
    startup_seconds: list[float] = field(default_factory=list)

    @property
    def landed(self) -> int:
        return self.working + self.early


def env() -> dict[str, str]:
    # No thread pinning here: every trial runs on its suite's cpu_threads, whatever the process has.
    return {**os.environ, "BENCHMARK_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}


def store_path(url: str) -> Path:
    return Path(url.split("///", 1)[1])


def _query(path: Path, sql: str) -> list[tuple]:
    if not path.exists():
        return []
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            return db.execute(sql).fetchall()
    except sqlite3.Error:  # tables not created yet, or the writer holds the lock: nothing new seen
        return []


def finished_units(path: Path) -> int:
    """Trials that trained to their end (complete or pruned) plus seed rows that are final: the work a
    run has done so far. Failed trials are left out: most are bookkeeping (an interrupted trial failed
    by the next process, a trial released or refused over budget), and counting them let a kill follow
    a restart's bookkeeping at once, interrupting the same slot again and again."""
    trials = _query(path, "SELECT count(*) FROM trials WHERE state IN ('COMPLETE', 'PRUNED')")
    rows = _query(path, "SELECT count(*) FROM benchmark_results WHERE status != 'running'")
    return (trials[0][0] if trials else 0) + (rows[0][0] if rows else 0)


def training(path: Path) -> bool:
    """Whether a tuning trial is training: running in a live process, past its wait for a slot and its
    history (a killed process's trials stay RUNNING until the next process fails them: left out)."""
    rows = _query(path, f"""
        SELECT w.value_json FROM trials t
        JOIN trial_user_attributes a ON a.trial_id = t.trial_id AND a.key = '{STARTED}'
        JOIN trial_user_attributes w ON w.trial_id = t.trial_id AND w.key = 'worker'
        WHERE t.state = 'RUNNING'""")
    return any(not worker_gone(json.loads(worker)) for (worker,) in rows)


def run_with_kills(cmd: list[str], url: str, kills: int, rng: random.Random, log: KillLog,
                   limit: float = 7200) -> bool:
    """Start ``cmd``, SIGKILL its whole process group (every worker) at a random moment (see the module
    docstring), and start it again, until ``kills`` more kills landed or a run ended by itself.
    Returns whether the run completed (exit 0) under the harness."""
    path = store_path(url)
    deadline = time.monotonic() + limit
    target = log.landed + kills
    while log.landed < target:
        assert time.monotonic() < deadline, f"{log.landed} kills landed, the run still not done after {limit} s"
        draw = rng.random()
        early, in_training = draw < 0.25, draw >= 0.5
        startup = statistics.median(log.startup_seconds) if log.startup_seconds else 6.0
        unit = statistics.median(log.unit_seconds) if log.unit_seconds else 2.0
        before = finished_units(path)
        errors = path.with_suffix(f".stderr{log.starts}")  # a file, not a pipe: a full pipe would block the run
        with errors.open("w") as err:
            process = subprocess.Popen(cmd, env=env(), stdout=subprocess.DEVNULL, stderr=err,
                                       start_new_session=True)
        log.starts += 1
        started = time.monotonic()
        kill_at = started + rng.uniform(0.2, 1.0) * startup if early else None
        give_up = started + STALL  # a training kill waits this long for a trial to train (tuning may be over)
        first = last = None  # when this process finished its first and its latest unit
        done = before
        while process.poll() is None:
            now = time.monotonic()
            seen = finished_units(path)
            if seen > done:
                if first is None:
                    first = now
                    log.startup_seconds.append(now - started)
                    if not early and not in_training:
                        kill_at = now + rng.uniform(0.0, 2.0 * unit)
                    give_up = now + 4 * unit + 30
                elif last is not None:
                    log.unit_seconds.append((now - last) / (seen - done))
                done, last = seen, now
            if in_training and kill_at is None and (training(path) or now >= give_up):
                kill_at = now + rng.uniform(0.0, 0.5 * unit)
            if kill_at is not None and now >= kill_at:
                was_training = training(path)
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                log.in_training += was_training
                if early:
                    log.early += 1
                else:
                    log.working += 1
                break
            assert now - (last or started) < STALL, f"no trial or seed row finished in {STALL:.0f} s: {cmd}"
            time.sleep(POLL)
        else:
            assert process.returncode == 0, f"exit {process.returncode}: {errors.read_text()[-3000:]}"
            return True
    return False


def run_to_the_end(cmd: list[str], limit: float = 3600) -> None:
    out = subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=limit)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]


def stored(url: str, suite: str) -> dict:
    """Everything a run stores that must not depend on kills or workers: every row's status, parameters,
    test and validation scores, per-class scores and artifacts; every pair's status, budget, what it
    spent (counts, not seconds), best configuration and value; every charged trial's slot, parameters,
    value, state, per-epoch reports and attributes (timings and workers left out). Asserts on the way
    that no row is duplicated, no trial is left running, every study was charged exactly its budget and
    no interruption was charged or counted as a worker's own death (every kill took the whole run)."""
    store = Store(url)
    rows = store.results(suite, include_running=True)
    keys = [(r.dataset, r.method, r.split_seed, r.seed) for r in rows]
    assert len(keys) == len(set(keys)), "a result row is duplicated"
    storage = optuna_storage(url, 10)
    pairs = {}
    for p in store.pairs(suite):
        history = None
        if p.study_name:
            trials = optuna.load_study(study_name=p.study_name, storage=storage).get_trials(deepcopy=False)
            assert not [t for t in trials if t.state == TrialState.RUNNING], f"{p.study_name} has a running trial"
            charged = charged_trials(trials, p.budget["trials"])
            used = Spent.from_record(p.spent)
            assert len(charged) == p.budget["trials"] == used.trials, f"{p.study_name} spent {used}"
            assert not [t.number for t in charged if interrupted(t) or worker_died(t)], f"{p.study_name}: {used}"
            assert used.worker_deaths == 0 == sum(worker_died(t) for t in trials), f"{p.study_name}: {used}"
            history = [(t.user_attrs.get("slot"), t.params, t.value, t.state.name, t.intermediate_values,
                        untimed(t.user_attrs)) for t in charged]
        pairs[(p.dataset, p.method, p.split_seed)] = (str(p.status), p.reason, p.budget, untimed(p.spent),
                                                      p.best_params, p.best_value, history)
    return {"rows": {k: (str(r.status), r.reason, r.params, r.metrics, r.val_metrics, r.per_class, r.artifacts)
                     for k, r in zip(keys, rows, strict=True)},
            "pairs": pairs}


def untimed(record: dict) -> dict:
    return {k: v for k, v in (record or {}).items() if k not in TIMING_KEYS}


def interruptions(url: str, suite: str) -> int:
    """Trials that were interrupted and run again (not charged), over every pair."""
    return sum(Spent.from_record(p.spent).interrupted for p in Store(url).pairs(suite))


def integrity(url: str) -> str:
    return sqlite3.connect(store_path(url)).execute("PRAGMA integrity_check").fetchone()[0]
