"""``list`` and ``show``: what the registries hold, as aligned columns that fit the width, or JSON.

A table is one line per entry, never wrapped: the last column (the summary or description) is cut to
the width, and the optional columns that would leave it too little room are left out (``--format
json`` always has everything). The width is $COLUMNS, else the terminal's, else 80.
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from typing import Any

import typer

from benchmark.cli.base import Format, app, console, output_width

GAP = "  "


class Kind(str, Enum):
    methods = "methods"
    datasets = "datasets"
    suites = "suites"


class ShowKind(str, Enum):
    method = "method"
    dataset = "dataset"
    suite = "suite"


# Per kind: the columns always shown, the optional ones in the order they are given room, the last one
# (cut to the width) and the room it keeps before an optional column is left out.
TABLE_COLUMNS = {
    "methods": (["name"], ["modalities", "family", "engines"], "summary", 30),
    "datasets": (["name"], ["rows", "imbalance", "classes"], "modality", 8),  # descriptions: `show dataset`
    "suites": (["name"], ["trials", "seeds", "datasets", "methods"], "description", 30),
}


@app.command("list")
def list_(
    kind: Kind = typer.Argument(..., help="methods, datasets or suites."),
    pattern: str | None = typer.Argument(None, help="Filter on names, any case: shell-style ('keel-*', 'smote?') "
                                                    "or a plain word, which matches anywhere in the name."),
    format: Format = typer.Option(Format.table, "--format", help="table (one line each, cut to the width) or json."),
) -> None:
    """List what the registries hold. A pattern that matches nothing prints a note on stderr (status 0)."""
    records = list_records(kind.value, name_pattern(pattern))
    if not records and pattern is not None:
        console.print(f"note: no {kind.value} match {pattern!r}; `python -m benchmark list {kind.value}` lists them all",
                      markup=False)
    if format == Format.json:
        sys.stdout.write(json.dumps(records, indent=2) + "\n")
        return
    if records:
        sys.stdout.write(render_columns(table_rows(kind.value, records), *TABLE_COLUMNS[kind.value],
                                        width=output_width()))


def name_pattern(pattern: str | None) -> str | None:
    """A plain word matches anywhere in a name (`list methods smote` gives every SMOTE variant)."""
    if pattern is None or any(c in pattern for c in "*?["):
        return pattern
    return f"*{pattern}*"


def list_records(kind: str, pattern: str | None) -> list[dict[str, Any]]:
    if kind == "methods":
        from benchmark.methods import method_registry

        return [{"name": n, "family": m.family, "modalities": list(m.modalities), "engines": list(m.engines),
                 "summary": m.summary, "paper": m.paper_key or ""} for n, m in method_registry.items(pattern)]
    if kind == "datasets":
        from benchmark.datasets import dataset_registry

        return [{"name": n, "modality": d.modality, "num_classes": d.num_classes, "rows": dataset_rows(d.stats),
                 "imbalance_ratio": d.stats.imbalance_ratio, "description": d.description, "source": d.source}
                for n, d in dataset_registry.items(pattern)]
    from benchmark.suites import suite_registry

    return [{"name": n, "datasets": len(s.datasets), "methods": len(s.methods) if s.methods else "all",
             "trials": s.budget.trials, "seeds": s.budget.seeds, "description": s.description}
            for n, s in suite_registry.items(pattern)]


def dataset_rows(stats: Any) -> int | None:
    """Every row a dataset has, from its card: a table's or text collection's, or a long-tail image set's
    pool and official test set; None when the card does not say."""
    if stats.class_counts:
        return sum(stats.class_counts)
    if stats.long_tail_counts:
        return sum(stats.long_tail_counts) + sum(stats.test_counts)
    return None


def table_rows(kind: str, records: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Records as table cells: lists joined, a method's three modalities as 'all'."""
    from benchmark.methods import ALL_MODALITIES

    rows = []
    for rec in records:
        row = {k: ", ".join(v) if isinstance(v, list) else str(v) for k, v in rec.items()}
        if kind == "methods":
            row["modalities"] = "all" if set(rec["modalities"]) == set(ALL_MODALITIES) else ",".join(rec["modalities"])
            row["engines"] = ",".join(rec["engines"])
        if kind == "datasets":
            row["classes"] = row.pop("num_classes")
            row["rows"] = f"{rec['rows']:,}" if rec["rows"] else "?"
            ratio = rec["imbalance_ratio"]
            row["imbalance"] = f"{ratio:.1f}" if isinstance(ratio, int | float) else "?"
        rows.append(row)
    return rows


def render_columns(rows: list[dict[str, str]], required: list[str], optional: list[str], last: str,
                   min_last: int = 30, width: int = 80) -> str:
    """Aligned columns, one line per row, at most ``width`` wide: ``last`` is cut (with '...') to what is
    left, and each optional column is kept only while ``last`` still gets ``min_last`` columns."""
    def col_width(col: str) -> int:
        return max(len(col), *(len(r.get(col, "")) for r in rows))

    chosen = list(required)
    used = sum(col_width(c) for c in chosen) + len(GAP) * len(chosen)
    for col in optional:
        if width - (used + col_width(col) + len(GAP)) >= min_last:
            chosen.append(col)
            used += col_width(col) + len(GAP)
    order = [c for c in required + optional if c in chosen] + [last]
    widths = {c: col_width(c) for c in order[:-1]}
    room = max(width - used, len(last))

    def line(cells: dict[str, str]) -> str:
        text = GAP.join(cells.get(c, "").ljust(widths[c]) for c in order[:-1])
        tail = " ".join(cells.get(last, "").split())
        if len(tail) > room:
            tail = tail[: max(room - 3, 0)].rstrip() + "..."
        return (text + GAP + tail).rstrip()

    return "\n".join([line({c: c for c in order}), *(line(r) for r in rows)]) + "\n"


@app.command()
def show(
    kind: ShowKind = typer.Argument(..., help="method, dataset or suite."),
    name: str = typer.Argument(..., help="Its registered name; a suite file (my-suite.toml) or a dataset file "
                                         "(file:data.csv?target=label) too."),
    format: Format = typer.Option(Format.table, "--format", help="table or json."),
    data_root: str | None = typer.Option(None, help="Datasets: folder holding the data (to count classes)."),
    split_seed: int = typer.Option(0, help="Datasets: the split seed."),
) -> None:
    """Show one entry's card: a method's search space, a dataset's class counts of its train, val and
    test splits, every setting of a suite."""
    from benchmark.errors import BenchmarkError

    if data_root is not None and not data_root.strip():
        raise BenchmarkError("--data-root is empty", "give a folder, or leave the option out")
    if kind == ShowKind.method:
        from benchmark.cli.search_space import recorded_search_space
        from benchmark.methods import method_registry

        method = method_registry.get(name)
        card = method.card()
        card["search_space"], card["search_space_split"] = recorded_search_space(method)
    elif kind == ShowKind.suite:
        from benchmark.suites import resolve_suite

        card = resolve_suite(name).card()
    else:
        from benchmark.datasets import dataset_registry
        from benchmark.datasets.files import is_file_spec, parse_file_spec
        from benchmark.errors import DataUnavailableError

        entry = parse_file_spec(name) if is_file_spec(name) else dataset_registry.get(name)
        card = entry.card()
        try:
            split = entry.load(data_root, split_seed)
        except DataUnavailableError as exc:  # the card still says where the data comes from
            card["split"] = f"unavailable: {exc}"
            console.print(f"[yellow]note:[/] {exc}", markup=True)
        else:
            card.update(split.summary())
    if format == Format.json:
        sys.stdout.write(json.dumps(card, indent=2, default=str) + "\n")
        return
    sys.stdout.write(render_card(card) + "\n")


def render_card(card: dict[str, Any], width: int | None = None) -> str:
    """The card as a two-column table (rich): a key, then its value; a nested record (statistics, class
    counts per part, the search space, a suite's settings) as an inner table; an empty value as '-'. A
    dataset's unlabeled pool gets its own line: the loaded split's (exact) when there is one, else the one
    its card's statistics expect. Lines carry no trailing spaces (they are read by people and by grep)."""
    import io

    from rich.console import Console

    from benchmark.datasets.unlabeled import unlabeled_text

    stats = card.get("stats")
    if isinstance(stats, dict) and isinstance(stats.get("unlabeled"), dict):
        card = {**card, "stats": {k: v for k, v in stats.items() if k != "unlabeled"}}
        if "unlabeled" not in card:
            card["unlabeled (expected)"] = stats["unlabeled"]
    table = _grid()
    for key, value in card.items():
        if key.startswith("unlabeled") and isinstance(value, dict):
            table.add_row(key, unlabeled_text(value))
        else:
            table.add_row(key, _cell(key, value))
    buffer = io.StringIO()
    Console(file=buffer, width=width or output_width(), no_color=True, highlight=False, emoji=False,
            markup=False).print(table)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())


def _grid() -> Any:
    from rich.table import Table

    table = Table.grid(padding=(0, 2))
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    return table


def _cell(key: str, value: Any) -> Any:
    """One value as a table cell: text, or an inner table for a record."""
    from benchmark.cli.search_space import describe

    if value is None or (isinstance(value, dict | list | tuple | str) and not value):
        return "-"
    if key == "search_space" and isinstance(value, dict):
        return "\n".join(describe(value))
    if isinstance(value, dict):
        inner = _grid()
        for name, item in value.items():
            inner.add_row(str(name), _cell(str(name), item))
        return inner
    if isinstance(value, list | tuple):
        if all(not isinstance(v, dict | list | tuple) for v in value):
            return ", ".join(_scalar(v) for v in value)
        return "\n".join(json.dumps(v, default=str) for v in value)
    return _scalar(value)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    return str(value)
