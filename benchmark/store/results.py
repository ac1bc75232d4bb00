"""The results tables (SQLAlchemy): SQLite by default, any SQLAlchemy URL (PostgreSQL) works.

Two tables of our own beside Optuna's (which live in the same database):

- ``benchmark_pairs``: one row per (suite, dataset, method, split seed): status, reason, budget asked
  for and spent, best parameters and validation value. Each split seed of a suite is tuned on its own.
- ``benchmark_results``: one row per (suite, dataset, method, split seed, seed): test metrics of a
  re-run of that split's best configuration. A row is first inserted as ``running`` (a claim, so that
  two workers never run the same seed), then completed as ``ok`` or ``failed``. A unique constraint
  makes duplicates impossible.

Schema versions: 2 added the split seed (:mod:`benchmark.store.migrations` upgrades a version 1 store
in place, its rows becoming split seed 0); any other version is refused, untouched.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    inspect,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from benchmark.errors import StorageError
from benchmark.store.liveness import worker_gone, worker_id
from benchmark.store.status import PENDING, Status

RUNNING = Status.RUNNING.value  # statuses are written as plain strings, whatever the database driver

SCHEMA_VERSION = 2
DEFAULT_DB = Path("results") / "benchmark.db"
CONNECT_TIMEOUT = 10  # seconds to wait for a database server


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Meta(Base):
    __tablename__ = "benchmark_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))


class PairRow(Base):
    __tablename__ = "benchmark_pairs"
    __table_args__ = (UniqueConstraint("suite", "dataset", "method", "split_seed", name="uq_pair"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    suite: Mapped[str] = mapped_column(String(128), index=True)
    dataset: Mapped[str] = mapped_column(String(128))
    method: Mapped[str] = mapped_column(String(128))
    split_seed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    status: Mapped[str] = mapped_column(String(32), default=PENDING.value)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    engine: Mapped[str | None] = mapped_column(String(32), nullable=True)
    study_name: Mapped[str | None] = mapped_column(String(512), nullable=True)
    budget: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    spent: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    best_params: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    best_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    info: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now, onupdate=now)


class ResultRow(Base):
    __tablename__ = "benchmark_results"
    __table_args__ = (UniqueConstraint("suite", "dataset", "method", "split_seed", "seed", name="uq_result"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    suite: Mapped[str] = mapped_column(String(128), index=True)
    dataset: Mapped[str] = mapped_column(String(128))
    method: Mapped[str] = mapped_column(String(128))
    split_seed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    seed: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    val_metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    per_class: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    timings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    provenance: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Report material that is not a number: precision-recall curve points per minority class, grids of
    # generated samples (base64 PNG), ... Kept small (curves are thinned to about 100 points).
    artifacts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    claimed_by: Mapped[str | None] = mapped_column(String(256), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now, onupdate=now)


def default_storage_url() -> str:
    DEFAULT_DB.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{DEFAULT_DB.resolve()}"


def check_url_form(url: str) -> None:
    """A file path given where a URL belongs (``--storage results.db``) is refused with the URL it means."""
    if "://" in url:
        return
    shown = url if "@" not in url else "(a value with '@' and no scheme, not shown: it may hold a password)"
    raise StorageError(f"--storage {shown} is not a database URL (it has no scheme://)",
                       f"for an SQLite file give --storage sqlite:///{url if '@' not in url else 'results.db'} "
                       "(four slashes before an absolute path); for PostgreSQL postgresql+psycopg://user:password@host/db")


def engine_options(url: str) -> dict[str, Any]:
    """SQLAlchemy engine settings for the results database, the same for our tables and Optuna's:
    connections checked before use, a patient SQLite lock wait, a fast failure on an unreachable server."""
    options: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        options["connect_args"] = {"timeout": 60}
    elif url.startswith("postgresql"):
        options["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT}
    return options


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Status) else value


def _claim_is_stale(claimed_by: str | None, updated_at: dt.datetime, stale_after: float) -> bool:
    """A 'running' claim is stale when its process is gone (same host) or it is older than stale_after."""
    gone = worker_gone(claimed_by)
    if gone is not None:
        return gone
    return (now() - updated_at).total_seconds() > stale_after


class Store:
    """Results of benchmark runs. ``url`` is any SQLAlchemy URL; None means ``results/benchmark.db``."""

    def __init__(self, url: str | None = None, *, stale_after: float = 6 * 3600):
        self.url = url or default_storage_url()
        self.stale_after = stale_after  # a claim from another host is stale when not refreshed for this long
        check_url_form(self.url)
        try:
            self.engine = create_engine(self.url, **engine_options(self.url))
            if self.url.startswith("sqlite"):
                event.listen(self.engine, "connect", sqlite_pragmas)
            # Read the version before creating anything: a store of another version is left untouched;
            # a version 1 store is upgraded in place, in one transaction.
            if self._stored_version() == "1":
                self._upgrade_from_1()
            self._check_schema(self._stored_version())
            self._create_tables()
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise StorageError(
                f"cannot open the results store {self.safe_url}: {str(exc).splitlines()[0]}",
                "check --storage (a reachable SQLAlchemy URL such as sqlite:///results/benchmark.db or "
                "postgresql+psycopg://user:password@host/db), that the database exists and its driver is installed",
            ) from exc
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._record_schema()

    @property
    def safe_url(self) -> str:
        return self.hide_password(self.url)

    @staticmethod
    def hide_password(url: str) -> str:
        """The URL as messages may show it: the password masked."""
        from sqlalchemy.engine import make_url

        try:
            return make_url(url).render_as_string(hide_password=True)
        except Exception:
            return "<unparseable URL>"

    def _create_tables(self) -> None:
        for attempt in range(3):
            try:
                with self.engine.begin() as conn:
                    Base.metadata.create_all(conn)
                return
            except (OperationalError, ProgrammingError, IntegrityError):
                # Workers starting together on a fresh database race to create the tables; the loser
                # finds them there on the next attempt.
                if attempt == 2:
                    raise
                time.sleep(0.5 + random.random())

    def _upgrade_from_1(self) -> None:
        from benchmark.store.migrations import migrate_from_1

        try:
            migrate_from_1(self.engine, Base.metadata)
        except Exception as exc:  # sqlite3's own errors too (the rebuild runs on the driver's connection)
            raise StorageError(
                f"upgrading the results store {self.safe_url} from schema version 1 to {SCHEMA_VERSION} failed, and "
                f"nothing in it was changed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                "free disk space or make the store writable, then run again (the upgrade is retried); or use "
                "a new --storage",
            ) from exc

    def _stored_version(self) -> str | None:
        if not inspect(self.engine).has_table(Meta.__tablename__):
            return None
        with self.engine.connect() as conn:
            return conn.execute(select(Meta.value).where(Meta.key == "schema_version")).scalar()

    def _check_schema(self, version: str | None) -> None:
        if version is not None and version != str(SCHEMA_VERSION):
            raise StorageError(
                f"the results store {self.safe_url} has schema version {version}; this version of the "
                f"benchmark uses {SCHEMA_VERSION}",
                "use a new --storage for this version, or the benchmark version that wrote the store",
            )

    def _record_schema(self) -> None:
        with self.session() as s:
            if s.get(Meta, "schema_version") is None:
                s.add(Meta(key="schema_version", value=str(SCHEMA_VERSION)))
                try:
                    s.commit()
                except IntegrityError:  # another worker wrote it first
                    s.rollback()
            row = s.get(Meta, "schema_version")
            self._check_schema(row.value if row is not None else None)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as s:
            yield s

    # -- pairs ---------------------------------------------------------------------------------
    def get_pair(self, suite: str, dataset: str, method: str, *, split_seed: int = 0) -> PairRow | None:
        with self.session() as s:
            return s.scalar(select(PairRow).filter_by(suite=suite, dataset=dataset, method=method,
                                                      split_seed=split_seed))

    def update_pair(self, suite: str, dataset: str, method: str, *, split_seed: int = 0, **fields: Any) -> None:
        """Create the pair row of ``split_seed`` when missing, then set ``fields`` (only those given)."""
        for attempt in range(2):
            with self.session() as s:
                row = s.scalar(select(PairRow).filter_by(suite=suite, dataset=dataset, method=method,
                                                         split_seed=split_seed))
                if row is None:
                    row = PairRow(suite=suite, dataset=dataset, method=method, split_seed=split_seed, budget={},
                                  spent={}, info={})
                    s.add(row)
                for key, value in fields.items():
                    setattr(row, key, _plain(value))
                try:
                    s.commit()
                    return
                except IntegrityError:  # two workers created it at once: update the winner's row
                    s.rollback()
                    if attempt:
                        raise

    def pairs(self, suite: str | None = None) -> list[PairRow]:
        with self.session() as s:
            query = select(PairRow).order_by(PairRow.suite, PairRow.dataset, PairRow.method, PairRow.split_seed)
            if suite:
                query = query.filter_by(suite=suite)
            return list(s.scalars(query))

    # -- seed results --------------------------------------------------------------------------
    def claim_seed(self, suite: str, dataset: str, method: str, seed: int, *, split_seed: int = 0) -> bool:
        """Insert a 'running' row for this seed; False when another live worker holds it or it is done.

        A stale claim (its process is gone, or it was not refreshed by :meth:`touch_seed` for
        ``stale_after`` seconds) is taken over with a compare-and-set, so two workers never both win it.
        """
        me = worker_id()
        with self.session() as s:
            s.add(ResultRow(suite=suite, dataset=dataset, method=method, split_seed=split_seed, seed=seed,
                            status=RUNNING, claimed_by=me, params={}, metrics={}, val_metrics={}, per_class={},
                            timings={}, provenance={}, artifacts={}))
            try:
                s.commit()
                return True
            except IntegrityError:
                s.rollback()
            row = s.scalar(select(ResultRow).filter_by(suite=suite, dataset=dataset, method=method,
                                                       split_seed=split_seed, seed=seed))
            if row is None or row.status != RUNNING:
                return False
            if row.claimed_by != me and not _claim_is_stale(row.claimed_by, row.updated_at, self.stale_after):
                return False
            taken = s.execute(
                update(ResultRow)
                .where(ResultRow.id == row.id, ResultRow.status == RUNNING, ResultRow.claimed_by == row.claimed_by,
                       ResultRow.updated_at == row.updated_at)
                .values(claimed_by=me, updated_at=now())
            ).rowcount
            s.commit()
            return taken == 1

    def touch_seed(self, suite: str, dataset: str, method: str, seed: int, *, split_seed: int = 0) -> None:
        """Refresh our claim on a seed re-run (a heartbeat), so that workers elsewhere leave it alone."""
        with self.session() as s:
            s.execute(update(ResultRow)
                      .where(ResultRow.suite == suite, ResultRow.dataset == dataset, ResultRow.method == method,
                             ResultRow.split_seed == split_seed, ResultRow.seed == seed, ResultRow.status == RUNNING,
                             ResultRow.claimed_by == worker_id())
                      .values(updated_at=now()))
            s.commit()

    def seed_rows(self, suite: str, dataset: str, method: str, *, split_seed: int = 0) -> list[ResultRow]:
        """Every seed row of one pair on one split, running claims included, by seed."""
        with self.session() as s:
            return list(s.scalars(select(ResultRow).filter_by(suite=suite, dataset=dataset, method=method,
                                                              split_seed=split_seed).order_by(ResultRow.seed)))

    def finish_seed(self, suite: str, dataset: str, method: str, seed: int, *, split_seed: int = 0,
                    **fields: Any) -> None:
        with self.session() as s:
            row = s.scalar(select(ResultRow).filter_by(suite=suite, dataset=dataset, method=method,
                                                       split_seed=split_seed, seed=seed))
            if row is None:
                row = ResultRow(suite=suite, dataset=dataset, method=method, split_seed=split_seed, seed=seed)
                s.add(row)
            for key, value in fields.items():
                setattr(row, key, _plain(value))
            row.claimed_by = None
            s.commit()

    def release_seed(self, suite: str, dataset: str, method: str, seed: int, *, split_seed: int = 0) -> None:
        """Drop our own unfinished claim (an interrupted re-run leaves no row behind)."""
        with self.session() as s:
            row = s.scalar(select(ResultRow).filter_by(suite=suite, dataset=dataset, method=method,
                                                       split_seed=split_seed, seed=seed))
            if row is not None and row.status == RUNNING and row.claimed_by == worker_id():
                s.delete(row)
                s.commit()

    def results(self, suite: str | None = None, *, include_running: bool = False) -> list[ResultRow]:
        with self.session() as s:
            query = select(ResultRow).order_by(ResultRow.suite, ResultRow.dataset, ResultRow.method,
                                               ResultRow.split_seed, ResultRow.seed)
            if suite:
                query = query.filter_by(suite=suite)
            rows = list(s.scalars(query))
        return [r for r in rows if include_running or r.status != RUNNING]

    def suites(self) -> list[str]:
        with self.session() as s:
            return sorted(set(s.scalars(select(PairRow.suite))) | set(s.scalars(select(ResultRow.suite))))


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """A SQLite connection's settings (our tables' and Optuna's): the write-ahead log, so readers do not
    block the writer, a patient lock wait, and in WAL mode a commit without fsync (``synchronous=NORMAL``:
    consistent always and durable when a process is killed; only a power loss or an OS crash may roll
    back the last commits, which a resumed run re-does). A commit with fsync cost 4-10 ms of a tuning
    epoch's wall time on a shared disk, about 1 ms without (issue 26)."""
    import sqlite3

    cursor = dbapi_connection.cursor()
    try:
        mode = cursor.execute("PRAGMA journal_mode=WAL").fetchone()
        cursor.execute("PRAGMA busy_timeout=60000")
        if mode and str(mode[0]).lower() == "wal":  # in a rollback journal NORMAL is less safe: keep FULL
            cursor.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.Error:  # a read-only or network file system: keep SQLite's defaults
        pass
    finally:
        cursor.close()
