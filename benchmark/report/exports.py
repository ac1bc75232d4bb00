"""Files written next to the HTML: ``leaderboard.csv``, ``leaderboard.tex``, ``metrics.json``, ``references.bib``.

(``results.json`` is :func:`benchmark.report.records.records_json`, the rows of ``python -m
benchmark results``.) Missing figures are never zeros: the CSV leaves them empty and names the
status; the LaTeX table prints the status in italics. Rows that learned from an unlabeled pool are
marked (:mod:`benchmark.report.unlabeled`): CSV columns ``uses_unlabeled`` and ``unlabeled_rows``, a
superscript U in LaTeX.
"""

from __future__ import annotations

import csv
import io
import json
import math

from benchmark.metrics import AGGREGATIONS, HEADLINE, METRICS, REPORTED, SUITE_COLUMNS
from benchmark.report.aggregation import IN_PROGRESS, MISSING, STATUS_TEXT, Aggregate, Cell
from benchmark.report.cards import MethodCard
from benchmark.report.names import cite_keys, method_label
from benchmark.report.records import CORRUPT
from benchmark.report.unlabeled import MARK, UnlabeledUse
from benchmark.store import DATA_ERROR, DATA_UNAVAILABLE, FAILED, NOT_APPLICABLE, OK, RESOURCE_UNAVAILABLE


def _num(value: float | None, digits: int = 6) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _unlabeled_cols(use: UnlabeledUse | None, dataset: str | None = None) -> list[str]:
    """``uses_unlabeled`` (1/0) and ``unlabeled_rows`` (the most pool rows a seed re-run was offered;
    on the suite's row the most over datasets; empty when unknown)."""
    if use is None or not use.shown_on(dataset):
        return ["0", ""]
    known = [n for d, n in use.rows.items() if n is not None and (dataset is None or d == dataset)]
    return ["1", str(max(known)) if known else ""]


def leaderboard_csv(agg: Aggregate, methods: dict[str, MethodCard],
                    unlabeled: dict[str, UnlabeledUse] | None = None) -> str:
    """One row per method for the suite (scope ``suite``), then one per (dataset, method)."""
    unlabeled = unlabeled or {}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    # ci95: the interval's half-width as computed; low/high: its ends clipped to the metric's range
    metric_cols = [f"{m}_{part}" for m in REPORTED for part in ("mean", "ci95", "low", "high")]
    writer.writerow(["scope", "method", "family", "status", "reason", "n", *metric_cols,
                     *[f"avg_rank_{m}" for m in HEADLINE], "datasets_won", "cost_device_seconds",
                     "uses_unlabeled", "unlabeled_rows"])
    for row in agg.rows:
        status = OK if row.covered else next(iter(row.cells.values())).status
        reason = "" if row.covered else (next(iter(row.cells.values())).reason or "")
        values = []
        for m in REPORTED:
            values += _csv_cell(row.cells.get(m))
        writer.writerow(["suite", row.method, methods[row.method].family, status, reason, row.covered, *values,
                         *[_num(row.ranks[m], 4) for m in HEADLINE], row.wins, _num(row.cost_seconds, 3),
                         *_unlabeled_cols(unlabeled.get(row.method))])
    won = {row.method: set(row.datasets_won) for row in agg.rows}
    for d in agg.datasets:
        for m in agg.methods:
            e = agg.entries[d][m]
            values = []
            for metric in REPORTED:
                values += _csv_cell(e.cells[metric])
            writer.writerow([d, m, methods[m].family, e.status, e.reason or e.seed_note or "", e.seeds, *values,
                             "", "", "", int(d in won[m]),
                             _num(e.cost_seconds, 3), *_unlabeled_cols(unlabeled.get(m), d)])
    return buffer.getvalue()


def _csv_cell(cell: Cell | None) -> list[str]:
    if cell is None or not cell.ok:
        return ["", "", "", ""]
    return [_num(cell.mean), _num(cell.half), _num(cell.low), _num(cell.high)]


def tex_escape(text: str) -> str:
    specials = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
    return "".join(specials.get(ch, ch) for ch in text)


# Short words for cells without a figure, so a status never widens a column past a figure's width.
TEX_STATUS = {NOT_APPLICABLE: "n/a", FAILED: "failed", DATA_UNAVAILABLE: "no data", DATA_ERROR: "bad data",
              RESOURCE_UNAVAILABLE: "no model", CORRUPT: "corrupt", MISSING: "--", IN_PROGRESS: "running"}
TEX_STATUS_NOTE = ("n/a: not applicable; no data: data unavailable; bad data: its files could not be read; no model: "
                   "a model or corpus it needs is missing; --: not run; [a, b]*: the 95\\% interval clipped to the "
                   "metric's range.")


def _tex_cell(cell: Cell, best: float | None) -> str:
    """Percent with one decimal, as papers print these metrics; the interval in a smaller size keeps
    five columns within a plain article's text width."""
    if not cell.ok:
        return "\\textit{" + tex_escape(TEX_STATUS.get(cell.status, STATUS_TEXT.get(cell.status, cell.status))) + "}"
    # Bold compares the printed (rounded) means, so two equal-looking figures are both bold.
    is_best = best is not None and round(100 * cell.mean, 1) == round(100 * best, 1)
    mean = f"{100 * cell.mean:.1f}"
    if cell.clipped and cell.low is not None and cell.high is not None:  # never an interval beyond the range
        half = f"[{100 * cell.low:.1f}, {100 * cell.high:.1f}]^*"
    elif cell.half is None or not math.isfinite(cell.half):
        return f"$\\mathbf{{{mean}}}$" if is_best else f"${mean}$"
    else:
        half = f"\\pm{100 * cell.half:.1f}"
    if is_best:
        return f"$\\mathbf{{{mean}}}${{\\scriptsize$\\mathbf{{{half}}}$}}"
    return f"${mean}${{\\scriptsize${half}$}}"


def _tex_name(name: str, use: UnlabeledUse | None, dataset: str | None = None, paper: str = "") -> str:
    """The method as a paper names it, with ``\\cite{}`` of its BibTeX keys (those of ``references.bib``)."""
    marked = use is not None and use.shown_on(dataset)
    keys = cite_keys(paper)
    cite = f"~\\cite{{{','.join(keys)}}}" if keys else ""
    return tex_escape(method_label(name)) + (f"\\textsuperscript{{{MARK}}}" if marked else "") + cite


TEX_UNLABELED_NOTE = f" {MARK}: learned from an unlabeled pool as well as the labels (not a label-only row)."


def _tex_table(rows: list[tuple[str, dict[str, Cell]]], caption: str, label: str) -> str:
    best = {m: METRICS[m].best(c[m].mean for _, c in rows if c[m].ok) for m in SUITE_COLUMNS}
    lines = [
        "\\begin{table}[htbp]",
        "\\centering",
        "\\footnotesize",
        "\\setlength{\\tabcolsep}{4pt}",
        f"\\caption{{{caption}}}",
        f"\\label{{{label}}}",
        "\\begin{tabular}{l" + "c" * len(SUITE_COLUMNS) + "}",
        "\\toprule",
        "Method & " + " & ".join(METRICS[m].tex for m in SUITE_COLUMNS) + " \\\\",
        "\\midrule",
    ]
    for name, cells in rows:
        lines.append(name + " & " + " & ".join(_tex_cell(cells[m], best[m]) for m in SUITE_COLUMNS) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}", ""]
    return "\n".join(lines)


def leaderboard_tex(agg: Aggregate, suite: str, results_hash: str,
                    unlabeled: dict[str, UnlabeledUse] | None = None,
                    methods: dict[str, MethodCard] | None = None) -> str:
    """Booktabs tables for papers: the suite leaderboard, then one table per dataset. Needs only
    ``\\usepackage{booktabs}``; ``\\input`` the file or copy a table. Methods are named as papers name
    them (:mod:`benchmark.report.names`), each with ``\\cite{}`` of its papers' keys in
    ``references.bib``, and carry a superscript U where the row learned from an unlabeled pool."""
    unlabeled = unlabeled or {}
    papers = {m: card.paper for m, card in (methods or {}).items()}
    safe = "".join(ch if ch.isalnum() else "-" for ch in suite)

    def note(dataset: str | None = None) -> str:
        marked = any(use.shown_on(dataset) for m, use in unlabeled.items() if m in agg.methods)
        return TEX_UNLABELED_NOTE if marked else ""

    parts = [
        f"% Leaderboard of the imbalance-benchmark suite '{suite}'; results hash sha256:{results_hash}.",
        "% Needs \\usepackage{booktabs}. In percent: mean $\\pm$ half-width of the 95% interval; best per column in bold.",
        "",
        _tex_table(
            [(_tex_name(r.method, unlabeled.get(r.method), paper=papers.get(r.method, "")), r.cells)
             for r in agg.rows],
            f"Suite \\texttt{{{tex_escape(suite)}}}, in \\%: mean over {len(agg.datasets)} datasets of the "
            f"per-dataset means ({tex_escape(agg.interval_text())}), $\\pm$ 95\\% interval (propagated through the "
            "average). "
            "Minority: the positive class (binary) or the tail third of classes. Best per column in bold. "
            + TEX_STATUS_NOTE + note(),
            f"tab:{safe}-leaderboard",
        ),
    ]
    for d in agg.datasets:
        if not any(e.status == OK for e in agg.entries[d].values()):
            parts.append(f"% No table for dataset '{d}': no method has a result on it.\n")
            continue
        parts.append(_tex_table(
            [(_tex_name(m, unlabeled.get(m), d, papers.get(m, "")), agg.entries[d][m].cells) for m in agg.methods],
            f"Dataset \\texttt{{{tex_escape(d)}}} (suite \\texttt{{{tex_escape(suite)}}}), in \\%: "
            f"{tex_escape(agg.interval_text(d))}. Best per column in bold. " + TEX_STATUS_NOTE + note(d),
            f"tab:{safe}-{''.join(ch if ch.isalnum() else '-' for ch in d)}",
        ))
    return "\n".join(parts)


def references_bib(report_entry: str, entries: list[tuple[str, str]]) -> str:
    return "\n\n".join([report_entry] + [bib for _, bib in entries]) + "\n"



def metrics_json() -> str:
    """``metrics.json``: the metric table (:data:`benchmark.metrics.METRICS`) as data, so a reader of the
    CSV or LaTeX files knows each column's label, direction, range, aggregation, definition and citation."""
    table = [{"name": m.name, "label": m.label, "higher_is_better": m.higher_is_better, "range": list(m.range),
              "needs_probabilities": m.needs_probabilities, "aggregation": m.aggregation,
              "aggregation_text": AGGREGATIONS[m.aggregation], "definition": m.definition, "citation": m.citation,
              "shown": m.shown, "headline": m.headline, "objective": m.objective, "compared": m.compared} for m in METRICS.values()]
    return json.dumps(table, indent=1) + "\n"
