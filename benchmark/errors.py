"""Errors that reach the user: each says what was wrong and what to do about it."""

from __future__ import annotations


class BenchmarkError(Exception):
    """An error with a one-line cause and a fix; the command line prints both and exits non-zero."""

    def __init__(self, message: str, fix: str | None = None):
        self.message = message
        self.fix = fix
        super().__init__(message if fix is None else f"{message} -- {fix}")


class UnknownNameError(BenchmarkError, KeyError):
    """A registry lookup missed."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class DataUnavailableError(BenchmarkError):
    """The files of a dataset are absent and cannot be downloaded here."""

    def __init__(self, dataset: str, expected: list[str], source: str, detail: str = ""):
        self.dataset, self.expected, self.source = dataset, expected, source
        where = ", ".join(expected)
        msg = f"data for '{dataset}' is unavailable{': ' + detail if detail else ''}"
        super().__init__(msg, f"put {where} under the data root (--data-root or BENCHMARK_DATA), or download from {source}")


class ResourceUnavailableError(BenchmarkError):
    """A model, corpus or package a method needs is not on this machine. Unlike "not applicable",
    this can change: the pair is stored as "resource-unavailable" and tried again by the next run."""


class NotApplicableError(BenchmarkError):
    """A method cannot run on a dataset (wrong modality, engine or feature types)."""


class DivergedError(BenchmarkError):
    """Training produced a NaN or infinite loss."""


class StorageError(BenchmarkError):
    """The results store cannot be reached or has an unexpected schema."""


def describe_failure(exc: BaseException) -> str:
    """A failed trial's or seed re-run's reason as stored: the exception's type and first line."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:1000]
