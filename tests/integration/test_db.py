"""The pool and its retries, and the migrator, against real Postgres."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pg8000.converters import timestamp_in
from pg8000.exceptions import DatabaseError, InterfaceError

from shared.adapters.db import (
    BROKEN_CONNECTION,
    Connection,
    Database,
    PoolExhausted,
    sqlstate,
)
from shared.adapters.migrate import MigrationError, discover, migrate
from shared.bootstrap import make_database
from shared.config import load_settings
from tests.conftest import DatabaseFactory

REPO = Path(__file__).resolve().parents[2]


def test_a_warm_pool_reuses_its_connection(db: Database) -> None:
    first = db.run("SELECT pg_backend_pid()")[0][0]
    second = db.run("SELECT pg_backend_pid()")[0][0]
    assert first == second


def test_the_pool_is_bounded(make_test_database: DatabaseFactory) -> None:
    small = make_test_database(migrated=False, max_size=1)
    small._wait_s = 0.2
    with small.connection(), pytest.raises(PoolExhausted):
        small.run("SELECT 1")
    assert small.run("SELECT 1") == [[1]]  # the slot comes back after use


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata", "America/St_Johns", "Europe/Moscow"])
def test_timestamps_read_as_the_instants_they_are(db: Database, zone: str) -> None:
    # Our connections parse timestamps with fromisoformat (fast), falling back to pg8000.
    utc = UTC
    values = {
        "2026-11-27 00:15:39.123456+00": datetime(2026, 11, 27, 0, 15, 39, 123456, utc),
        "2026-11-27 00:15:39.12+00": datetime(2026, 11, 27, 0, 15, 39, 120000, utc),
        "2026-11-27 00:15:39+00": datetime(2026, 11, 27, 0, 15, 39, tzinfo=utc),
        # Local mean time in 1900: offsets with seconds, which pg8000's own parser refuses.
        "1900-01-01 12:00:00+00": datetime(1900, 1, 1, 12, tzinfo=utc),
        "0099-06-30 23:59:59.5+00": datetime(99, 6, 30, 23, 59, 59, 500000, utc),
    }
    with db.connection() as conn:
        conn.run(f"SET TIME ZONE '{zone}'")
        try:
            for value, instant in values.items():
                [[parsed, naive, naive_text]] = conn.run(
                    "SELECT CAST(:v AS timestamptz), CAST(CAST(:v AS timestamptz) AS timestamp), "
                    "CAST(CAST(CAST(:v AS timestamptz) AS timestamp) AS text)",
                    v=value,
                )
                assert parsed == instant, (zone, value, parsed)
                assert parsed.utcoffset() is not None
                assert naive == timestamp_in(naive_text), (zone, value, naive_text)
            # What fromisoformat cannot read is pg8000's to read, as before.
            assert conn.run("SELECT CAST('infinity' AS timestamptz)") == [["infinity"]]
            assert conn.run("SELECT CAST('-infinity' AS timestamp)") == [["-infinity"]]
        finally:
            conn.run("RESET TIME ZONE")


def test_a_failed_transaction_rolls_back(db: Database) -> None:
    db.run("CREATE TABLE IF NOT EXISTS scratch_rollback (v int)")
    with pytest.raises(RuntimeError), db.transaction() as conn:
        conn.run("INSERT INTO scratch_rollback VALUES (1)")
        raise RuntimeError("boom")
    assert db.run("SELECT count(*) FROM scratch_rollback") == [[0]]


def test_a_deadlock_is_retried_until_both_commit(db: Database) -> None:
    db.run("CREATE TABLE IF NOT EXISTS scratch_deadlock (id int PRIMARY KEY, v int)")
    db.run("INSERT INTO scratch_deadlock VALUES (1, 0), (2, 0) ON CONFLICT DO NOTHING")
    barrier = threading.Barrier(2, timeout=10)
    attempts = {"a": 0, "b": 0}

    def crossing(name: str, first: int, second: int) -> None:
        def work(conn: Connection) -> None:
            attempts[name] += 1
            conn.run("UPDATE scratch_deadlock SET v = v + 1 WHERE id = :i", i=first)
            if attempts[name] == 1:
                barrier.wait()  # both now hold one row and want the other's
            conn.run("UPDATE scratch_deadlock SET v = v + 1 WHERE id = :i", i=second)

        db.in_transaction(work)

    threads = [
        threading.Thread(target=crossing, args=("a", 1, 2)),
        threading.Thread(target=crossing, args=("b", 2, 1)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(attempts.values()) == [1, 2]  # the deadlock victim ran again
    assert db.run("SELECT sum(v) FROM scratch_deadlock") == [[4]]


def test_a_non_retryable_error_surfaces_at_once(db: Database) -> None:
    calls = 0

    def work(conn: Connection) -> None:
        nonlocal calls
        calls += 1
        conn.run("SELECT 1 / 0")

    with pytest.raises(DatabaseError):
        db.in_transaction(work)
    assert calls == 1


# A sequence advances whatever happens to the transaction: it counts the tries.
COUNTED_SERIALIZATION_FAILURE = (
    "DO $$ BEGIN PERFORM nextval('tries'); "
    "RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END $$"
)


@pytest.mark.parametrize("retries_max", [1, 2, 3])
def test_db_retries_max_counts_every_attempt_the_first_included(
    make_test_database: DatabaseFactory, retries_max: int
) -> None:
    """DB_RETRIES_MAX is attempts in all, for a transaction and for a single statement:
    1 means no retry."""
    database = Database(
        make_test_database(migrated=False).params, max_size=1, retries_max=retries_max
    )
    database.run("CREATE SEQUENCE tries")

    def tries() -> int:
        last_value, called = database.run("SELECT last_value, is_called FROM tries")[0]
        database.run("ALTER SEQUENCE tries RESTART")
        return int(last_value) if called else 0

    with pytest.raises(DatabaseError) as failure:
        database.in_transaction(lambda conn: conn.run(COUNTED_SERIALIZATION_FAILURE))
    assert sqlstate(failure.value) == "40001"
    assert tries() == retries_max
    with pytest.raises(DatabaseError):
        database.run(COUNTED_SERIALIZATION_FAILURE)
    assert tries() == retries_max
    database.close()


def test_only_an_idempotent_statement_is_resent_after_its_connection_dropped(
    make_test_database: DatabaseFactory,
) -> None:
    params = make_test_database(migrated=False).params
    database = Database(params, max_size=1)
    admin = Database(params, max_size=1)

    def drop_the_pooled_connection() -> None:
        pid = database.run("SELECT pg_backend_pid()")[0][0]
        admin.run("SELECT pg_terminate_backend(:pid)", pid=pid)

    # pg8000 reports a lost connection either way (InterfaceError, or the socket's own
    # ConnectionResetError), as the timing falls: ten drops meet both.
    for _ in range(10):
        drop_the_pooled_connection()
        assert database.run("SELECT 1", idempotent=True) == [[1]]  # again, on a new one
    drop_the_pooled_connection()
    with pytest.raises(BROKEN_CONNECTION):
        database.run("SELECT 1")  # it may have run: the caller decides
    assert database.run("SELECT 2") == [[2]]  # the broken connection left the pool
    database.close()
    admin.close()


def test_a_transaction_that_commits_first_time_never_loads_tenacity(
    db: Database, pg_server_url: str
) -> None:
    """tenacity is for the rare retry: a cold start's first state change does not import it,
    nor does any warm transaction pay its bookkeeping."""
    url = pg_server_url.rsplit("/", 1)[0] + "/" + db.params.database
    probe = (
        "import sys; from shared.adapters.db import Database, parse_database_url; "
        f"d = Database(parse_database_url({url!r})); "
        "print(d.in_transaction(lambda conn: conn.run('SELECT 41 + 1'))[0][0], "
        "d.run('SELECT 1')[0][0], 'tenacity' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["42", "1", "False"]


def _locked_row(db: Database) -> None:
    db.run("CREATE TABLE IF NOT EXISTS lock_probe (id int PRIMARY KEY, v int NOT NULL)")
    db.run("INSERT INTO lock_probe VALUES (1, 0) ON CONFLICT (id) DO UPDATE SET v = 0")


def test_a_statement_past_its_timeout_is_cancelled_by_the_server_and_writes_nothing(
    make_test_database: DatabaseFactory,
) -> None:
    """Without a server-side timeout, pg8000's socket timeout ends the wait on the client
    only: the UPDATE below then ran once the lock was released."""
    holder = make_test_database(migrated=False, max_size=1)
    _locked_row(holder)
    params = holder.params
    waiting = Database(params, max_size=1, connect_timeout_s=5, statement_timeout_s=0.5)
    with holder.transaction() as conn:
        conn.run("SELECT v FROM lock_probe WHERE id = 1 FOR UPDATE")
        began = time.monotonic()
        with pytest.raises(DatabaseError) as refused:
            waiting.run("UPDATE lock_probe SET v = v + 1 WHERE id = :id", id=1)
        waited = time.monotonic() - began
    assert sqlstate(refused.value) == "57014"  # query_canceled
    assert 0.4 < waited < 4
    time.sleep(0.3)  # a statement the server still ran would have committed by now
    assert holder.run("SELECT v FROM lock_probe") == [[0]]
    pid = waiting.run("SELECT pg_backend_pid()")[0][0]  # the same connection, still usable
    assert waiting.run("SELECT pg_backend_pid()")[0][0] == pid
    waiting.close()


def test_the_functions_database_carries_the_statement_timeout(pg_server_url: str) -> None:
    settings = load_settings(_env_file=None, db_statement_timeout_s=2.5)
    database = make_database(pg_server_url, settings)
    assert database.run("SHOW statement_timeout") == [["2500ms"]]
    database.close()


def test_a_migration_past_the_statement_timeout_is_cancelled_and_not_recorded(
    make_test_database: DatabaseFactory, tmp_path: Path
) -> None:
    """Cancelled by the server, not abandoned by the client: it leaves no statement waiting
    in a lock queue. A long migration runs with both timeouts raised (docs/OPERATIONS.md)."""
    plain = make_test_database(migrated=False)
    (tmp_path / "0001_slow.sql").write_text("SELECT pg_sleep(0.5);")
    slow = Database(plain.params, statement_timeout_s=0.2)
    with pytest.raises(DatabaseError) as cancelled:
        migrate(slow, tmp_path)
    assert sqlstate(cancelled.value) == "57014"
    slow.close()
    patient = Database(plain.params, statement_timeout_s=2)
    assert migrate(patient, tmp_path) == ["0001_slow"]
    patient.close()


def test_migrations_apply_once_in_order(make_test_database: DatabaseFactory) -> None:
    fresh = make_test_database(migrated=False)
    names = [m.name for m in discover()]
    assert migrate(fresh) == names
    assert migrate(fresh) == []
    recorded = fresh.run("SELECT name FROM schema_migrations ORDER BY version")
    assert [row[0] for row in recorded] == names
    tables = {
        row[0]
        for row in fresh.run(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
    }
    assert {
        "users",
        "wallets",
        "ledger",
        "holds",
        "jobs",
        "ui_state",
        "processed_updates",
        "payments",
    } <= tables


def test_two_processes_migrating_at_once_apply_each_file_once(
    make_test_database: DatabaseFactory,
) -> None:
    fresh = make_test_database(migrated=False, max_size=4)
    barrier = threading.Barrier(4)
    applied: list[list[str]] = []
    errors: list[Exception] = []

    def start_up() -> None:
        barrier.wait()
        try:
            applied.append(migrate(fresh))
        except Exception as error:  # collected: the assertion below names it
            errors.append(error)

    threads = [threading.Thread(target=start_up) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(len(names) for names in applied) == [0, 0, 0, len(discover())]


def test_an_applied_migration_may_not_change(
    make_test_database: DatabaseFactory, tmp_path: Path
) -> None:
    fresh = make_test_database(migrated=False)
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE t (v int);")
    assert migrate(fresh, tmp_path) == ["0001_first"]
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE t (v bigint);")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrate(fresh, tmp_path)


def test_a_badly_named_migration_is_refused(tmp_path: Path) -> None:
    (tmp_path / "first.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"0001_name\.sql"):
        discover(tmp_path)


def test_sslmode_require_is_refused_by_a_server_without_tls(pg_server_url: str) -> None:
    from dataclasses import replace

    from shared.adapters.db import parse_database_url

    params = replace(parse_database_url(pg_server_url), ssl_mode="require")
    tls = Database(params, max_size=1)
    try:
        # The embedded server has no certificate: asking for TLS must not fall back to
        # plain text silently.
        with pytest.raises(InterfaceError, match="SSL"):
            tls.run("SELECT 1")
    finally:
        tls.close()
