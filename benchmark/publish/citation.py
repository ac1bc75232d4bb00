"""How to cite a bundle: a ``CITATION.cff`` (GitHub's "Cite this repository" reads the format) and a
BibTeX entry, both naming the suite, the bundle's version and date, and its scores hash."""

from __future__ import annotations

import json
import re
from typing import Any

from benchmark.report.citation import TOOL_AUTHOR, TOOL_TITLE


def _braced(text: str) -> str:
    """A BibTeX field value: LaTeX specials escaped, braces balanced."""
    text = text.replace("\\", "/").replace("{", "(").replace("}", ")")
    return re.sub(r"([&%$#_])", r"\\\1", text)


def bundle_key(meta: dict[str, Any]) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", f"imbalance-benchmark-{meta['suite']}-{meta['version']}-"
                                          f"{meta['scores_hash'][:8]}").strip("-")


def _title(meta: dict[str, Any]) -> str:
    return f"Imbalance benchmark reference results: suite {meta['suite']}, version {meta['version']}"


def _note(meta: dict[str, Any]) -> str:
    counts = meta["counts"]
    return (f"{counts['cells']} cells, {counts['seed_rows']} seed rows; scores hash sha256:{meta['scores_hash']}; "
            f"results hash sha256:{meta['results_hash']}; made with imbalance-benchmark {meta['benchmark_version']}")


def bundle_bibtex(meta: dict[str, Any]) -> str:
    """The bundle's BibTeX entry (``@misc``), keyed by suite, version and scores hash."""
    date = meta["published"][:10]
    fields = {"title": "{" + _braced(_title(meta)) + "}", "author": "{" + TOOL_AUTHOR + "}",
              "year": date[:4], "month": str(int(date[5:7])), "version": _braced(meta["version"]),
              "howpublished": _braced(f"Result bundle of suite {meta['suite']} (python -m benchmark verify "
                                      "re-checks it)"),
              "note": _braced(_note(meta))}
    body = ",\n".join(f"  {k} = {v if k in ('year', 'month') else '{' + v + '}'}" for k, v in fields.items())
    return f"@misc{{{bundle_key(meta)},\n{body}\n}}"


def bundle_cff(meta: dict[str, Any]) -> str:
    """The bundle's ``CITATION.cff`` (CFF 1.2.0: a dataset, referencing the tool that made it)."""
    q = json.dumps  # a JSON string is a valid YAML double-quoted scalar
    lines = [
        "cff-version: 1.2.0",
        f"message: {q('If you quote these results, cite this bundle (and the papers of the methods and datasets its report lists).')}",
        "type: dataset",
        f"title: {q(_title(meta))}",
        "authors:",
        f"  - name: {q(TOOL_AUTHOR)}",
        f"version: {q(meta['version'])}",
        f"date-released: {q(meta['published'][:10])}",
        f"abstract: {q(_note(meta) + '; produced by: ' + meta['command'])}",
        "identifiers:",
        "  - type: other",
        f"    value: {q('sha256:' + meta['scores_hash'])}",
        f"    description: {q('scores hash: SHA-256 over every seed row test scores, 6 decimals')}",
        "references:",
        "  - type: software",
        f"    title: {q(TOOL_TITLE)}",
        "    authors:",
        f"      - name: {q(TOOL_AUTHOR)}",
        f"    version: {q(meta['benchmark_version'])}",
        "license: MIT",
    ]
    return "\n".join(lines) + "\n"
