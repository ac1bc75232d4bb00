"""scripts/gpu-check runs its steps and reports them; on a CPU (--cpu) the GPU tests skip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu-check"


def json_in(log: Path) -> dict:
    """The JSON a step printed (its log may hold warnings before it)."""
    text = log.read_text()
    return json.loads(text[text.index("{"):])


@pytest.mark.slow
def test_gpu_check_runs_every_step_on_a_cpu(tmp_path, data_root):
    env = {**os.environ, "GPU_CHECK_OUT": str(tmp_path), "PYTHON": sys.executable, "BENCHMARK_DATA": str(data_root)}
    done = subprocess.run(["bash", str(SCRIPT), "--cpu"], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "gpu-check (cpu): all steps passed" in done.stdout
    assert "skipped" in (tmp_path / "gpu-tests.log").read_text()  # the GPU tests ran, and skipped here
    speed, plan = (json_in(tmp_path / f"{name}.log") for name in ("speed-small-cnn", "plan-vision-lt"))
    assert speed["loops"] and speed["device"] == "cpu"
    assert plan["intended_device"] == "gpu" and plan["totals"]["gpu_hours"] > 0


def test_gpu_check_refuses_an_unknown_option(tmp_path):
    done = subprocess.run(["bash", str(SCRIPT), "--gpus"], capture_output=True, text=True,
                          env={**os.environ, "GPU_CHECK_OUT": str(tmp_path)}, timeout=60)
    assert done.returncode == 2 and "usage: scripts/gpu-check [--cpu]" in done.stderr
