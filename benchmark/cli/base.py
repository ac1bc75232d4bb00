"""What every command shares: the typer app, the two consoles, ``--version``, verbosity and widths."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from enum import Enum
from pathlib import Path

import typer
from rich.console import Console

from benchmark import __version__
from benchmark.errors import BenchmarkError

# The help comes from root()'s docstring: the description and the exit statuses.
# rich_markup_mode=None: click's plain help, which re-wraps each paragraph to the width and never cuts a text
# with "…" nor shows a value type for a flag (rich's panels did both at 80 columns).
app = typer.Typer(add_completion=False, no_args_is_help=False, pretty_exceptions_enable=False, rich_markup_mode=None)
# Messages and progress go to stderr, data (tables, JSON, CSV) to stdout, so `> file` captures data only.
# soft_wrap: a line written to a log file stays one line, whatever the width rich assumes there.
console = Console(stderr=True, soft_wrap=True, highlight=False)
out = Console(soft_wrap=True, highlight=False)


class Format(str, Enum):
    table = "table"
    json = "json"


class Verbosity(int, Enum):
    quiet = 0  # errors and the final summary only
    normal = 1  # one line per pair
    verbose = 2  # one line per trial and seed as well


def verbosity(quiet: bool, verbose: bool) -> Verbosity:
    """--quiet / --verbose as one level; asking for both is a usage error."""
    if quiet and verbose:
        raise BenchmarkError("--quiet and --verbose were both given", "choose one of them")
    return Verbosity.quiet if quiet else Verbosity.verbose if verbose else Verbosity.normal


def prog_name() -> str:
    """How the user started us, for messages that give a command to run: ``python -m benchmark`` or the
    ``benchmark`` script."""
    argv0 = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return "python -m benchmark" if argv0 in ("__main__.py", "-m", "-c", "") else argv0


def output_width() -> int:
    """Columns for tables: $COLUMNS when set, else the terminal's width when stdout is one, else 80."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        return shutil.get_terminal_size((80, 24)).columns
    return 80


def one_line(text: str) -> str:
    """Any message as one line: newlines and runs of spaces become single spaces."""
    return " ".join(str(text).split())


def format_seconds(seconds: float) -> str:
    """'1:02:03' / '4:05': hours only when needed."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def split_names(value: str | None, option: str = "--methods") -> list[str] | None:
    """A comma-separated name list; an empty one is an error, not "the default"."""
    if value is None:
        return None
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise BenchmarkError(f"{option} {value!r} names nothing",
                             f"give comma-separated names, e.g. {option} {'smote,baseline' if option == '--methods' else 'keel-yeast3'}, "
                             "or leave the option out for the suite's")
    return names


def check_writable_folder(path: str, option: str) -> None:
    """Fail now, not after hours of training, when ``path`` cannot become a writable folder: the nearest
    existing folder on its way gets a real test file (permissions, read-only mounts, /proc, a full disk)."""
    if not path.strip():
        raise BenchmarkError(f"{option} is empty", f"give a folder, e.g. {option} reports, or leave it out")
    target = Path(path).expanduser()
    probe = target
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise BenchmarkError(f"{option} {path}: {probe} is not a folder", f"give a folder for {option}")
    try:
        fd, name = tempfile.mkstemp(prefix=".benchmark-write-test-", dir=probe)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise BenchmarkError(f"{option} {path} is not writable ({exc.strerror or exc} in {probe})",
                             f"give a folder you can write to with {option}") from None


def show_version(value: bool) -> None:
    if value:
        out.print(f"imbalance-benchmark {__version__}")
        raise typer.Exit(0)


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", callback=show_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Benchmark suite and leaderboard generator for class-imbalance and long-tail learning.

    Exit status: 0 done; 1 a run finished but some of its pairs failed (or lacked data or resources); 2 a usage error or bad input (nothing was run); 130 interrupted (Ctrl-C) or 143 terminated (SIGTERM): the finished work is stored and the same command resumes it."""
    if ctx.invoked_subcommand is None:  # no command: the help, on stdout, status 0 (asking is not an error)
        help_text = ctx.get_help()
        if help_text:
            out.print(help_text, markup=False)
        raise typer.Exit(0)
