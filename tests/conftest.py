"""One real, migrated Postgres per test session; fresh ids per test, never truncation.

The server is TEST_DATABASE_URL when set, else a throwaway embedded one. Either
way the tests work in a database of their own, created here and dropped after.
"""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Protocol

import pytest

from shared.adapters.db import Database, parse_database_url
from shared.adapters.embedded_pg import EmbeddedPostgres
from shared.adapters.migrate import migrate
from shared.config import load_settings
from shared.local_ports import free_port
from shared.services.ledger import Ledger
from shared.services.ledger_audit import audit_ledger
from shared.services.users import Account, open_account
from tests.ids import new_telegram_id


class DatabaseFactory(Protocol):
    def __call__(self, *, migrated: bool = True, max_size: int = 8) -> Database: ...


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    settings = load_settings()
    if settings.test_database_url is not None:
        yield settings.test_database_url.get_secret_value()
        return
    with tempfile.TemporaryDirectory(prefix="kie-test-pg-") as tmp:
        server = EmbeddedPostgres(Path(tmp) / "data", free_port(), fast=True, max_connections=200)
        with server.running():
            yield server.url


@pytest.fixture(scope="session")
def make_test_database(pg_server_url: str) -> Iterator[DatabaseFactory]:
    """A factory of empty databases on the test server, each dropped at the end."""
    params = parse_database_url(pg_server_url)
    admin = Database(params, max_size=1)
    created: list[str] = []

    def factory(*, migrated: bool = True, max_size: int = 8) -> Database:
        name = f"kie_test_{secrets.token_hex(4)}"
        admin.run(f'CREATE DATABASE "{name}"')
        created.append(name)
        db = Database(replace(params, database=name), max_size=max_size, wait_s=30)
        if migrated:
            migrate(db)
        return db

    yield factory
    for name in created:
        admin.run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(scope="session")
def db(make_test_database: DatabaseFactory) -> Iterator[Database]:
    database = make_test_database(max_size=60)
    yield database
    database.close()


@pytest.fixture(scope="session")
def ledger(db: Database) -> Ledger:
    return Ledger(db, default_hold_ttl_s=3600)


@pytest.fixture
def account(db: Database) -> Account:
    return open_account(db, new_telegram_id())


@pytest.fixture
def audited(db: Database) -> Iterator[None]:
    """Fails the test when it leaves the ledger's invariants broken."""
    yield
    report = audit_ledger(db)
    assert report.ok, report.summary()
