"""The composition root: builds the process-wide database pool and services once.

A warm serverless instance keeps these between invocations. Nothing here runs
at import; functions call the getters on first use.
"""

from __future__ import annotations

from functools import lru_cache

from shared.adapters.db import Database, parse_database_url
from shared.adapters.embedded_pg import EmbeddedPostgres
from shared.config import Settings, get_settings
from shared.services.ledger import Ledger


def local_postgres(settings: Settings) -> EmbeddedPostgres:
    """The sandbox's own server, kept under LOCAL_DIR between runs like a real database."""
    return EmbeddedPostgres(settings.local_dir.resolve() / "pgdata", settings.local_pg_port)


def database_url(settings: Settings) -> str:
    """DATABASE_URL when set; otherwise the local embedded server, started if needed."""
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    server = local_postgres(settings)
    server.start()
    return server.url


def make_database(url: str, settings: Settings) -> Database:
    return Database(
        parse_database_url(url),
        max_size=settings.db_pool_max,
        connect_timeout_s=settings.db_connect_timeout_s,
        wait_s=settings.db_pool_wait_s,
        retries_max=settings.db_retries_max,
    )


@lru_cache(maxsize=1)
def get_database() -> Database:
    settings = get_settings()
    return make_database(database_url(settings), settings)


@lru_cache(maxsize=1)
def get_ledger() -> Ledger:
    return Ledger(get_database(), default_hold_ttl_s=get_settings().hold_ttl_s)
