"""Ctrl-C and SIGTERM in the middle of a trial: exit status 130 / 143, one line saying the finished work
is stored and giving the command that resumes it, and a store that is intact."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest


def running_trials(db: Path) -> int:
    """Optuna's trials in state RUNNING (0 while the tables do not exist yet)."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM trials WHERE state = 'RUNNING'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


@pytest.mark.parametrize("signum, status, word", [(signal.SIGINT, 130, "interrupted (Ctrl-C)"),
                                                  (signal.SIGTERM, 143, "terminated (SIGTERM)")])
def test_a_signal_during_a_trial_ends_the_run_with_its_status_and_how_to_resume(signum, status, word, tmp_path,
                                                                                 data_root):
    db = tmp_path / "store.db"
    args = ["run", "--suite", "smoke", "--datasets", "keel-yeast3", "--methods", "baseline", "--trials", "30",
            "--data-root", str(data_root), "--storage", f"sqlite:///{db}", "--output", str(tmp_path / "reports")]
    proc = subprocess.Popen([sys.executable, "-m", "benchmark", *args], cwd=tmp_path, env=os.environ.copy(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while running_trials(db) == 0:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no trial started within 120 s"
            time.sleep(0.1)
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == status, stderr
    assert "Traceback" not in stderr
    last = [line for line in stderr.splitlines() if line.strip()][-1]
    assert last.startswith(f"{word}: every finished trial and seed is stored"), stderr
    assert last.endswith("python -m benchmark " + " ".join(args)), last  # the same command resumes
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        # The trial in flight is failed "interrupted" by the trial loop, or, when the signal lands while
        # Optuna creates it, left RUNNING without a heartbeat for the next run to fail after its grace
        # period: never more than that one.
        assert conn.execute("SELECT count(*) FROM trials WHERE state = 'RUNNING'").fetchone()[0] <= 1
    assert not (tmp_path / "reports").exists()  # an interrupted run writes no half report
