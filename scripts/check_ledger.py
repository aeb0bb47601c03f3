"""Check the ledger's invariants in the configured database; exit 1 on any violation, 2 when
the settings are wrong, the database has no ledger yet, or the audit ran past
DB_STATEMENT_TIMEOUT_S (raise it and DB_CONNECT_TIMEOUT_S for a very large ledger).

Usage: python -m scripts.check_ledger   (DATABASE_URL, or the local embedded server)
"""

from __future__ import annotations

import argparse
import sys

from pg8000.exceptions import DatabaseError

from shared.adapters.db import Database, sqlstate
from shared.bootstrap import local_postgres, make_database
from shared.config import ConfigError, Settings, load_settings
from shared.services.ledger_audit import AuditReport, audit_ledger


def audit(db: Database) -> AuditReport | None:
    try:
        if not db.run("SELECT to_regclass('ledger') IS NOT NULL")[0][0]:
            return None
        return audit_ledger(db)
    finally:
        db.close()


def audit_configured(settings: Settings) -> AuditReport | None:
    if settings.database_url is not None:
        return audit(make_database(settings.database_url.get_secret_value(), settings))
    with local_postgres(settings).running() as server:  # stops it only if we started it
        return audit(make_database(server.url, settings))


def main() -> int:
    # Before any side effect: --help must not start (or create) a database.
    argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    ).parse_args()
    try:
        settings = load_settings()
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    try:
        report = audit_configured(settings)
    except DatabaseError as error:
        if sqlstate(error) != "57014":
            raise
        print(
            "the audit ran past DB_STATEMENT_TIMEOUT_S and was cancelled: raise it (and "
            "DB_CONNECT_TIMEOUT_S above it) for this run",
            file=sys.stderr,
        )
        return 2
    if report is None:
        print("the database has no ledger yet: run `make run` once to migrate it")
        return 2
    print(report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
