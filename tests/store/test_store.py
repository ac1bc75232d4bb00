"""The results store: schema versions, unreachable URLs, unique rows and seed claims between workers."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, inspect, text, update
from sqlalchemy.exc import IntegrityError

from benchmark.errors import StorageError
from benchmark.store import OK, RUNNING, ResultRow, Store, now

KEY = ("s", "d", "m")


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'results.db'}", stale_after=60)


def set_claim(store: Store, seed: int, claimed_by: str, age_seconds: float = 0.0) -> None:
    with store.session() as s:
        s.execute(update(ResultRow).where(ResultRow.seed == seed)
                  .values(claimed_by=claimed_by, updated_at=now() - dt.timedelta(seconds=age_seconds)))
        s.commit()


def dead_pid() -> int:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                           check=True)
    return int(child.stdout)


def test_a_store_of_another_schema_version_is_refused_and_left_untouched(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE benchmark_meta (key VARCHAR(64) PRIMARY KEY, value VARCHAR(256))"))
        conn.execute(text("INSERT INTO benchmark_meta VALUES ('schema_version', '99')"))
    with pytest.raises(StorageError, match="has schema version 99; this version of the benchmark uses 2"):
        Store(url)
    assert inspect(create_engine(url)).get_table_names() == ["benchmark_meta"]  # nothing created


def test_an_unreachable_url_gets_a_clear_message_without_the_password():
    with pytest.raises(StorageError) as info:
        Store("postgresql+psycopg://bench:s3cret@127.0.0.1:1/bench")
    message = str(info.value)
    assert "cannot open the results store postgresql+psycopg://bench:***@127.0.0.1:1/bench" in message
    assert "s3cret" not in message and "check --storage" in message
    with pytest.raises(StorageError, match="cannot open the results store"):
        Store("nosuchdialect://x/y")


def test_seed_rows_are_unique_and_a_claim_is_exclusive(store):
    assert store.claim_seed(*KEY, 0)
    assert store.claim_seed(*KEY, 0)  # our own claim (a restarted loop in the same process)
    store.finish_seed(*KEY, 0, status=OK, reason=None, metrics={"minority_f1": 0.5})
    assert not store.claim_seed(*KEY, 0)  # done: never re-run
    store.finish_seed(*KEY, 0, status=OK, reason=None, metrics={"minority_f1": 0.6})
    rows = store.seed_rows(*KEY)
    assert [(r.seed, r.status, r.metrics) for r in rows] == [(0, OK, {"minority_f1": 0.6})]
    with store.session() as s, pytest.raises(IntegrityError):
        s.add(ResultRow(suite="s", dataset="d", method="m", seed=0, status=OK))
        s.commit()


def test_claims_of_live_dead_and_silent_workers(store):
    host = socket.gethostname()
    for seed in range(4):
        assert store.claim_seed(*KEY, seed)
    set_claim(store, 0, f"{host}:{os.getppid()}")  # a live process on this host
    set_claim(store, 1, f"{host}:{dead_pid()}")  # a dead process on this host: taken over at once
    set_claim(store, 2, "elsewhere:123", age_seconds=5)  # another machine, heartbeat fresh
    set_claim(store, 3, "elsewhere:456", age_seconds=120)  # another machine, silent for 2 minutes
    assert [store.claim_seed(*KEY, seed) for seed in range(4)] == [False, True, False, True]
    assert {r.seed: r.claimed_by for r in store.seed_rows(*KEY)}[3] == f"{host}:{os.getpid()}"


def test_touch_seed_refreshes_only_our_own_claim(store):
    for seed in range(2):
        store.claim_seed(*KEY, seed)
    set_claim(store, 0, f"{socket.gethostname()}:{os.getpid()}", age_seconds=120)
    set_claim(store, 1, "elsewhere:1", age_seconds=120)
    store.touch_seed(*KEY, 0)
    store.touch_seed(*KEY, 1)
    ages = {r.seed: (now() - r.updated_at).total_seconds() for r in store.seed_rows(*KEY)}
    assert ages[0] < 10 and ages[1] >= 120


def test_release_drops_only_an_unfinished_claim_of_ours(store):
    store.claim_seed(*KEY, 0)
    store.claim_seed(*KEY, 1)
    store.finish_seed(*KEY, 1, status=OK, reason=None)
    store.release_seed(*KEY, 0)
    store.release_seed(*KEY, 1)
    assert [(r.seed, r.status) for r in store.seed_rows(*KEY)] == [(1, OK)]
    assert store.results("s", include_running=True)[0].status != RUNNING


# -- schema version 1 -> 2: the split seed ------------------------------------------------------------
V1_SCHEMA = """
CREATE TABLE benchmark_meta ("key" VARCHAR(64) NOT NULL, value VARCHAR(256) NOT NULL, PRIMARY KEY ("key"));
CREATE TABLE benchmark_pairs (id INTEGER NOT NULL, suite VARCHAR(128) NOT NULL, dataset VARCHAR(128) NOT NULL,
  method VARCHAR(128) NOT NULL, status VARCHAR(32) NOT NULL, reason TEXT, engine VARCHAR(32),
  study_name VARCHAR(512), budget JSON NOT NULL, spent JSON NOT NULL, best_params JSON, best_value FLOAT,
  info JSON NOT NULL, updated_at DATETIME NOT NULL, PRIMARY KEY (id),
  CONSTRAINT uq_pair UNIQUE (suite, dataset, method));
CREATE INDEX ix_benchmark_pairs_suite ON benchmark_pairs (suite);
CREATE TABLE benchmark_results (id INTEGER NOT NULL, suite VARCHAR(128) NOT NULL, dataset VARCHAR(128) NOT NULL,
  method VARCHAR(128) NOT NULL, seed INTEGER NOT NULL, status VARCHAR(32) NOT NULL, reason TEXT,
  params JSON NOT NULL, metrics JSON NOT NULL, val_metrics JSON NOT NULL, per_class JSON NOT NULL,
  timings JSON NOT NULL, provenance JSON NOT NULL, artifacts JSON NOT NULL, claimed_by VARCHAR(256),
  created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL, PRIMARY KEY (id),
  CONSTRAINT uq_result UNIQUE (suite, dataset, method, seed));
CREATE INDEX ix_benchmark_results_suite ON benchmark_results (suite);
INSERT INTO benchmark_meta VALUES ('schema_version', '1');
INSERT INTO benchmark_pairs VALUES (7, 's', 'd', 'm', 'complete', NULL, 'deep', 's::d::m', '{"trials": 2}', '{}',
  '{"lr": 0.01}', 0.5, '{}', '2024-01-01 00:00:00');
INSERT INTO benchmark_results VALUES (3, 's', 'd', 'm', 0, 'ok', NULL, '{}', '{"minority_f1": 0.25}', '{}', '{}',
  '{}', '{}', '{}', NULL, '2024-01-01 00:00:00', '2024-01-01 00:00:00');
INSERT INTO benchmark_results VALUES (4, 's', 'd', 'm', 1, 'ok', NULL, '{}', '{"minority_f1": 0.75}', '{}', '{}',
  '{}', '{}', '{}', NULL, '2024-01-01 00:00:00', '2024-01-01 00:00:00');
"""


def version_1_store(path) -> str:
    import sqlite3

    with sqlite3.connect(path) as conn:
        conn.executescript(V1_SCHEMA)
    return f"sqlite:///{path}"


def test_a_version_1_store_is_upgraded_in_place_and_loses_nothing(tmp_path):
    url = version_1_store(tmp_path / "v1.db")
    store = Store(url)
    pair = store.get_pair("s", "d", "m")
    assert pair is not None and pair.id == 7 and pair.split_seed == 0 and pair.best_params == {"lr": 0.01}
    rows = store.seed_rows("s", "d", "m")
    assert [(r.id, r.seed, r.split_seed, r.metrics["minority_f1"]) for r in rows] == [(3, 0, 0, 0.25), (4, 1, 0, 0.75)]
    # The split seed is part of both unique keys now: split 1 gets rows of its own, split 0 none twice.
    store.update_pair("s", "d", "m", split_seed=1, status="tuning")
    assert store.get_pair("s", "d", "m", split_seed=1).status == "tuning"
    assert store.get_pair("s", "d", "m").status == "complete"
    assert store.claim_seed("s", "d", "m", 0, split_seed=1) and not store.claim_seed("s", "d", "m", 0)
    with store.session() as s, pytest.raises(IntegrityError):
        s.add(ResultRow(suite="s", dataset="d", method="m", split_seed=0, seed=1, status=OK, params={}, metrics={},
                        val_metrics={}, per_class={}, timings={}, provenance={}, artifacts={}))
        s.commit()
    assert {i["name"] for i in inspect(store.engine).get_indexes("benchmark_pairs")} == {"ix_benchmark_pairs_suite"}
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT value FROM benchmark_meta")).scalar() == "2"
    assert Store(url).get_pair("s", "d", "m").id == 7  # opening again changes nothing


def test_a_failed_upgrade_leaves_the_version_1_store_as_it_was(tmp_path, monkeypatch):
    import sqlite3

    from benchmark.store import migrations

    path = tmp_path / "v1.db"
    url = version_1_store(path)
    before = sqlite3.connect(path).execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall()
    calls = []

    def fail_on_second(cursor, engine, metadata, name):
        calls.append(name)
        if len(calls) == 2:
            raise OSError("disk full")
        real(cursor, engine, metadata, name)

    real = migrations._rebuild_sqlite_table
    monkeypatch.setattr(migrations, "_rebuild_sqlite_table", fail_on_second)
    with pytest.raises(StorageError, match="disk full"):
        Store(url)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall() == before
    assert conn.execute("SELECT value FROM benchmark_meta").fetchone() == ("1",)
    assert conn.execute("SELECT id, seed FROM benchmark_results ORDER BY id").fetchall() == [(3, 0), (4, 1)]
    conn.close()
    monkeypatch.undo()
    assert [r.seed for r in Store(url).seed_rows("s", "d", "m")] == [0, 1]  # and it upgrades once repaired
