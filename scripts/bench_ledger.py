"""Benchmark: pgbench TPC-B vs the ledger, same server, same number of clients.

    python -m scripts.bench_ledger [--clients 8] [--seconds 5] [--rounds 3] [--database-url URL]

Each ledger client owns one wallet (as each marketer does) and loops: hold, then
capture part of it; each call is one counted operation. The goal is a ratio of
ledger operations/s to TPC-B transactions/s of at least 1.0. By default the
server is a fresh embedded one with production durability (fsync on). The two
workloads alternate in short rounds, so a change in the machine's background
load hits both alike.
"""

from __future__ import annotations

import argparse
import multiprocessing
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from shared.adapters.db import ConnectParams, Database, parse_database_url
from shared.adapters.embedded_pg import EmbeddedPostgres, pg_binary
from shared.adapters.migrate import migrate
from shared.local_ports import free_port
from shared.services.ledger import Ledger
from shared.services.ledger_audit import audit_ledger
from shared.services.users import open_account

HOLD_KOPECKS = 4_800
CAPTURE_KOPECKS = 3_900


@dataclass(frozen=True)
class ClientResult:
    operations: int
    latencies_ms: list[float]


def _pgbench_connection(params: ConnectParams) -> list[str]:
    return ["-h", params.host or "127.0.0.1", "-p", str(params.port), "-U", params.user]


def init_pgbench(params: ConnectParams, clients: int) -> None:
    # Scale ≥ clients, as pgbench's docs advise, so branches are not one hot row.
    subprocess.run(
        [
            str(pg_binary("pgbench")),
            *("-i", "-q", "-s", str(clients)),
            *_pgbench_connection(params),
            params.database,
        ],
        check=True,
        capture_output=True,
    )


# One command per line: pgbench's prepared mode miscounts parameters across lines.
LEDGER_SCRIPT = (
    "\\set r random(1, 2000000000)\n"
    "\\set wallet :wallet_base + :client_id\n"
    "SELECT * FROM ledger_hold(:wallet, 4800, 'pgb:' || :client_id || ':' || :r, 3600);\n"
    "SELECT * FROM ledger_capture('pgb:' || :client_id || ':' || :r, 3900, "
    "'pgb:' || :client_id || ':' || :r || '-capture');\n"
)


def run_pgbench_ledger(
    params: ConnectParams, first_wallet: int, clients: int, seconds: int
) -> float:
    """The same two ledger calls driven by pgbench (a C client): the database's own cost of a
    ledger operation, without our Python client. Operations/s (two per pgbench transaction)."""
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write(LEDGER_SCRIPT)
    try:
        result = subprocess.run(
            [
                str(pg_binary("pgbench")),
                *("-n", "-M", "prepared", "-c", str(clients), "-j", str(min(clients, 2))),
                *("-T", str(seconds), "-D", f"wallet_base={first_wallet}", "-f", script.name),
                *_pgbench_connection(params),
                params.database,
            ],
            check=False,
            capture_output=True,
            text=True,
        )
    finally:
        Path(script.name).unlink()
    if result.returncode != 0:
        raise RuntimeError(f"pgbench failed:\n{result.stdout[-500:]}\n{result.stderr[-1500:]}")
    match = re.search(r"tps = ([\d.]+)", result.stdout)
    if not match:
        raise RuntimeError(f"pgbench printed no tps:\n{result.stdout}\n{result.stderr}")
    return 2 * float(match.group(1))


def run_pgbench(params: ConnectParams, clients: int, seconds: int) -> float:
    common = _pgbench_connection(params)
    result = subprocess.run(
        [
            str(pg_binary("pgbench")),
            "-n",
            "-c",
            str(clients),
            "-j",
            str(min(clients, 2)),
            "-T",
            str(seconds),
            *common,
            params.database,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    match = re.search(r"tps = ([\d.]+)", result.stdout)
    if not match:
        raise RuntimeError(f"pgbench printed no tps:\n{result.stdout}\n{result.stderr}")
    return float(match.group(1))


def ledger_client(args: tuple[ConnectParams, int, int, float, float]) -> ClientResult:
    """Loops until `window_end`; counts only operations that finish inside the window
    (CLOCK_MONOTONIC is shared by every process on the machine)."""
    params, client, wallet_id, window_start, window_end = args
    db = Database(params, max_size=1)
    ledger = Ledger(db, default_hold_ttl_s=3600)
    run_id = secrets.token_hex(3)
    latencies: list[float] = []
    index = 0
    while time.monotonic() < window_end:
        hold_ref = f"bench:{run_id}:{client}:{index}"
        started = time.monotonic()
        ledger.hold(wallet_id, HOLD_KOPECKS, hold_ref)
        held = time.monotonic()
        ledger.capture(hold_ref, hold_ref + ":capture", amount=CAPTURE_KOPECKS)
        done = time.monotonic()
        for begin, end in ((started, held), (held, done)):
            if window_start <= end <= window_end:
                latencies.append((end - begin) * 1000)
        index += 1
    db.close()
    return ClientResult(operations=len(latencies), latencies_ms=latencies)


def init_ledger(params: ConnectParams, clients: int) -> list[int]:
    db = Database(params, max_size=1)
    migrate(db)
    ledger = Ledger(db, default_hold_ttl_s=3600)
    wallets = []
    for client in range(clients):
        account = open_account(db, 900_000_000 + client)
        ledger.topup(account.wallet_id, 10**11, f"bench-funds:{account.wallet_id}")
        wallets.append(account.wallet_id)
    db.close()
    return wallets


def run_ledger(
    params: ConnectParams, wallets: list[int], seconds: int
) -> tuple[float, list[float]]:
    clients = len(wallets)
    with multiprocessing.get_context("spawn").Pool(clients) as pool:
        # The window opens once every worker has surely started (spawn imports each).
        window_start = time.monotonic() + 3.0
        window_end = window_start + seconds
        jobs = [(params, c, wallets[c], window_start, window_end) for c in range(clients)]
        results = pool.map(ledger_client, jobs)
    operations = sum(r.operations for r in results)
    latencies = sorted(ms for r in results for ms in r.latencies_ms)
    return operations / seconds, latencies


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * fraction))]


def bench(server_params: ConnectParams, clients: int, seconds: int, rounds: int) -> int:
    admin = Database(server_params, max_size=1)
    suffix = secrets.token_hex(3)
    tpcb_db, ledger_db = f"bench_tpcb_{suffix}", f"bench_ledger_{suffix}"
    admin.run(f'CREATE DATABASE "{tpcb_db}"')
    admin.run(f'CREATE DATABASE "{ledger_db}"')
    tpcb_params = replace(server_params, database=tpcb_db)
    ledger_params = replace(server_params, database=ledger_db)
    tps_rounds: list[float] = []
    ops_rounds: list[float] = []
    sql_rounds: list[float] = []
    latencies: list[float] = []
    try:
        init_pgbench(tpcb_params, clients)
        wallets = init_ledger(ledger_params, clients)
        print(f"{rounds} rounds of {seconds} s each, {clients} clients, alternating:")
        for number in range(1, rounds + 1):
            tps_rounds.append(run_pgbench(tpcb_params, clients, seconds))
            ops, round_latencies = run_ledger(ledger_params, wallets, seconds)
            ops_rounds.append(ops)
            latencies.extend(round_latencies)
            sql_rounds.append(run_pgbench_ledger(ledger_params, min(wallets), clients, seconds))
            print(
                f"  round {number}: TPC-B {tps_rounds[-1]:8.1f} tps, "
                f"ledger {ops:8.1f} ops/s (ratio {ops / tps_rounds[-1]:.2f}), "
                f"ledger SQL via pgbench {sql_rounds[-1]:8.1f} ops/s",
                flush=True,
            )
        audit_db = Database(ledger_params, max_size=1)
        report = audit_ledger(audit_db)
        audit_db.close()
    finally:
        admin.run(f'DROP DATABASE IF EXISTS "{tpcb_db}" WITH (FORCE)')
        admin.run(f'DROP DATABASE IF EXISTS "{ledger_db}" WITH (FORCE)')
        admin.close()
    tps, ops = statistics.fmean(tps_rounds), statistics.fmean(ops_rounds)
    sql_ops = statistics.fmean(sql_rounds)
    latencies.sort()
    print()
    print(f"TPC-B transactions/s:   {tps:10.1f}")
    print(f"ledger operations/s:    {ops:10.1f}  (hold and capture, each one operation)")
    print(f"ratio ledger / TPC-B:   {ops / tps:10.2f}  (goal ≥ 1.0)")
    print(
        f"ledger SQL alone:       {sql_ops:10.1f} ops/s via pgbench, "
        f"{sql_ops / tps:.2f} × TPC-B (the database's cost, without our Python client)"
    )
    print(
        f"ledger latency ms:      p50 {statistics.median(latencies):.2f}, "
        f"p99 {percentile(latencies, 0.99):.2f}  over {len(latencies)} operations"
    )
    print(report.summary())
    return 0 if report.ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=5, help="length of each round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", help="a server to use instead of a fresh embedded one")
    options = parser.parse_args()
    if options.database_url:
        return bench(
            parse_database_url(options.database_url),
            options.clients,
            options.seconds,
            options.rounds,
        )
    with tempfile.TemporaryDirectory(prefix="kie-bench-pg-") as tmp:
        server = EmbeddedPostgres(Path(tmp) / "data", free_port())
        with server.running():
            print(f"server: fresh embedded Postgres on 127.0.0.1:{server.port}, fsync on")
            return bench(
                parse_database_url(server.url), options.clients, options.seconds, options.rounds
            )


if __name__ == "__main__":
    sys.exit(main())
