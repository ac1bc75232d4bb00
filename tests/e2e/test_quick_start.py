"""Acceptance 17.1: the README's quick start, as a newcomer runs it on a fresh machine.

No data root (no ``BENCHMARK_DATA``), empty home and cache folders, no network (``BENCHMARK_OFFLINE=1``),
a working folder with nothing in it: the smoke suite's data comes from the package (its KEEL set and
SMS subset ship in ``benchmark/datasets/data/``, digits with scikit-learn). About 80 s on 2 cores.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest

from benchmark.datasets.packaged import PACKAGED_ROOT


@pytest.mark.slow
def test_quick_start_runs_offline_without_a_data_root(tmp_path):
    home, cache, work = tmp_path / "home", tmp_path / "xdg-cache", tmp_path / "work"
    for folder in (home, cache, work):
        folder.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BENCHMARK_")}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(cache), BENCHMARK_OFFLINE="1", HF_HUB_OFFLINE="1")
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "benchmark", "run", "--suite", "smoke", "--storage",
                             f"sqlite:///{tmp_path / 'r.db'}", "--output", str(tmp_path / "reports")],
                            cwd=work, env=env, capture_output=True, text=True, timeout=600)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-3000:]
    index = tmp_path / "reports" / "smoke" / "index.html"
    html = index.read_text()
    for dataset in ("digits-lt", "sms-spam-mini", "keel-yeast3"):
        assert f"datasets/{dataset}.html" in html
    assert "data-status=\"data-unavailable\"" not in html and "36 complete" in " ".join(result.stderr.split())
    assert re.search(r"scores hash sha256:[0-9a-f]{12}", " ".join(result.stderr.split()))
    # The splits were built from the packaged files into the user cache, nothing beside the repository.
    assert list(work.iterdir()) == [] and any((cache / "imbalance-benchmark").rglob("*.npz"))
    assert (PACKAGED_ROOT / "keel" / "yeast3.dat").is_file()
    # No page or export of the report holds an absolute path of this machine.
    for path in (tmp_path / "reports").rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert str(tmp_path) not in text and str(home) not in text, path
    assert elapsed < 240, f"the quick start took {elapsed:.0f} s"
