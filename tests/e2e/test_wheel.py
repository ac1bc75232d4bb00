"""The wheel works on its own: built from this checkout, checked by twine, installed into a fresh virtual
environment (no clone on its path), it runs the smoke suite offline from a folder outside the clone, with
the packaged data, templates and report assets (issue 29).

A fresh environment with torch would take minutes and 5.5 GB, so the new environment has no pip and no
packages of its own: a ``.pth`` file puts this environment's site-packages (the dependencies) after its
own, and the wheel is installed into it with ``--no-deps``. The test asserts that ``benchmark`` is then
imported from the new environment, never from the clone (this environment's editable install is a ``.pth``
of *its* site-packages, which is not processed when that folder is only on the path).
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

import benchmark

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(cmd)} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """A wheel and an sdist of this checkout (built without an isolated environment: offline, seconds)."""
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)], cwd=out)
    return out


def test_wheel_and_sdist_pass_twine_and_carry_the_packaged_files(dist):
    wheel, sdist = next(dist.glob("*.whl")), next(dist.glob("*.tar.gz"))
    run([sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)], cwd=dist)
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("benchmark/report/templates/index.html.j2", "benchmark/report/templates/report.css",
                   "benchmark/report/templates/report.js", "benchmark/datasets/data/keel/yeast3.dat",
                   "benchmark/datasets/data/sms_spam/SMSSpamCollection-mini", "benchmark/datasets/keel_catalog.json"):
        assert needed in names, f"{needed} is not in {wheel.name}"
    assert f"imbalance_benchmark-{benchmark.__version__}-py3-none-any.whl" == wheel.name  # one version, everywhere


def test_the_installed_wheel_runs_the_smoke_suite_offline_outside_the_clone(dist, tmp_path):
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path)
    python = venv / "bin" / "python"
    site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                    cwd=tmp_path).stdout.strip())
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    wheel = next(dist.glob("*.whl"))
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)],
        cwd=tmp_path)
    work = tmp_path / "elsewhere"  # a folder outside the clone: nothing of the checkout is found from here
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("BENCHMARK_DATA", "PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HOME=str(tmp_path / "home"), XDG_CACHE_HOME=str(tmp_path / "cache"), BENCHMARK_CACHE=str(tmp_path / "c"),
               BENCHMARK_OFFLINE="1", HF_HUB_OFFLINE="1", PATH=f"{venv / 'bin'}:{env.get('PATH', '')}")
    where = run([str(python), "-c", "import benchmark; print(benchmark.__file__)"], cwd=work, env=env).stdout.strip()
    assert Path(where).resolve().is_relative_to(venv.resolve()), f"benchmark was imported from {where}, not the wheel"
    version = run([str(python), "-m", "benchmark", "--version"], cwd=work, env=env).stdout
    assert version.strip() == f"imbalance-benchmark {benchmark.__version__}"
    done = run([str(python), "-m", "benchmark", "run", "--suite", "smoke", "--trials", "1", "--seeds", "1",
                "--storage", f"sqlite:///{work / 'results.db'}", "--output", str(work / "reports")], cwd=work, env=env)
    index = work / "reports" / "smoke" / "index.html"
    html = index.read_text()
    assert "data-unavailable" not in done.stderr and "36 complete" in " ".join(done.stderr.split()), done.stderr
    assert f"imbalance-benchmark {benchmark.__version__}" in html and "<style>" in html and "@software{" in html
    assert (work / "results.db").is_file() and not (work / "results").exists()
