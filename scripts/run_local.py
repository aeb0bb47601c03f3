"""`make run`: the local sandbox.

Today it starts Postgres (embedded under LOCAL_DIR unless DATABASE_URL is set),
applies the migrations, prints the state and `ready`, and keeps the database up
until Ctrl-C, when it stops what it started.
"""

from __future__ import annotations

import signal
import sys
import threading
import time

from shared.adapters.db import Database, parse_database_url
from shared.adapters.migrate import migrate
from shared.bootstrap import local_postgres, make_database
from shared.config import ConfigError, Settings, load_settings
from shared.domain.money import format_rubles
from shared.services.ledger_audit import audit_ledger


def print_state(db: Database) -> None:
    jobs = db.run("SELECT state, count(*) FROM jobs GROUP BY state ORDER BY state")
    users = db.run("SELECT count(*) FROM users")[0][0]
    report = audit_ledger(db)
    print(f"users: {users}, wallets: {report.wallets}, ledger entries: {report.entries}")
    print(
        f"money: balance {format_rubles(report.total_balance_kopecks)}, "
        f"held {format_rubles(report.total_held_kopecks)} in {report.open_holds} open holds"
    )
    print("jobs: " + (", ".join(f"{state} {count}" for state, count in jobs) or "none"))
    print("ledger invariants: " + ("OK" if report.ok else "VIOLATED\n" + report.summary()))


def stop_on_signals() -> threading.Event:
    """Installed first thing, so a Ctrl-C during start-up still ends in a clean stop."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    return stop


def main() -> int:
    started_at = time.monotonic()
    stop = stop_on_signals()
    try:
        settings: Settings = load_settings()
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    server = None
    if settings.database_url is None:
        server = local_postgres(settings)
        started = server.start()
        url = server.url
        print(
            f"Postgres: embedded, data in {server.data_dir} "
            f"({'started' if started else 'already running'} on 127.0.0.1:{server.port})"
        )
        if not started:
            server = None  # someone else's server: leave it running on exit
    else:
        url = settings.database_url.get_secret_value()
        print(f"Postgres: {parse_database_url(url).describe()} (from DATABASE_URL)")
    db = make_database(url, settings)
    try:
        applied = migrate(db)
        print("migrations: " + (", ".join(applied) if applied else "up to date"))
        print_state(db)
        if settings.database_url is None:
            print(f"connect: psql {url}")
        print(f"ready in {time.monotonic() - started_at:.1f} s — Ctrl-C stops it", flush=True)
        stop.wait()
    finally:
        db.close()
        if server is not None:
            server.stop()
            print("Postgres stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
