"""DATABASE_URL in the shapes ops will write: TCP, Cloud SQL's unix socket, escaped secrets."""

from __future__ import annotations

import pytest

from shared.adapters.db import ConnectParams, parse_database_url


def test_tcp_url() -> None:
    assert parse_database_url("postgresql://app:pw@10.0.0.5:6432/studio") == ConnectParams(
        user="app", database="studio", password="pw", host="10.0.0.5", port=6432
    )


def test_unix_socket_directory_as_libpq_spells_it() -> None:
    params = parse_database_url("postgresql://app:pw@/studio?host=/cloudsql/proj:europe-west1:db")
    assert params.unix_sock == "/cloudsql/proj:europe-west1:db/.s.PGSQL.5432"
    assert params.host is None
    assert params.describe() == "app@/cloudsql/proj:europe-west1:db/.s.PGSQL.5432/studio"


def test_escaped_password_and_default_port() -> None:
    params = parse_database_url("postgres://app:p%40ss%2Fw@db.internal/studio")
    assert (params.password, params.port, params.host) == ("p@ss/w", 5432, "db.internal")
    assert "p@ss" not in params.describe()


def test_wrong_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="postgresql://"):
        parse_database_url("mysql://app@db/studio")


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("require", "require"),
        ("verify-full", "verify-full"),
        ("disable", None),
        ("prefer", "prefer"),
    ],
)
def test_sslmode_is_read_as_libpq_does(mode: str, expected: str | None) -> None:
    params = parse_database_url(f"postgresql://app:pw@10.0.0.5/studio?sslmode={mode}")
    assert params.ssl_mode == expected


def test_an_unknown_sslmode_is_refused() -> None:
    with pytest.raises(ValueError, match="sslmode 'strict'"):
        parse_database_url("postgresql://app:pw@10.0.0.5/studio?sslmode=strict")


def test_tls_contexts_check_as_much_as_the_mode_says() -> None:
    import ssl

    from shared.adapters.db import ssl_context_for

    assert ssl_context_for(None) is False  # plain, without asking the server for TLS
    assert ssl_context_for("prefer") is None  # pg8000: TLS when offered
    require = ssl_context_for("require")
    assert isinstance(require, ssl.SSLContext) and require.verify_mode == ssl.CERT_NONE
    full = ssl_context_for("verify-full")
    assert isinstance(full, ssl.SSLContext)
    assert full.check_hostname and full.verify_mode == ssl.CERT_REQUIRED
    assert ssl_context_for("verify-full") is full  # built once per process


def test_a_burst_of_first_connections_builds_one_tls_context() -> None:
    from shared.adapters import db
    from tests.threads import all_at_once

    db._ssl_context_for.cache_clear()
    contexts = all_at_once(lambda: db.ssl_context_for("verify-ca"))
    assert all(context is contexts[0] for context in contexts)
