"""The embedded Postgres server in a private directory (as `make run` starts it in .local/)."""

from __future__ import annotations

from pathlib import Path

from shared.adapters.db import Database, parse_database_url
from shared.adapters.embedded_pg import EmbeddedPostgres
from shared.local_ports import free_port


def test_a_server_below_a_private_directory_leaves_it_unlistable(tmp_path: Path) -> None:
    private = tmp_path / "home"
    private.mkdir(mode=0o700)
    server = EmbeddedPostgres(private / ".local" / "pgdata", free_port(), fast=True)
    with server.running():
        assert Database(parse_database_url(server.url)).run("SELECT 1") == [[1]]
    # Run as root the server runs as another user, which may pass through, not list.
    assert private.stat().st_mode & 0o044 == 0, oct(private.stat().st_mode)
