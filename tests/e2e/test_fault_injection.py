"""Fault injection: random SIGKILLs of a small suite (one worker and two), many of them while pairs are
training, resumed until complete; what the run stores (scores, parameters, tuning histories: everything
but timings) must equal an uninterrupted single-worker run's bit for bit, with no row lost or
duplicated, every study charged exactly its budget and no interruption charged or counted as a
failure (issue 28: a run's own restarts never count against a method). A full disk under the store
ends in one line, the store intact, and the run resumes once space is freed.

By default (CI) the kill test lands ``BENCHMARK_FAULT_KILLS`` kills (5) of keel-yeast3 x 2 methods, 3
trials, both split seeds, with 1 and with 2 workers (the harness is :mod:`tests.e2e._kills`);
``BENCHMARK_FAULT_INJECTION=full`` runs the whole smoke suite instead, with 20 kills unless
``BENCHMARK_FAULT_KILLS`` says otherwise (issue 16's and issue 28's acceptance check: 20 kills with 2
workers, three times in a row); ``BENCHMARK_FAULT_SEED`` changes the kills' random draws::

    BENCHMARK_DATA=../shared/datasets BENCHMARK_FAULT_KILLS=20 python -m pytest -q -s \
        tests/e2e/test_fault_injection.py -k "kills and workers2"

The reference run builds the splits into the test session's empty split cache and the killed runs read
them back from it, as a first run and its resumes do. The full-disk test (one pair, about 15 s) runs in
CI wherever a tmpfs can be mounted.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e._kills import KillLog, env, integrity, interruptions, run_to_the_end, run_with_kills, stored

pytestmark = pytest.mark.slow

FULL = os.environ.get("BENCHMARK_FAULT_INJECTION", "") == "full"
KILLS = int(os.environ.get("BENCHMARK_FAULT_KILLS", "20" if FULL else "5"))
SEED = int(os.environ.get("BENCHMARK_FAULT_SEED", "16"))  # the kills' random draws (+ the workers)
SUBSET = [] if FULL else ["--datasets", "keel-yeast3", "--methods", "baseline,random-oversampling"]
TRIALS = [] if FULL else ["--trials", "3"]  # three trials a pair: kills land in tuning more often


def command(url: str, data_root: Path, output: Path, workers: int) -> list[str]:
    return [sys.executable, "-m", "benchmark", "run", "--suite", "smoke", *SUBSET, *TRIALS, "--storage", url,
            "--data-root", str(data_root), "--output", str(output), "--device", "cpu", "--workers", str(workers),
            "--quiet"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, data_root):
    folder = tmp_path_factory.mktemp("reference")
    url = f"sqlite:///{folder / 'results.db'}"
    started = time.monotonic()
    run_to_the_end(command(url, data_root, folder / "reports", workers=1))
    print(f"\nuninterrupted single-worker run: {time.monotonic() - started:.0f} s")
    return stored(url, "smoke")


def compare(got: dict, reference: dict) -> list[str]:
    """What differs, row by row and pair by pair (empty: identical)."""
    out = [f"row {k}: {'missing' if k not in got['rows'] else 'extra'}" for k in
           set(reference["rows"]) ^ set(got["rows"])]
    out += [f"row {k} differs in {fields(got['rows'][k], reference['rows'][k])}" for k in reference["rows"]
            if k in got["rows"] and got["rows"][k] != reference["rows"][k]]
    out += [f"pair {k} differs" for k in set(reference["pairs"]) | set(got["pairs"])
            if got["pairs"].get(k) != reference["pairs"].get(k)]
    return out


def fields(got: tuple, want: tuple) -> list[str]:
    """The parts of a stored row that differ, metrics by name (``metrics.ece``)."""
    names = ("status", "reason", "params", "metrics", "val_metrics", "per_class", "artifacts")
    out = []
    for name, a, b in zip(names, got, want, strict=True):
        if isinstance(a, dict) and isinstance(b, dict) and name in ("metrics", "val_metrics", "per_class"):
            out += [f"{name}.{key}" for key in sorted(set(a) | set(b)) if a.get(key) != b.get(key)]
        elif a != b:
            out.append(name)
    return out


@pytest.mark.parametrize("workers", [1, 2], ids=["workers1", "workers2"])
def test_random_sigkills_then_resume_give_the_uninterrupted_results(reference, tmp_path, data_root, workers):
    rng, log = random.Random(SEED + workers), KillLog()
    started = time.monotonic()
    stores = []
    while log.landed < KILLS:  # a run that completes before all kills landed is followed by a fresh one
        url = f"sqlite:///{tmp_path / f'results{len(stores)}.db'}"
        cmd = command(url, data_root, tmp_path / f"reports{len(stores)}", workers)
        finished = run_with_kills(cmd, url, KILLS - log.landed, rng, log)
        if not finished:
            run_to_the_end(cmd)  # the resume that finishes the run, without manual help
        stores.append(url)
    rows = identical = 0
    for url in stores:
        assert integrity(url) == "ok"
        got = stored(url, "smoke")
        assert all(row[0] == "ok" for row in got["rows"].values())
        rows += len(got["rows"])
        identical += sum(got["rows"].get(k) == v for k, v in reference["rows"].items())
        assert compare(got, reference) == []
    print(f"\n{workers} worker(s): {log.landed} SIGKILLs landed ({log.working} while working, {log.early} early; "
          f"{log.in_training} while a trial trained), {log.starts} starts, {len(stores)} run(s), "
          f"{sum(interruptions(u, 'smoke') for u in stores)} trials interrupted and re-run, none charged; "
          f"{rows} rows compared, {identical} identical; {time.monotonic() - started:.0f} s")
    assert log.landed >= KILLS
    assert log.in_training >= max(1, KILLS // 4), "too few kills landed while pairs were training"


def test_a_full_disk_ends_in_one_line_with_the_store_intact_and_the_run_resumes(tmp_path, data_root):
    from tests.report.test_report_robustness import can_mount

    if not can_mount():
        pytest.skip("mounting a tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    # 1 MB: the run's store outgrows it mid-run (2 MB held the whole baseline run once writes were batched)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], check=True)
    try:
        url = f"sqlite:///{disk / 'results.db'}"
        cmd = [*command(url, data_root, disk / "reports", workers=1), "--methods", "baseline", "--seeds", "1"]
        out = subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=600)
        assert out.returncode != 0
        lines = [line for line in out.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr[-3000:]
        assert f"no space left on the device for the results store {disk / 'results.db'}" in lines[0]
        assert "MB are free" in lines[0]
        assert integrity(url) == "ok"
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)  # space freed
        run_to_the_end(cmd)
        assert integrity(url) == "ok" and not list(disk.rglob("*.tmp"))
        got = stored(url, "smoke")  # every study spent its budget, no running trial left, no row twice
        assert got["rows"] and all(row[0] == "ok" for row in got["rows"].values())
    finally:
        subprocess.run(["umount", "--lazy", str(disk)], check=True)  # this process still holds the store open
