"""What produced a result: versions, commit, host and device, stored with every row."""

from __future__ import annotations

import functools
import os
import platform
import socket
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import benchmark

PACKAGES = ("torch", "torchvision", "numpy", "scikit-learn", "imbalanced-learn", "optuna", "pandas", "SQLAlchemy")
# The entry-point groups through which other packages add methods, datasets and suites.
PLUGIN_GROUPS = ("benchmark.methods", "benchmark.datasets", "benchmark.suites")


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The project's git commit (with '-dirty' when the tree has changes), or None outside a checkout."""
    root = Path(benchmark.__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=5)
        return commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


@functools.lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


@functools.lru_cache(maxsize=1)
def plugin_distributions() -> dict[str, dict[str, Any]]:
    """The installed distributions that provide entry points in :data:`PLUGIN_GROUPS` (other than
    this project): ``{name: {"version": ..., "entry_points": ["group:name", ...]}}``, so a row says
    which plugin packages, at which versions, could have produced it."""
    found: dict[str, dict[str, Any]] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"] if dist.metadata else None
        points = sorted(f"{ep.group}:{ep.name}" for ep in dist.entry_points if ep.group in PLUGIN_GROUPS)
        if not name or not points or name == "imbalance-benchmark":
            continue
        found[name] = {"version": dist.version, "entry_points": points}
    return dict(sorted(found.items()))


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(torch.device(device))
    return f"cpu ({platform.processor() or platform.machine()})"


@functools.lru_cache(maxsize=4)
def hardware(device: str = "cpu") -> dict[str, Any]:
    """The machine a row ran on, as a methods section states it: the CPU's model, its cores (those this
    process may use), the memory, and on CUDA the GPU's name and memory. Unknown facts are left out."""
    facts: dict[str, Any] = {"machine": platform.machine()}
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), None)
    except OSError:
        model = None
    if model or platform.processor():
        facts["cpu"] = model or platform.processor()
    try:
        facts["cores"] = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        facts["cores"] = os.cpu_count()
    try:
        facts["memory_gib"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (AttributeError, ValueError, OSError):
        pass
    if device.startswith("cuda"):
        import torch

        props = torch.cuda.get_device_properties(torch.device(device))
        facts.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1))
    return facts


def provenance(device: str = "cpu", commit: str | None = None) -> dict[str, Any]:
    """Versions, commit, host and device; ``commit`` is the run's (read when it started), else this
    process's first reading of the checkout."""
    return {
        "benchmark_version": benchmark.__version__,
        "git_commit": commit or git_commit(),
        "packages": package_versions(),
        "plugins": plugin_distributions(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "device": device,
        "device_name": device_name(device),
        "hardware": hardware(device),
    }
