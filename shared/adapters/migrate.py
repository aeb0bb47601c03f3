"""Ordered SQL migrations, applied once each and recorded.

Files are `shared/migrations/NNNN_name.sql`. One transaction holds an advisory
lock, so two processes starting at once apply each file exactly once (the
second waits, then finds nothing left to do). An applied file whose text has
changed is refused: history is fixed, a change is a new file.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from shared.adapters.db import Connection, Database

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
FILE_PATTERN = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Any constant shared by every process of this project; "kie-studio migrate" as an int8.
ADVISORY_LOCK_KEY = 0x6B69655F6D696772


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        match = FILE_PATTERN.match(path.name)
        if not match:
            raise MigrationError(f"migration file name must look like 0001_name.sql: {path.name}")
        migrations.append(Migration(match.group(1), path.stem, path.read_text(encoding="utf-8")))
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a number: {versions}")
    return migrations


def _apply_pending(conn: Connection, migrations: list[Migration]) -> list[str]:
    conn.run("SELECT pg_advisory_xact_lock(:key)", key=ADVISORY_LOCK_KEY)
    conn.run(
        """CREATE TABLE IF NOT EXISTS schema_migrations (
               version text PRIMARY KEY,
               name text NOT NULL,
               checksum text NOT NULL,
               applied_at timestamptz NOT NULL DEFAULT now())"""
    )
    applied = {
        version: checksum
        for version, checksum in conn.run("SELECT version, checksum FROM schema_migrations")
    }
    done: list[str] = []
    for migration in migrations:
        recorded = applied.get(migration.version)
        if recorded is not None:
            if recorded != migration.checksum:
                raise MigrationError(
                    f"{migration.name} was changed after it was applied; add a new migration"
                )
            continue
        conn.run(migration.sql)
        conn.run(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES (:v, :n, :c)",
            v=migration.version,
            n=migration.name,
            c=migration.checksum,
        )
        done.append(migration.name)
    return done


def migrate(db: Database, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply every pending migration; return the names applied by this call."""
    migrations = discover(directory)
    with db.transaction() as conn:
        return _apply_pending(conn, migrations)
