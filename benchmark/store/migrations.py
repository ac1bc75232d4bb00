"""Upgrading a results store written by an earlier schema version, in place and in one transaction.

Version 1 -> 2 adds the split seed to the pair and seed-result tables (a suite may repeat its split
over several seeds, each tuned on its own) and to their unique constraints. Every stored row becomes
a row of split seed 0, which is the split version 1 runs used, so nothing stored changes meaning and
a resumed run picks its pairs up where they were. Optuna's tables are not touched: the study of split
seed 0 keeps its version 1 name (:func:`benchmark.store.studies.study_name`).

SQLite cannot change a table's constraints, so each table is rebuilt (renamed, created anew, rows
copied, old table dropped) inside one ``BEGIN IMMEDIATE`` transaction: a crash or a failure leaves
the version 1 store exactly as it was, and a second process opening the store at the same time waits
for the lock and then finds version 2. PostgreSQL (and other servers) change the tables with
``ALTER TABLE`` in one transaction, the meta table locked first.
"""

from __future__ import annotations

from sqlalchemy import Engine, MetaData, inspect, text
from sqlalchemy.schema import CreateIndex, CreateTable

TABLES = ("benchmark_pairs", "benchmark_results")
UNIQUE = {"benchmark_pairs": ("uq_pair", "suite, dataset, method, split_seed"),
          "benchmark_results": ("uq_result", "suite, dataset, method, split_seed, seed")}
VERSION_QUERY = "SELECT value FROM benchmark_meta WHERE key = 'schema_version'"
SET_VERSION = "UPDATE benchmark_meta SET value = '2' WHERE key = 'schema_version'"


def migrate_from_1(engine: Engine, metadata: MetaData) -> None:
    """Upgrade a version 1 store to version 2 (a no-op when another process already did)."""
    if engine.dialect.name == "sqlite":
        _sqlite(engine, metadata)
    else:
        _server(engine)


def _sqlite(engine: Engine, metadata: MetaData) -> None:
    raw = engine.raw_connection()
    try:
        connection = raw.driver_connection
        previous = connection.isolation_level
        connection.isolation_level = None  # our own BEGIN/COMMIT: pysqlite would commit DDL on its own
        cursor = connection.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE")
            try:
                if cursor.execute(VERSION_QUERY).fetchone() != ("1",):
                    cursor.execute("ROLLBACK")  # another process migrated it while we waited
                    return
                for name in TABLES:
                    _rebuild_sqlite_table(cursor, engine, metadata, name)
                cursor.execute(SET_VERSION)
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
        finally:
            cursor.close()
            connection.isolation_level = previous
    finally:
        raw.close()


def _rebuild_sqlite_table(cursor, engine: Engine, metadata: MetaData, name: str) -> None:
    table = metadata.tables[name]
    old = f"{name}_v1"
    old_columns = [row[1] for row in cursor.execute(f"PRAGMA table_info({name})").fetchall()]
    for (index,) in cursor.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
                                   "AND sql IS NOT NULL", (name,)).fetchall():
        cursor.execute(f'DROP INDEX "{index}"')  # the new table recreates them under the same names
    cursor.execute(f'ALTER TABLE "{name}" RENAME TO "{old}"')
    cursor.execute(str(CreateTable(table).compile(engine)))
    for index in table.indexes:
        cursor.execute(str(CreateIndex(index).compile(engine)))
    kept = [c.name for c in table.columns if c.name in old_columns and c.name != "split_seed"]
    columns = ", ".join(f'"{c}"' for c in kept)
    cursor.execute(f'INSERT INTO "{name}" ({columns}, split_seed) SELECT {columns}, 0 FROM "{old}"')
    cursor.execute(f'DROP TABLE "{old}"')


def _server(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("LOCK TABLE benchmark_meta IN EXCLUSIVE MODE"))
        if conn.execute(text(VERSION_QUERY)).scalar() != "1":
            return
        inspector = inspect(conn)
        for name in TABLES:
            constraint, columns = UNIQUE[name]
            conn.execute(text(f"ALTER TABLE {name} ADD COLUMN split_seed INTEGER NOT NULL DEFAULT 0"))
            for unique in inspector.get_unique_constraints(name):
                conn.execute(text(f'ALTER TABLE {name} DROP CONSTRAINT "{unique["name"]}"'))
            conn.execute(text(f"ALTER TABLE {name} ADD CONSTRAINT {constraint} UNIQUE ({columns})"))
        conn.execute(text(SET_VERSION))
