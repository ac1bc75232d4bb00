"""The documentation's catalogue, generated from the registries at build time: one page per method and
per dataset, and an index of each, so that the site never lists a method the code lacks or misses one it
has (tests/test_docs.py checks every registered entry has its page with its fields).

A method page: summary, family, modalities, engines, the search space as ``show method`` records it, the
known differences from the authors' code, the reference-test status (a record under
``tests/reference/data/`` naming the row, with the authors' repository and commit), and the paper's BibTeX.
A dataset page: the card (description, modality, classes), sizes per part of the split, imbalance ratio,
duplicates, licence, source, the files it reads and their SHA-256. Duplicates and the SHA-256 of the files
come from the data when the build finds it (the package's copies, or ``$BENCHMARK_DATA``; never
downloaded); otherwise the page says what the run will count and check.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

REFERENCE_DATA = Path(__file__).resolve().parents[2] / "tests" / "reference" / "data"
# Datasets whose split the build makes to count duplicates: tables and texts up to this many rows (seconds).
DUPLICATE_COUNT_ROWS = 60_000


def md(text: Any) -> str:
    """Free text as Markdown that renders as written (no emphasis, links or HTML from its characters)."""
    out = str(text)
    for ch in "\\`*_[]<>|#$":
        out = out.replace(ch, "\\" + ch)
    return " ".join(out.split())


def reference_records(folder: Path = REFERENCE_DATA) -> dict[str, list[dict[str, Any]]]:
    """Row name -> the reference records (tests/reference/data/*.json) that compare it with its authors' code."""
    records: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("row"), str):
            records.setdefault(data["row"], []).append({"file": path.name, "source": data.get("source") or {}})
    return records


def reference_text(name: str, records: dict[str, list[dict[str, Any]]]) -> list[str]:
    found = records.get(name, [])
    if not found:
        return ["None yet: no test compares this row's figures with its authors' published code "
                "(its shipped conformance checks still run; see How to write a method)."]
    lines = []
    for rec in found:
        src = rec["source"]
        what = f", `{src['file']}`" if src.get("file") else ""
        commit = str(src.get("commit", "?"))
        commit = f"`{commit[:12]}`" if all(c in "0123456789abcdef" for c in commit) else md(commit)
        lines.append(f"- `tests/reference/data/{rec['file']}`: compared with {md(src.get('repository', '?'))} at "
                     f"{commit}{what}"
                     + (f" ({md(src['function'])})" if src.get("function") else ""))
    return lines


def method_page(name: str, method: Any, space: dict[str, Any], asked_on: str | None,
                records: dict[str, list[dict[str, Any]]]) -> str:
    """One method's page (Markdown)."""
    from benchmark.cli.search_space import describe
    from benchmark.report.names import method_label

    lines = [f"(method-{name})=", f"# {name}", "", f"**{md(method_label(name))}**: {md(method.summary)}", "",
             "| | |", "|---|---|", f"| Family | `{method.family}` |",
             f"| Modalities | {', '.join(method.modalities)} |", f"| Engines | {', '.join(method.engines)} |",
             f"| Paper | {('`' + method.paper_key + '`') if method.paper_key else 'none (the reference row)'} |"]
    if method.parts:
        lines.append(f"| Parts | {', '.join(f'[{p}](#method-{p})' for p in method.parts)} |")
    for modality, settings in method.requires.items():
        lines.append(f"| Needs on {modality} | {md(', '.join(f'{k}={v!r}' for k, v in settings.items()))} |")
    lines += ["", "## Search space", ""]
    if "error" in space:
        lines.append(f"Could not be recorded on a tiny split: {md(space['error'])}.")
    elif not space:
        lines.append("Nothing to tune: the suite's shared settings (learning rate, weight decay) only.")
    else:
        lines += [f"Recorded as `python -m benchmark show method {name}` records it (asked on the tiny split "
                  f"`{asked_on}`), besides the suite's shared settings:", "", "```text", *describe(space), "```"]
    lines += ["", "## Known differences from the authors' code", "",
              md(method.differences) if method.differences.strip() else "None stated.", "",
              "## Reference test", "", *reference_text(name, records), "", "## Paper", ""]
    lines += ["```bibtex", method.paper.strip(), "```"] if method.paper.strip() else ["No paper: this is the "
                                                                                        "reference row."]
    return "\n".join(lines) + "\n"


def data_facts(entry: Any) -> dict[str, Any]:
    """What the data the build finds says: the SHA-256 of each file present, and the duplicates of split
    seed 0 for tables and texts small enough to split in seconds. Empty when the files are absent."""
    from benchmark.datasets.base import resolve_data_root, source_fingerprint
    from benchmark.datasets.download import downloads_off

    root = resolve_data_root(os.environ.get("BENCHMARK_DATA") or None)
    facts: dict[str, Any] = {"files": source_fingerprint(root, entry.files) if entry.files else []}
    rows = sum(entry.stats.class_counts) if entry.stats.class_counts else None
    small = entry.modality != "image" and rows is not None and rows <= DUPLICATE_COUNT_ROWS
    if small and (facts["files"] or not entry.files):
        try:
            with downloads_off():
                facts["duplicates"] = entry.load(root, 0).info.get("duplicates")
        except Exception as exc:  # noqa: BLE001 - the page says why it shows no count
            facts["duplicates_error"] = f"{type(exc).__name__}: {exc}"
    return facts


def dataset_page(name: str, entry: Any, facts: dict[str, Any]) -> str:
    """One dataset's page (Markdown)."""
    from benchmark.datasets.download import PINNED_SHA256

    stats, sizes = entry.stats, entry.split_sizes()
    names = list(entry.class_names) or [str(c) for c in range(entry.num_classes)]
    rows = (f"{sum(stats.class_counts):,}" if stats.class_counts else
            f"{sum(stats.long_tail_counts):,} long-tailed + {sum(stats.test_counts):,} official test"
            if stats.long_tail_counts else "not stated by the card")
    ratio = f"{stats.imbalance_ratio:g}" if stats.imbalance_ratio else "not stated by the card"
    lines = [f"(dataset-{name})=", f"# {name}", "", md(entry.description), "", "| | |", "|---|---|",
             f"| Modality | {entry.modality} |", f"| Classes | {entry.num_classes}: {md(', '.join(names[:20]))}"
             + (f" and {len(names) - 20} more" if len(names) > 20 else "") + " |",
             f"| Rows | {rows} |", f"| Imbalance ratio | {ratio} (largest / smallest class) |"]
    if sizes is not None:
        for part in ("train", "val", "test"):
            counts = getattr(sizes, part)
            shown = " / ".join(str(c) for c in counts[:20]) + (" / ..." if len(counts) > 20 else "")
            lines.append(f"| {part} (split seed 0, from the card) | {sizes.rows(part):,} rows: {shown} |")
    lines += [f"| Duplicates | {duplicates_text(facts)} |", f"| Licence | {md(entry.license)} |",
              f"| Source | {md(entry.source)} |",
              f"| Files | {md(', '.join(entry.files)) if entry.files else 'none: made in code'} |"]
    lines += ["", "## SHA-256 of the files", ""]
    pinned = pinned_hashes(entry, PINNED_SHA256)
    found = [(rel, digest) for rel, _, digest in facts.get("files", []) if digest]
    if not pinned and not found:
        lines.append("No file was found where this page was built, and the source publishes no hash to pin; every "
                     "run records the SHA-256 of each file it reads in the split's cache key and the report.")
    for rel, digest in pinned:
        lines.append(f"- pinned (a download must match): `{rel}`: `{digest}`")
    for rel, digest in found:
        lines.append(f"- the copy this page was built from: `{rel}`: `{digest}`")
    lines += ["", "## Citation", ""]
    lines += ["```bibtex", entry.citation.strip(), "```"] if entry.citation.strip() else ["No citation is registered."]
    return "\n".join(lines) + "\n"


def pinned_hashes(entry: Any, pins: dict[str, str]) -> list[tuple[str, str]]:
    """The pinned SHA-256 of the files ``entry`` reads (or of the archive its source URL names)."""
    from benchmark.datasets.base import source_candidates

    candidates = set(source_candidates(entry.files))
    archive = entry.source.rsplit("/", 1)[-1]
    return [(key, digest) for key, digest in pins.items()
            if key in candidates or key == entry.source or (archive and key == archive)]


def duplicates_text(facts: dict[str, Any]) -> str:
    record = facts.get("duplicates")
    if isinstance(record, dict):
        conflicting = record.get("conflicting_groups") or 0
        return (f"{record.get('duplicate_rows', 0)} duplicate rows in {record.get('groups', 0)} groups"
                + (f", {conflicting} with conflicting labels" if conflicting else "")
                + " (split seed 0; each group lies in one part of the split)")
    why = "its files were not found where this page was built" if not facts.get("duplicates_error") and \
        not facts.get("files") else "not counted at build time for a dataset this large"
    return f"counted when a run splits it ({why}); each group of equal rows lies in one part of the split"


def index_page(title: str, intro: str, rows: list[tuple[str, ...]], header: tuple[str, ...], folder: str) -> str:
    lines = [f"# {title}", "", intro, "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join((f"[{r[0]}]({folder}/{r[0]}.md)", *(md(c) for c in r[1:]))) + " |" for r in rows]
    lines += ["", "```{toctree}", ":hidden:", "", *(f"{folder}/{r[0]}" for r in rows), "```"]
    return "\n".join(lines) + "\n"


def write_catalogue(out: Path) -> list[Path]:
    """Write ``methods.md``, ``datasets.md`` and a page per method and dataset under ``out``; returns
    the pages written. Pages of entries no longer registered are removed."""
    from benchmark.cli.search_space import recorded_search_space
    from benchmark.datasets import dataset_registry
    from benchmark.methods import method_registry

    written: list[Path] = []
    records = reference_records()
    (out / "methods").mkdir(parents=True, exist_ok=True)
    (out / "datasets").mkdir(parents=True, exist_ok=True)
    methods = list(method_registry.items(None))
    for name, method in methods:
        space, asked_on = recorded_search_space(method)
        written.append(_write(out / "methods" / f"{name}.md", method_page(name, method, space, asked_on, records)))
    written.append(_write(out / "methods.md", index_page(
        "Methods", f"The {len(methods)} registered methods (`python -m benchmark list methods`), each with its paper, "
        "search space, known differences from the authors' code and reference-test status.",
        [(n, m.family, ", ".join(m.modalities), m.summary) for n, m in methods],
        ("method", "family", "modalities", "summary"), "methods")))
    datasets = list(dataset_registry.items(None))
    for name, entry in datasets:
        written.append(_write(out / "datasets" / f"{name}.md", dataset_page(name, entry, data_facts(entry))))
    written.append(_write(out / "datasets.md", index_page(
        "Datasets", f"The {len(datasets)} registered datasets (`python -m benchmark list datasets`), each with its "
        "card, sizes, imbalance, duplicates, licence, source and file hashes.",
        [(n, d.modality, str(d.num_classes), f"{d.stats.imbalance_ratio:g}" if d.stats.imbalance_ratio else "?")
         for n, d in datasets], ("dataset", "modality", "classes", "imbalance ratio"), "datasets")))
    keep = set(written)
    for old in [*(out / "methods").glob("*.md"), *(out / "datasets").glob("*.md")]:
        if old not in keep:
            old.unlink()
    return written


def _write(path: Path, text: str) -> Path:
    """Write only when the text changed, so Sphinx rebuilds only the pages that did."""
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return path
