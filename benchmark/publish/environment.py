"""What a bundle records about where its results came from: the suite's definition and digest, the
environment's lock (every installed distribution and its version), the hardware its rows ran on, and
the SHA-256 of every data file the suite's datasets read."""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmark.datasets import dataset_registry, resolve_data_root
from benchmark.datasets.scenarios import split_name
from benchmark.report.records import StoredRun
from benchmark.store.provenance import hardware
from benchmark.suites import Suite


def suite_definition(suite: Suite) -> dict[str, Any]:
    """The suite's card with its pruner: everything that makes its figures comparable."""
    return {**suite.card(), "pruner": suite.pruner}


def suite_digest(definition: dict[str, Any]) -> str:
    """SHA-256 over the canonical JSON of a suite's definition (its description's wording left out: it
    changes no figure)."""
    settings = {k: v for k, v in definition.items() if k != "description"}
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()


def environment_lock() -> dict[str, Any]:
    """Python, the platform and every installed distribution with its version (the lock)."""
    packages: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"] if dist.metadata else None
        if name:
            packages[name] = dist.version
    return {"python": platform.python_version(), "implementation": sys.implementation.name,
            "platform": platform.platform(), "machine": platform.machine(),
            "packages": dict(sorted(packages.items(), key=lambda kv: kv[0].lower()))}


PROJECT = "imbalance-benchmark"  # this package's own distribution: installed from the checkout, never pinned


def constraints_text(lock: dict[str, Any]) -> str:
    """The lock as a pip constraints file (``name==version`` a line), so that a reader installs the versions a
    bundle's rows ran with: ``pip install -c DIR/constraints.txt -e ".[all]"``. Then ``verify`` compares
    exactly instead of within its tolerance (a fresh install takes the newest versions: 22 differed, Optuna
    among them, a month after the lock was made)."""
    lines = [f"# The versions the bundle's rows ran with (Python {lock.get('python')}, {lock.get('machine')}): "
             'pip install -c constraints.txt -e ".[all]"']
    lines += [f"{name}=={version}" for name, version in (lock.get("packages") or {}).items()
              if name.lower() != PROJECT]
    return "\n".join(lines) + "\n"


def run_hardware(run: StoredRun) -> list[dict[str, Any]]:
    """The distinct machines (CPU model, cores, memory; GPU name and memory where used) and devices
    the suite's seed rows ran on, as their provenance records them."""
    seen: dict[str, dict[str, Any]] = {}
    for r in run.results:
        prov = r.provenance or {}
        facts = {"device": prov.get("device"), "device_name": prov.get("device_name"),
                 **(prov.get("hardware") if isinstance(prov.get("hardware"), dict) else {})}
        seen.setdefault(json.dumps(facts, sort_keys=True, default=str), facts)
    return [seen[k] for k in sorted(seen)]


def same_machine(recorded: list[dict[str, Any]], device: str = "cpu") -> bool:
    """Whether this machine is the one (only) machine the rows ran on: CPU model, and GPU where used."""
    here = hardware(device)
    return len(recorded) == 1 and all(recorded[0].get(k) == here.get(k) for k in ("cpu", "machine", "gpu"))


def data_files(datasets: list[str], suite: Suite, data_root: str | None) -> dict[str, list[list[Any]]]:
    """dataset -> [[path, size, SHA-256], ...] of each source file it reads under the data root (a
    dataset read from a file: that file). A file that is absent here is listed with size and digest null."""
    root = resolve_data_root(data_root)
    found: dict[str, list[list[Any]]] = {}
    for name in datasets:
        entry = suite.file_datasets.get(name)
        if entry is None:
            base = name if name in dataset_registry else split_name(name)[0]
            if base not in dataset_registry:
                found[name] = []
                continue
            entry = dataset_registry.get(base)
        recorded = [list(r) for r in entry.source_record(Path(root))]
        # None found here (a dataset built in code reads no file; or the files are elsewhere): named, undigested
        found[name] = recorded or [[f, None, None] for f in getattr(entry, "files", ())]
    return found
