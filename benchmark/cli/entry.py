"""The entry point: exit statuses, one-line usage errors, interrupts.

Exit statuses (the README's "Commands" lists the same):

- 0: done;
- 1: ``run`` finished, but a pair of this run ended failed, data-error, data-unavailable or
  resource-unavailable;
- 2: a usage error or bad input (unknown option or name, bad number, empty value, unwritable output or
  store): one line on stderr naming the problem and the fix, and nothing was run;
- 130: interrupted by Ctrl-C (SIGINT), 143: terminated (SIGTERM): one line says the finished work is
  stored and gives the command that resumes it;
- 141: stdout was closed early (``| head``), as for SIGPIPE.

typer carries its own copy of click (``typer._click`` in typer 0.29) and older typers use click itself,
so click's exceptions are recognised by their class names and attributes, never by ``isinstance``
against one module's classes.
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from benchmark.cli.base import app, console, one_line, prog_name
from benchmark.errors import BenchmarkError

USAGE = 2
SIGNAL_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}
BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a producer whose reader went away


class Interrupted(Exception):
    """A run ended by a signal; carries the signal so the exit status can say which."""

    def __init__(self, signum: int):
        super().__init__(f"signal {signum}")
        self.signum = signum
        _stop_listening()  # from here on the run only reports and exits


def signal_of(exc: KeyboardInterrupt) -> int:
    """The signal behind a KeyboardInterrupt: SIGTERM handlers here raise ``KeyboardInterrupt("signal 15")``
    (:func:`benchmark.run.worker.sigterm_as_interrupt` does the same); a bare one is Ctrl-C."""
    match = re.fullmatch(r"signal (\d+)", str(exc.args[0])) if exc.args else None
    return int(match.group(1)) if match else int(signal.SIGINT)


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _redeliver_swallowed_interrupts() -> None:
    """Make Ctrl-C and SIGTERM land. A signal handler's KeyboardInterrupt is raised in whatever Python code
    runs at that moment; when that is a finaliser or a weakref callback (SQLAlchemy has some), Python
    prints "Exception ignored" and goes on, and the run would not stop. Such an exception reaches
    ``sys.unraisablehook``: there the signal is sent again, a moment later (from a timer thread, so that it
    lands after the callback, at an ordinary line of the main thread)."""
    previous = sys.unraisablehook

    def resend(signum: int) -> None:
        if not _stopping.is_set():  # the run may have stopped meanwhile: a second signal would kill it mid-exit
            os.kill(os.getpid(), signum)

    def hook(unraisable: Any) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            if not _stopping.is_set():
                timer = threading.Timer(0.05, resend, (signal_of(unraisable.exc_value),))
                timer.daemon = True
                timer.start()
            return
        previous(unraisable)

    sys.unraisablehook = hook


_stopping = threading.Event()  # set once an interrupt is being handled: later signals are ignored


def _stop_listening() -> None:
    """The run is ending because of a signal: a second one (a re-sent swallowed interrupt, an impatient
    Ctrl-C) must not kill the process while it prints how to resume and exits with its status."""
    _stopping.set()
    for signum in SIGNAL_EXIT:
        try:
            signal.signal(signum, signal.SIG_IGN)
        except (ValueError, OSError):  # not the main thread
            pass


def resume_command(argv: Sequence[str]) -> str:
    return f"{prog_name()} {shlex.join(argv)}".strip()


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m benchmark``: run the command line and exit with a documented status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if hasattr(signal, "SIGTERM") and signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _terminate)  # a scheduler's kill ends a run like Ctrl-C, with 143
    _redeliver_swallowed_interrupts()
    try:
        status = app(args=argv, prog_name=prog_name(), standalone_mode=False)
    except BenchmarkError as exc:
        fail(str(exc))
    except Interrupted as exc:
        interrupted(exc.signum, argv)
    except KeyboardInterrupt as exc:  # outside a run there is nothing to resume: just the status
        _stop_listening()
        sys.exit(SIGNAL_EXIT.get(signal_of(exc), 130))
    except BrokenPipeError:
        quiet_broken_pipe()
    except Exception as exc:
        kind = {c.__name__ for c in type(exc).__mro__}
        if "Exit" in kind and isinstance(getattr(exc, "exit_code", None), int):
            sys.exit(exc.exit_code)
        if "Abort" in kind:  # click's Ctrl-C at a prompt
            interrupted(int(signal.SIGINT), argv)
        if "ClickException" in kind or ("UsageError" in kind and hasattr(exc, "format_message")):
            fail(usage_message(exc, argv), getattr(exc, "exit_code", USAGE) or USAGE)
        raise
    # typer turns a KeyboardInterrupt it catches into the status 130 and returns it (standalone_mode off).
    if status == 130:
        console.print("interrupted: nothing was lost", highlight=False)
    sys.exit(status if isinstance(status, int) else 0)


def fail(message: str, status: int = USAGE) -> None:
    from rich.markup import escape  # a message's own brackets ("add a [budget] table") are text, not markup

    console.print(f"[bold red]error:[/] {escape(one_line(message))}", highlight=False, markup=True)
    sys.exit(status)


def interrupted(signum: int, argv: Sequence[str]) -> None:
    name = "terminated (SIGTERM)" if signum == signal.SIGTERM else "interrupted (Ctrl-C)"
    console.print(f"{name}: every finished trial and seed is stored; run the same command to resume: "
                  f"{resume_command(argv)}", highlight=False, markup=False)
    sys.exit(SIGNAL_EXIT.get(signum, 128 + signum))


def quiet_broken_pipe() -> None:
    """A reader that stopped early (``| head``) is not an error worth a traceback."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's final flush must not fail again
    except OSError:
        pass
    sys.exit(BROKEN_PIPE)


# -- click's usage errors as one line -------------------------------------------------------------
def usage_message(exc: Any, argv: Sequence[str]) -> str:
    """One line naming the problem and the fix, for any of click's usage errors."""
    ctx = getattr(exc, "ctx", None)
    command = getattr(ctx, "command_path", None) or prog_name()
    help_fix = f"`{command} --help` lists what it accepts"
    kind = type(exc).__name__
    param = getattr(exc, "param", None)
    if kind == "NoSuchOption" or hasattr(exc, "option_name") and "No such option" in str(exc):
        option = getattr(exc, "option_name", "")
        known = sorted({o for p in getattr(getattr(ctx, "command", None), "params", []) or []
                        for o in list(getattr(p, "opts", [])) + list(getattr(p, "secondary_opts", []))
                        if o.startswith("-")} | {"--help"})
        close = difflib.get_close_matches(option, known, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}? " if close else ""
        return f"`{command}` has no option {option} -- {hint}{help_fix}"
    text = one_line(exc.format_message())
    command_missing = re.match(r"No such command '([^']*)'", text)
    if command_missing:
        name = command_missing.group(1)
        commands = sorted(getattr(getattr(ctx, "command", None), "commands", {}) or {})
        close = difflib.get_close_matches(name, commands, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return f"there is no command '{name}' -- {hint}use one of {', '.join(commands)}"
    if param is None:
        return f"{_lower_first(text).rstrip('.')} -- {help_fix}"
    hint = _param_hint(param)
    if kind == "MissingParameter":
        return f"`{command}` needs {hint} -- {_example(param, command)}"
    value = _raw_value(param, argv)
    number = {int: "a whole number", float: "a number"}.get(_annotation(param))
    if number and value is not None:
        return f"{hint} {value!r} is not {number} -- {_expected(param)}"
    reason = re.sub(r"^Invalid value for [^:]*: ", "", text)
    reason = re.sub(r"^Value error, ", "", reason).rstrip(".")
    shown = f" {value!r}" if value is not None and repr(value) not in reason else ""
    return f"{hint}{shown} is invalid: {_lower_first(reason)} -- {_expected(param) or help_fix}"


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def _param_hint(param: Any) -> str:
    opts = [o for o in getattr(param, "opts", []) if o.startswith("-")]
    return opts[0] if opts else f"the {getattr(param, 'name', 'argument')} argument"


def _annotation(param: Any) -> Any:
    descriptor = getattr(param, "type_descriptor", None)  # typer >= 0.2x
    if descriptor is not None:
        return getattr(descriptor, "annotation", None)
    click_type = getattr(param, "type", None)  # click: INT, FLOAT, Choice(...)
    return {"integer": int, "float": float}.get(getattr(click_type, "name", ""), click_type)


def _choices(param: Any) -> list[str]:
    annotation = _annotation(param)
    members = getattr(annotation, "__members__", None)
    if members:
        return [m.value for m in members.values()]
    return list(getattr(annotation, "choices", None) or [])


def _expected(param: Any) -> str | None:
    choices = _choices(param)
    if choices:
        return f"use one of {', '.join(choices)}"
    annotation = _annotation(param)
    if annotation is int:
        return f"give a whole number, e.g. {_param_hint(param)} 3"
    if annotation is float:
        return f"give a number, e.g. {_param_hint(param)} 0.5"
    return None


def _example(param: Any, command: str) -> str:
    choices = _choices(param)
    if choices:
        return f"give one of {', '.join(choices)}, e.g. `{command} {choices[0]}`"
    if getattr(param, "name", "") == "suite":
        return f"e.g. `{command} --suite smoke`; `{prog_name()} list suites` shows the suites"
    return f"`{command} --help` says what it takes"


def _raw_value(param: Any, argv: Sequence[str]) -> str | None:
    """The text the user typed for an option (``--x v`` or ``--x=v``), to quote it in the message."""
    opts = [o for o in getattr(param, "opts", []) if o.startswith("-")]
    for i, token in enumerate(argv):
        for opt in opts:
            if token == opt and i + 1 < len(argv):
                return argv[i + 1]
            if token.startswith(opt + "="):
                return token[len(opt) + 1:]
    return None
