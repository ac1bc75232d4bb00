"""What produced the results of a report, gathered from the provenance stored with every seed row,
and what a published page may say about the machine it was built on.

A report goes into papers' supplements, double-blind ones too: no page may hold an absolute path of
the machine that built it. :func:`public_store_url` shows the results store by its file name only
(``sqlite:///…/benchmark.db``), passwords masked; :func:`scrub_paths` replaces the folders a report
knows of (the store's, the output's, the data root, the working and home folders) wherever else they
appear (a stored failure reason, say).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.report.history import TuningHistory
from benchmark.report.records import StoredRun


@dataclass
class ProvenanceSummary:
    versions: list[str] = field(default_factory=list)
    commits: list[str] = field(default_factory=list)
    packages: dict[str, list[str]] = field(default_factory=dict)
    hosts: list[str] = field(default_factory=list)
    platforms: list[str] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)
    hardware: list[str] = field(default_factory=list)  # CPU model, cores, memory, GPU and its memory, per machine
    plugins: list[str] = field(default_factory=list)  # plugin distributions that could have defined rows
    engines: list[str] = field(default_factory=list)
    budgets: list[dict[str, Any]] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    split_seeds: list[Any] = field(default_factory=list)
    started: dt.datetime | None = None
    finished: dt.datetime | None = None
    results_hash: str = ""
    scores_hash: str = ""
    rows: int = 0

    @property
    def date(self) -> dt.datetime:
        """The date a citation of these results carries: when the last of them was stored."""
        return self.finished or dt.datetime(1970, 1, 1)

    def warnings(self) -> list[str]:
        notes = []
        if len(self.commits) > 1 or len(self.versions) > 1:
            notes.append("results come from more than one version or commit of the benchmark")
        if any(c.endswith("-dirty") for c in self.commits):
            notes.append("some results were produced from a working tree with uncommitted changes (-dirty)")
        if len(self.budgets) > 1:
            notes.append("pairs of this suite were run with different budgets: their figures are not comparable")
        return notes


def _sorted_set(values: Any) -> list:
    return sorted({v for v in values if v not in (None, "")}, key=str)


def summarize(run: StoredRun, histories: dict[tuple[str, str], TuningHistory], results_hash: str,
              scores_hash: str = "") -> ProvenanceSummary:
    rows = [r for r in run.results if r.provenance]
    prov = [r.provenance for r in rows]
    packages: dict[str, set[str]] = {}
    for p in prov:
        for name, version in (p.get("packages") or {}).items():
            packages.setdefault(name, set()).add(str(version))
    budgets = Counter(json.dumps(p.budget, sort_keys=True) for p in run.pairs if p.budget)
    starts = [r.created_at for r in run.results if r.created_at] + [h.started for h in histories.values() if h.started]
    ends = [r.updated_at for r in run.results if r.updated_at] + [h.finished for h in histories.values() if h.finished]
    return ProvenanceSummary(
        versions=_sorted_set(p.get("benchmark_version") for p in prov),
        commits=_sorted_set(p.get("git_commit") for p in prov),
        packages={k: sorted(v) for k, v in sorted(packages.items(), key=lambda kv: kv[0].lower())},
        hosts=_sorted_set(p.get("host") for p in prov),
        platforms=_sorted_set(p.get("platform") for p in prov),
        devices=_sorted_set(p.get("device_name") or p.get("device") for p in prov),
        hardware=_sorted_set(hardware_text(p.get("hardware")) for p in prov),
        plugins=_sorted_set(text for p in prov for text in plugin_texts(p.get("plugins"))),
        engines=_sorted_set([p.get("engine") for p in prov] + [p.engine for p in run.pairs]),
        budgets=[json.loads(b) for b, _ in budgets.most_common()],
        seeds=sorted({r.seed for r in run.results if r.seed is not None}),
        split_seeds=sorted({p.split_seed for p in run.pairs} | {r.split_seed for r in run.results}),
        started=min(starts) if starts else None,
        finished=max(ends) if ends else None,
        results_hash=results_hash,
        scores_hash=scores_hash,
        rows=len(run.results),
    )


def hardware_text(facts: Any) -> str | None:
    """``AMD EPYC 7763 (x86_64), 16 cores, 125.8 GiB memory; GPU NVIDIA H100 80GB HBM3, 79.1 GiB`` from a
    row's ``hardware`` record (:func:`benchmark.store.provenance.hardware`); None for rows stored without one."""
    if not isinstance(facts, dict) or not facts:
        return None
    text = f"{facts.get('cpu') or 'CPU'}" + (f" ({facts['machine']})" if facts.get("machine") else "")
    text += f", {facts['cores']} cores" if facts.get("cores") else ""
    text += f", {facts['memory_gib']:g} GiB memory" if isinstance(facts.get("memory_gib"), int | float) else ""
    if facts.get("gpu"):
        memory = facts.get("gpu_memory_gib")
        text += f"; GPU {facts['gpu']}" + (f", {memory:g} GiB" if isinstance(memory, int | float) else "")
    return text


def plugin_texts(plugins: Any) -> list[str]:
    """``my-plugin 0.1.0 (benchmark.methods:weighted-focal-loss)`` for each plugin distribution a row's
    provenance lists: the packages whose entry points add methods, datasets or suites."""
    if not isinstance(plugins, dict):
        return []
    return [f"{name} {info.get('version', '?')} ({', '.join(info.get('entry_points') or [])})"
            for name, info in plugins.items() if isinstance(info, dict)]


HIDDEN = "…"


def public_store_url(url: str) -> str:
    """The results store as a page may show it: a SQLite file by its name only (``sqlite:///…/x.db``,
    read-only ``file:`` URLs too, their query kept), other databases with the password masked."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:
        return "a results store (its URL could not be parsed)"
    if parsed.get_backend_name() != "sqlite":
        return parsed.render_as_string(hide_password=True)
    database = parsed.database or ""
    if not database or database == ":memory:":
        return f"{parsed.drivername}://" + (f"/{database}" if database else "")
    prefix = "file:" if database.startswith("file:") else ""
    name = Path(database.removeprefix("file:").split("?", 1)[0]).name or "database"
    query = ("?" + database.split("?", 1)[1]) if "?" in database else ""
    if parsed.query:
        query += ("&" if query else "?") + "&".join(f"{k}={v}" for k, v in sorted(parsed.query.items()))
    return f"{parsed.drivername}:///{prefix}{HIDDEN}/{name}{query}"


def private_folders(*paths: str | os.PathLike | None) -> list[str]:
    """The absolute forms of ``paths`` and of the working and home folders, longest first, for
    :func:`scrub_paths` (the file system root alone is never one)."""
    found = set()
    for p in (*paths, Path.cwd(), Path.home()):
        if p is None or str(p) == "":
            continue
        for form in {str(Path(p).expanduser().absolute()), str(Path(p).expanduser().resolve())}:
            if form.strip(os.sep):
                found.add(form.rstrip(os.sep))
    return sorted(found, key=len, reverse=True)


def scrub_paths(text: str, folders: list[str]) -> str:
    """``text`` with each of ``folders`` (where it starts a path) replaced by ``…``."""
    for folder in folders:
        text = re.sub(r"(?<![\w.~-])" + re.escape(folder) + r"(?![\w.~-])", HIDDEN, text)
    return text
