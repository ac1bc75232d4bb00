"""The results database: our tables beside Optuna's, in one SQLAlchemy database.

- :mod:`~benchmark.store.results`: the pair and seed-row tables and :class:`Store`, their only writer;
- :mod:`~benchmark.store.status`: the statuses of pairs and seed rows;
- :mod:`~benchmark.store.studies`: Optuna's storage on the same database, and study names;
- :mod:`~benchmark.store.liveness`: worker and run identity, dead-process checks, heartbeats;
- :mod:`~benchmark.store.provenance`: what produced a row (versions, commit, host, device);
- :mod:`~benchmark.store.full_disk`: a full disk under the store, recognised and said in one line.
"""

from benchmark.store.liveness import worker_id
from benchmark.store.results import DEFAULT_DB, SCHEMA_VERSION, PairRow, ResultRow, Store, now
from benchmark.store.status import (
    COMPLETE,
    DATA_ERROR,
    DATA_UNAVAILABLE,
    FAILED,
    FINAL_PAIR_STATES,
    NOT_APPLICABLE,
    OK,
    PENDING,
    RE_RUNNING,
    RESOURCE_UNAVAILABLE,
    RUNNING,
    TUNING,
    Status,
)
from benchmark.store.studies import optuna_storage, parse_study_name, study_name

__all__ = [
    "COMPLETE", "DATA_ERROR", "DATA_UNAVAILABLE", "DEFAULT_DB", "FAILED", "FINAL_PAIR_STATES", "NOT_APPLICABLE", "OK", "PENDING",
    "RE_RUNNING", "RESOURCE_UNAVAILABLE", "RUNNING", "SCHEMA_VERSION", "TUNING", "PairRow", "ResultRow", "Status",
    "Store", "now", "optuna_storage", "parse_study_name", "study_name", "worker_id",
]
