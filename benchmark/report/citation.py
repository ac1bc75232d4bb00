"""BibTeX for a report: an entry for the report itself and the entries of its methods and datasets."""

from __future__ import annotations

import re

import benchmark
from benchmark.registry import bibtex_key
from benchmark.report.provenance import ProvenanceSummary

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def _braced(text: str) -> str:
    """A BibTeX field value: LaTeX specials escaped, braces balanced."""
    text = text.replace("\\", "/").replace("{", "(").replace("}", ")")
    return re.sub(r"([&%$#_])", r"\\\1", text)


def report_bibtex(suite: str, prov: ProvenanceSummary, n_datasets: int, n_methods: int) -> str:
    """The report's own entry. Its date is when the last result was stored, and its key carries
    the results hash, so the same results always give the same entry; its note names the scores
    hash (the figure a reproduction is checked against) and the results hash."""
    date = prov.date
    short = prov.results_hash[:8]
    key = re.sub(r"[^A-Za-z0-9]+", "-", f"imbalance-benchmark-{suite}-{date.year}-{short}").strip("-")
    commits = ", ".join(prov.commits) or "unknown"
    versions = ", ".join(prov.versions) or benchmark.__version__
    fields = {
        "title": "{" + _braced(f"Imbalance benchmark leaderboard: suite {suite}") + "}",
        "author": "{imbalance-benchmark contributors}",
        "year": str(date.year),
        "month": MONTHS[date.month - 1],
        "howpublished": _braced(f"Report of the imbalance-benchmark suite {suite}, version {versions}"),
        "note": _braced(f"{n_datasets} datasets x {n_methods} methods; scores hash sha256:{prov.scores_hash}; "
                        f"results hash sha256:{prov.results_hash}; git commit {commits}"),
    }
    body = ",\n".join(f"  {name} = {value if name in ('year', 'month') else '{' + value + '}'}"
                      for name, value in fields.items())
    return f"@misc{{{key},\n{body}\n}}"


# The tool itself, as CITATION.cff at the repository's root states it (tests/test_packaging.py checks they agree).
TOOL_TITLE = "imbalance-benchmark: a benchmark suite and leaderboard generator for class-imbalance and long-tail learning"
TOOL_AUTHOR = "imbalance-benchmark contributors"
TOOL_KEY = "imbalance_benchmark"


def tool_bibtex(year: int | None = None) -> str:
    """The software's own entry, with the version that is running (``benchmark.__version__``, the one
    place the version is kept). ``year``: the report's date; default this year."""
    import datetime as dt

    year = year or dt.date.today().year
    return (f"@software{{{TOOL_KEY},\n  title = {{{{{_braced(TOOL_TITLE)}}}}},\n  author = {{{{{TOOL_AUTHOR}}}}},\n"
            f"  version = {{{benchmark.__version__}}},\n  year = {year},\n  license = {{MIT}},\n"
            f"  note = {{Python package imbalance-benchmark}}\n}}")


def split_entries(bib: str) -> list[str]:
    """The BibTeX entries of a text holding several (a combined row's paper is its parts' entries)."""
    starts = [m.start() for m in re.finditer(r"(?m)^\s*@\w+\s*\{", bib or "")]
    if len(starts) < 2:
        return [(bib or "").strip()]
    return [bib[a:b].strip() for a, b in zip(starts, [*starts[1:], len(bib)], strict=True)]


def unique_entries(named: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(who cites, BibTeX) pairs with empty entries dropped and each key kept once (several methods
    of one paper share its entry; a combined row cites each of its parts' papers); the names sharing
    an entry are joined."""
    by_key: dict[str, tuple[list[str], str]] = {}
    for name, text in named:
        for bib in split_entries(text):
            if not bib:
                continue
            key = bibtex_key(bib) or bib
            by_key.setdefault(key, ([], bib))[0].append(name)
    return [(", ".join(names), bib) for names, bib in by_key.values()]
