"""The statuses of pairs and seed rows: one vocabulary for the store, the run layer and the report."""

from __future__ import annotations

from enum import Enum


class Status(str, Enum):
    """A pair's or a seed row's status, stored as its value (``"complete"``, ``"ok"``, ...).

    Pairs go ``pending`` -> ``tuning`` -> ``re-running`` -> ``complete`` or ``failed``, or straight to
    ``not-applicable``, ``data-unavailable``, ``data-error`` or ``resource-unavailable``. Seed rows are claimed as
    ``running`` and end ``ok`` or ``failed``. Members compare equal to their values, so rows read back
    from the database (plain strings) compare with them directly.
    """

    PENDING = "pending"
    TUNING = "tuning"
    RE_RUNNING = "re-running"
    COMPLETE = "complete"
    FAILED = "failed"
    NOT_APPLICABLE = "not-applicable"  # the method does not fit the dataset: final, never retried
    DATA_UNAVAILABLE = "data-unavailable"  # the dataset's files are missing: retried by the next run
    # The dataset's files could not be read or hold bad values (corrupt, truncated, invalid UTF-8, inf):
    # retried by the next run, so a repaired file is used without a new store.
    DATA_ERROR = "data-error"
    RESOURCE_UNAVAILABLE = "resource-unavailable"  # a model or corpus a method needs is missing: retried
    RUNNING = "running"  # a seed re-run claimed by a worker
    OK = "ok"  # a seed re-run that stored its scores

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


OK, FAILED, RUNNING = Status.OK, Status.FAILED, Status.RUNNING
PENDING, TUNING, RE_RUNNING, COMPLETE = Status.PENDING, Status.TUNING, Status.RE_RUNNING, Status.COMPLETE
NOT_APPLICABLE, DATA_UNAVAILABLE, DATA_ERROR = Status.NOT_APPLICABLE, Status.DATA_UNAVAILABLE, Status.DATA_ERROR
RESOURCE_UNAVAILABLE = Status.RESOURCE_UNAVAILABLE

FINAL_PAIR_STATES = (COMPLETE, NOT_APPLICABLE, FAILED)  # a run skips these pairs; the others get (re)tried


def reason_rule(reason: str, method: str, dataset: str | None = None) -> str:
    """The rule behind a pair's refusal, shared by the pairs it refuses: ``reason`` up to its first ': ' or
    '; ' (the details after it vary by dataset), with the pair's own method and dataset names written as
    ``<method>`` and ``<dataset>``. The plan's not-run lines and the report's not-applicable lines group by it."""
    rule = reason.replace(method, "<method>")
    if dataset:
        rule = rule.replace(dataset, "<dataset>")
    return rule.split(": ")[0].split("; ")[0]
