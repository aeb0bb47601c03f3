"""Postgres through pg8000: URL parsing, a small bounded pool, retries, transactions.

pg8000 connections are one-thread-each, so the pool hands a connection to one
caller at a time. A warm serverless instance keeps its pool between
invocations; the bound keeps instances × pool under the server's connections.
"""

from __future__ import annotations

import contextlib
import queue
import random
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from pg8000.converters import timestamp_in, timestamptz_in
from pg8000.exceptions import DatabaseError, InterfaceError
from pg8000.native import Connection as Connection  # re-exported: the type callers hold

if TYPE_CHECKING:
    from tenacity import Retrying

T = TypeVar("T")

# SQLSTATEs after which the whole transaction can simply run again.
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
# Prepared statements kept per connection; the hot paths use a handful.
STATEMENT_CACHE_MAX = 64
# A connection lost under a statement: pg8000 says InterfaceError ("network error") when it
# reads the end of the stream, and lets the socket's own error through when the server's
# reset comes first (ConnectionResetError, 92 of 100 drops in a test). Not a timeout: the
# server may still be working on it, and a resend would only pile on.
BROKEN_CONNECTION: tuple[type[Exception], ...] = (InterfaceError, ConnectionError)
_IDLE = b"I"  # pg8000's record of the server's ReadyForQuery status: no transaction open
TIMESTAMP_OID, TIMESTAMPTZ_OID = 1114, 1184


def _iso_parser(fallback: Callable[[str], Any]) -> Callable[[str], Any]:
    """pg8000 parses timestamps with strptime, about 23 µs a value on a small machine;
    Postgres' ISO output (DateStyle ISO, its default) parses with fromisoformat in under
    1 µs. What fromisoformat refuses (infinity, BC dates) goes to pg8000's own parser."""

    def parse(text: str) -> Any:
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            return fallback(text)

    return parse


_FAST_TIMESTAMP_IN = _iso_parser(timestamp_in)
_FAST_TIMESTAMPTZ_IN = _iso_parser(timestamptz_in)


class PooledConnection(Connection):  # type: ignore[misc]  # pg8000 ships no type hints
    """A connection that keeps its parameterised statements prepared.

    Parsing named parameters costs pg8000 about 0.3 ms of CPU per call and an
    unnamed statement is planned by the server every time; preparing once per
    connection removes both from the hot path (the ledger's calls).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.statements: OrderedDict[str, Any] = OrderedDict()
        self.register_in_adapter(TIMESTAMP_OID, _FAST_TIMESTAMP_IN)
        self.register_in_adapter(TIMESTAMPTZ_OID, _FAST_TIMESTAMPTZ_IN)

    def run_prepared(self, sql: str, **params: Any) -> list[list[Any]]:
        statement = self.statements.get(sql)
        if statement is None:
            statement = self.prepare(sql)
            self.statements[sql] = statement
            if len(self.statements) > STATEMENT_CACHE_MAX:
                self.statements.popitem(last=False)[1].close()
        rows: list[list[Any]] = statement.run(**params)
        return rows

    @property
    def idle(self) -> bool:
        """True when no transaction is open, so the connection can be reused as it is."""
        return getattr(self, "_transaction_status", None) == _IDLE


class PoolExhausted(RuntimeError):
    """No connection became free in time."""


@dataclass(frozen=True)
class ConnectParams:
    user: str
    database: str
    password: str | None = None
    host: str | None = None
    port: int = 5432
    unix_sock: str | None = None
    ssl_mode: str | None = None  # libpq's sslmode: require or verify-full turn TLS on

    def describe(self) -> str:
        """Where we connect, without the password (for logs and `make run`)."""
        where = self.unix_sock or f"{self.host}:{self.port}"
        return f"{self.user}@{where}/{self.database}"


def parse_database_url(url: str) -> ConnectParams:
    """postgresql://user:pass@host:port/db, or a unix socket as libpq spells it:
    postgresql://user:pass@/db?host=/cloudsql/project:region:instance (a directory)."""
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql", "postgresql+pg8000"}:
        raise ValueError(f"DATABASE_URL must start with postgresql://, got {parts.scheme!r}")
    query = parse_qs(parts.query)
    database = unquote(parts.path.lstrip("/")) or "postgres"
    user = unquote(parts.username or "postgres")
    password = unquote(parts.password) if parts.password is not None else None
    port = parts.port or 5432
    socket_dir = query.get("host", [None])[0]
    if socket_dir and socket_dir.startswith("/"):
        return ConnectParams(
            user=user,
            database=database,
            password=password,
            port=port,
            unix_sock=f"{socket_dir.rstrip('/')}/.s.PGSQL.{port}",
        )
    ssl_mode = query.get("sslmode", [None])[0]
    if ssl_mode not in (None, "disable", "prefer", "allow", "require", "verify-ca", "verify-full"):
        raise ValueError(f"DATABASE_URL sslmode {ssl_mode!r} is not one libpq knows")
    return ConnectParams(
        user=user,
        database=database,
        password=password,
        host=parts.hostname,
        port=port,
        ssl_mode=ssl_mode if ssl_mode not in (None, "disable") else None,
    )


_ssl_context_lock = threading.Lock()


def ssl_context_for(ssl_mode: str | None) -> ssl.SSLContext | bool | None:
    """What pg8000 needs for libpq's sslmode, built once per process (loading the trusted
    roots costs ~50 ms of CPU, too much for every new connection) by whichever thread of a
    fresh instance's first connections comes first (shared/once.py says why)."""
    with _ssl_context_lock:
        return _ssl_context_for(ssl_mode)


@lru_cache(maxsize=4)
def _ssl_context_for(ssl_mode: str | None) -> ssl.SSLContext | bool | None:
    """What each sslmode means here.

    No sslmode, or `disable`: plain, without even asking (pg8000's own default would try
    TLS without checking anything, paying that cost for no real protection). `prefer` and
    `allow`: TLS if the server offers it, unchecked. `require`: TLS, the certificate
    unchecked (Cloud SQL's private IP with ENCRYPTED_ONLY); `verify-ca` checks the chain,
    `verify-full` the chain and the host name, against the system's trusted roots."""
    if ssl_mode is None:
        return False
    if ssl_mode in ("prefer", "allow"):
        return None
    context = ssl.create_default_context()
    if ssl_mode != "verify-full":
        context.check_hostname = False
    if ssl_mode == "require":
        context.verify_mode = ssl.CERT_NONE
    return context


def sqlstate(error: BaseException) -> str | None:
    if isinstance(error, DatabaseError) and error.args and isinstance(error.args[0], dict):
        code = error.args[0].get("C")
        return str(code) if code is not None else None
    return None


def is_retryable(error: BaseException) -> bool:
    return sqlstate(error) in RETRYABLE_SQLSTATES


class Database:
    """A bounded pool of pg8000 connections with retrying helpers."""

    def __init__(
        self,
        params: ConnectParams,
        *,
        max_size: int = 2,
        connect_timeout_s: int = 10,
        wait_s: float = 10.0,
        retries_max: int = 5,
        statement_timeout_s: float | None = None,
    ) -> None:
        self.params = params
        self._idle: queue.LifoQueue[PooledConnection] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(max_size)
        self._connect_timeout_s = connect_timeout_s
        self._wait_s = wait_s
        self._retries_max = retries_max
        # pg8000's timeout is its socket's, so it also ends any read that waits longer: the
        # client gives up with a bare TimeoutError while the server still runs the statement,
        # which then commits once its lock frees. A server-side statement_timeout below it
        # cancels the statement itself: a clean error (57014), nothing written, and the
        # connection still usable.
        self._startup_params = (
            {"statement_timeout": str(max(1, round(statement_timeout_s * 1000)))}
            if statement_timeout_s is not None
            else None
        )

    def _connect(self) -> PooledConnection:
        p = self.params
        conn = PooledConnection(
            p.user,
            host=p.host or "localhost",
            port=p.port,
            database=p.database,
            password=p.password,
            unix_sock=p.unix_sock,
            ssl_context=ssl_context_for(p.ssl_mode),
            timeout=self._connect_timeout_s,
            tcp_keepalive=True,
            application_name="kie-studio",
            startup_params=self._startup_params,
        )
        return conn

    @contextmanager
    def connection(self) -> Iterator[PooledConnection]:
        """Borrow a connection. After an error it goes back to the pool only when the
        server says it is idle (a refused statement); otherwise it is closed."""
        if not self._slots.acquire(timeout=self._wait_s):
            raise PoolExhausted(f"no database connection free within {self._wait_s} s")
        try:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                conn = self._connect()
            try:
                yield conn
            except DatabaseError:
                if conn.idle:
                    self._idle.put(conn)
                else:
                    _close_quietly(conn)
                raise
            except BaseException:
                _close_quietly(conn)
                raise
            self._idle.put(conn)
        finally:
            self._slots.release()

    def _retrying(
        self, attempts: int, also: Callable[[BaseException], bool] | None = None
    ) -> Retrying:
        # Imported on the first retry only: tenacity costs a cold start ~50 ms, and the
        # happy path never needs it.
        from tenacity import (
            Retrying,
            retry_if_exception,
            stop_after_attempt,
            wait_random_exponential,
        )

        def should_retry(error: BaseException) -> bool:
            return is_retryable(error) or (also is not None and also(error))

        return Retrying(
            retry=retry_if_exception(should_retry),
            stop=stop_after_attempt(attempts),
            # After the jittered 5 ms before the first retry: up to 10, 20, 40 ms, …
            wait=wait_random_exponential(multiplier=0.01, max=0.25),
            reraise=True,
        )

    def _retry(
        self,
        failed: BaseException,
        call: Callable[[], T],
        also: Callable[[BaseException], bool] | None = None,
    ) -> T:
        """`call` failed its first try with `failed`, an error worth retrying: the rest of
        DB_RETRIES_MAX attempts in all. The first retry waits too, jittered, so the two
        victims of one deadlock do not meet again at once."""
        if self._retries_max < 2:
            raise failed
        time.sleep(random.uniform(0, 0.005))  # noqa: S311 - jitter, not a secret
        return self._retrying(self._retries_max - 1, also)(call)

    def run(self, sql: str, *, idempotent: bool = False, **params: Any) -> list[list[Any]]:
        """One statement in its own transaction, retried on serialization failure or
        deadlock; on a broken connection only when the statement is `idempotent`."""
        try:
            # The first try skips tenacity's bookkeeping: the hot path almost never retries.
            return self._run_once(sql, params)
        except (DatabaseError, *BROKEN_CONNECTION) as error:
            if not (is_retryable(error) or (idempotent and isinstance(error, BROKEN_CONNECTION))):
                raise
            failed = error
        also = (lambda e: isinstance(e, BROKEN_CONNECTION)) if idempotent else None
        return self._retry(failed, lambda: self._run_once(sql, params), also)

    def _run_once(self, sql: str, params: dict[str, Any]) -> list[list[Any]]:
        with self.connection() as conn:
            if params:
                return conn.run_prepared(sql, **params)
            rows: list[list[Any]] = conn.run(sql)
            return rows

    def run_with_columns(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        """A read, returned as dicts keyed by column name (for reports and screens)."""
        with self.connection() as conn:
            rows = conn.run(sql, **params)
            names = [column["name"] for column in conn.columns or []]
        return [dict(zip(names, row, strict=True)) for row in rows]

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """BEGIN … COMMIT on success; ROLLBACK on any way out by exception."""
        with self.connection() as conn:
            conn.run("BEGIN")
            try:
                yield conn
            except BaseException:
                _rollback_quietly(conn)
                raise
            conn.run("COMMIT")

    def in_transaction(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in a transaction, again from the start on 40001/40P01."""
        try:
            # The first try skips tenacity, as run's does: its import and its bookkeeping
            # are for the rare retry, not for every job's state change.
            return self._transact(work)
        except DatabaseError as error:
            if not is_retryable(error):
                raise
            failed = error
        return self._retry(failed, lambda: self._transact(work))

    def _transact(self, work: Callable[[Connection], T]) -> T:
        with self.transaction() as conn:
            return work(conn)

    def close(self) -> None:
        while True:
            try:
                _close_quietly(self._idle.get_nowait())
            except queue.Empty:
                return


def _rollback_quietly(conn: Connection) -> None:
    # The pool closes this connection right after, so a failed rollback loses nothing.
    with contextlib.suppress(DatabaseError, InterfaceError, OSError):
        conn.run("ROLLBACK")


def _close_quietly(conn: Connection) -> None:
    # Already broken: there is nothing else to release.
    with contextlib.suppress(InterfaceError, OSError):
        conn.close()
