"""The command line: ``python -m benchmark run|list|show|report|results|speed|publish|verify``.

Every command checks its input before any work; a bad option, name, path, URL or number ends with one
line on stderr naming the problem and the fix, and exit status 2 (:mod:`benchmark.cli.entry` lists
every status). Ctrl-C ends a run with status 130 (SIGTERM 143); running the same command again resumes
it. Modules: ``base`` (the app, consoles, --version), ``entry`` (main, exit statuses, usage errors),
``run_command``, ``catalogue`` (list, show), ``search_space`` (what ``show method`` prints),
``stored`` (report, results), ``speed_command``, ``publish_command`` (publish, verify). Importing them registers their commands, in the
order ``--help`` lists them.
"""

# The import order is the order --help lists the commands in.
# isort: off
from benchmark.cli import run_command  # noqa: F401
from benchmark.cli import catalogue  # noqa: F401
from benchmark.cli import stored  # noqa: F401
from benchmark.cli import speed_command  # noqa: F401
from benchmark.cli import publish_command  # noqa: F401

# isort: on
from benchmark.cli.base import app, format_seconds, split_names
from benchmark.cli.entry import main

# The one line each command gets in `--help`: click would cut the docstring's first sentence to the width.
SHORT_HELP = {
    "run": "Tune, re-run, store and report a suite.",
    "list": "List the registered methods, datasets or suites.",
    "show": "Show one method's, dataset's or suite's card.",
    "report": "Rebuild HTML reports from the results store.",
    "results": "Print stored results as JSON or CSV.",
    "speed": "Time one model's training loop on one split.",
    "publish": "Write a citable bundle of a suite's stored results.",
    "verify": "Check a bundle and re-run some of its cells.",
}
for _command in app.registered_commands:
    _command.short_help = SHORT_HELP.get(_command.name or _command.callback.__name__, _command.short_help)

__all__ = ["app", "format_seconds", "main", "split_names"]
