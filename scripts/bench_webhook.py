"""The webhook's cost: warm latency and throughput per update, and cold start.

    python -m scripts.bench_webhook [--updates 600] [--concurrency 8] [--cold-runs 3]

Warm: the real `telegram_webhook` function under functions-framework (the platform's CLI)
in its own process, on a fresh embedded Postgres, answering to the Telegram emulator (a
process of its own, as Telegram is another machine),
against a bare echo function under the same CLI in the same run. Each update is POSTed
as Telegram would (secret header, JSON body); the mix, per user: /start, /menu, /balance,
/history, /settings, a text outside any screen (answered with a pointer to the menu), and
a duplicate of the first update. Latency p50/p99 one at a time, then updates/s with
`--concurrency` senders. Goal: ≥ 0.5× echo.

Two floors run in the same way (scripts/bench_webhook_floor.py): aiogram alone (parse the
Update, dispatch it to a handler that does nothing) and aiogram answering each message with
one sendMessage, the least any update of the mix needs. They show how much of the gap to
the echo is aiogram's and the Bot API call's, before any work of ours.

Cold start: a fresh process to the answer of its first /start (imports, Dispatcher,
Postgres connection, sendMessage) against `python -c "import aiogram"`, interleaved run by
run, with our code compiled to bytecode first as the platform's build does
(bench_cold_start). Goal: our own cost on top of aiogram's import ≤ 300 ms.
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from scripts.bench_cold_start import ECHO, FirstResponse, compile_like_the_build, spawn_function
from scripts.bench_cold_start import first_response_s as cold_first_response_s
from scripts.job_stack import BOT_TOKEN, TELEGRAM_SECRET
from scripts.listening import wait_listening
from scripts.telegram_emulator.client import TelegramUsers
from scripts.telegram_emulator.process import emulator_process
from shared.adapters.db import Database, parse_database_url
from shared.adapters.embedded_pg import EmbeddedPostgres
from shared.adapters.migrate import migrate
from shared.local_ports import free_port

ROOT = Path(__file__).resolve().parents[1]
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}
COMMANDS = ("/start", "/menu", "/balance", "/history", "/settings", "hello")
_update_ids = itertools.count(700_000_001)
_message_ids = itertools.count(1)
_user_ids = itertools.count(880_000_001)  # every workload's users are new ones


def message_update(user_id: int, text: str, update_id: int | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": next(_message_ids),
        "from": {"id": user_id, "is_bot": False, "first_name": "Bench", "language_code": "ru"},
        "chat": {"id": user_id, "first_name": "Bench", "type": "private"},
        "date": int(time.time()),
        "text": text,
    }
    if text.startswith("/"):
        message["entities"] = [{"offset": 0, "length": len(text), "type": "bot_command"}]
    return {"update_id": update_id or next(_update_ids), "message": message}


def workload(telegram: TelegramUsers, updates: int) -> list[dict[str, Any]]:
    """Whole users' worth of updates (each user known to the emulator, so sends succeed)."""
    bodies: list[dict[str, Any]] = []
    while len(bodies) < updates:
        user_id = next(_user_ids)
        telegram.add_user(user_id, "Bench", language_code="ru")
        first = message_update(user_id, COMMANDS[0])
        bodies += [first, *(message_update(user_id, t) for t in COMMANDS[1:]), first]
    return bodies[:updates]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(
    url: str, bodies: list[dict[str, Any]], concurrency: int
) -> tuple[list[float], float, int]:
    """Latencies (ms) one at a time for the first half; updates/s with `concurrency` senders
    for the second half (its users are separate, so per-chat order is kept per sender)."""
    per_user = len(COMMANDS) + 1  # and the duplicate: a user's updates stay on one sender
    # Split on a user's boundary: a user cut in two would have two senders at once, and a
    # duplicate racing its original gets "in flight" (503), as Telegram would be told.
    half = len(bodies) // 2 // per_user * per_user
    failures = 0
    latencies = []
    with httpx.Client(timeout=60) as client:
        for body in bodies[:half]:
            began = time.perf_counter()
            status = client.post(url, json=body, headers=HEADERS).status_code
            latencies.append((time.perf_counter() - began) * 1000)
            failures += status >= 300
    rest = bodies[half:]
    chunks = [rest[i : i + per_user] for i in range(0, len(rest), per_user)]

    # One keep-alive connection per sender, as Telegram keeps its webhook connections open
    # (a client per chunk would spend the senders' CPU on SSL contexts and handshakes).
    senders = threading.local()
    clients: list[httpx.Client] = []

    def send(chunk: list[dict[str, Any]]) -> int:
        client: httpx.Client | None = getattr(senders, "client", None)
        if client is None:
            client = senders.client = httpx.Client(timeout=60)
            clients.append(client)
        return sum(client.post(url, json=b, headers=HEADERS).status_code >= 300 for b in chunk)

    began = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        failures += sum(pool.map(send, chunks))
    throughput = len(rest) / (time.perf_counter() - began)
    for client in clients:
        client.close()
    return latencies, throughput, failures


@contextmanager
def served(target: str, source: Path, env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    process = spawn_function(target, source, env, port)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_listening(base, process, timeout_s=120)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def first_response_s(
    target: str, source: Path, env: dict[str, str], request: Callable[[str], httpx.Response]
) -> FirstResponse:
    # aiogram alone can take tens of seconds on a loaded machine, so the wait is long.
    return cold_first_response_s(target, source, env, request, timeout_s=180)


def import_aiogram_s() -> FirstResponse:
    began = time.monotonic()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", "import aiogram"], check=True, cwd=ROOT)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return FirstResponse(time.monotonic() - began, cpu_s, 0)


def report_warm(name: str, latencies: list[float], throughput: float, failures: int) -> None:
    print(
        f"{name:22s} p50 {percentile(latencies, 0.5):6.2f} ms"
        f"  p99 {percentile(latencies, 0.99):6.2f} ms"
        f"  {throughput:7.1f} updates/s  non-2xx {failures}",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--updates", type=int, default=700)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument("--cold-only", action="store_true", help="skip the warm measurement")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kie-bench-webhook-") as tmp:
        server = EmbeddedPostgres(Path(tmp) / "data", free_port(), fast=True)
        telegram_port = free_port()
        telegram_url = f"http://127.0.0.1:{telegram_port}"
        # The emulator (Telegram) in its own process, as the platform's fakes in bench_jobs:
        # its work must not share the senders' GIL, which the echo baseline does not pay.
        with server.running(), emulator_process(BOT_TOKEN, telegram_port) as telegram:
            migrate(Database(parse_database_url(server.url)))
            echo = Path(tmp) / "echo.py"
            echo.write_text(ECHO)
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "KIE_"))},
                "DATABASE_URL": server.url,
                "DB_POOL_MAX": "8",
                "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
                "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
                "TELEGRAM_API_BASE": telegram_url,
                "USER_RATE_BURST": "1000",  # the bench is one fast sender per user, not a flood
                "LOCAL_QUEUE_URL": "http://127.0.0.1:9/queue",
            }
            webhook_source = ROOT / "functions" / "telegram_webhook.py"
            if not options.cold_only:
                bodies = workload(telegram, options.updates)
                warm: dict[str, tuple[list[float], float, int]] = {}
                with served("echo", echo, env) as base:
                    warmup = [{"update_id": 1}] * 50
                    measure(base, warmup, 2)
                    warm["echo (baseline)"] = measure(base, bodies, options.concurrency)
                floor_source = ROOT / "scripts" / "bench_webhook_floor.py"
                for name, reply in (("aiogram alone", "0"), ("aiogram + sendMessage", "1")):
                    with served("aiogram_floor", floor_source, {**env, "FLOOR_REPLY": reply}) as b:
                        measure(b, workload(telegram, 50), 2)  # warm, as the webhook below
                        warm[name] = measure(b, bodies, options.concurrency)
                with served("telegram_webhook", webhook_source, env) as base:
                    measure(base, workload(telegram, 50), 2)  # warm: Dispatcher, pool, SSL context
                    warm["telegram_webhook"] = measure(base, bodies, options.concurrency)
                print(f"warm, {options.updates} updates (mix: {', '.join(COMMANDS)}, duplicate):")
                echo_rate = warm["echo (baseline)"][1]
                for name, (latencies, throughput, failures) in warm.items():
                    report_warm(name, latencies, throughput, failures)
                for name in ("aiogram alone", "aiogram + sendMessage"):
                    print(f"floor {name}: {warm[name][1] / echo_rate:.2f}× echo")
                ratio = warm["telegram_webhook"][1] / echo_rate
                print(f"throughput ratio webhook/echo: {ratio:.2f} (goal ≥ 0.5)", flush=True)

            cold: dict[str, list[FirstResponse]] = {
                "import aiogram": [],
                "telegram_webhook": [],
                "echo": [],
            }
            if options.cold_runs > 0:
                compile_like_the_build()
            for run in range(options.cold_runs):
                user_id = 890_000_001 + run
                telegram.add_user(user_id, "Cold", language_code="ru")
                body = message_update(user_id, "/start")

                def start(base: str, body: dict[str, Any] = body) -> httpx.Response:
                    return httpx.post(base, json=body, headers=HEADERS, timeout=60)

                cold["import aiogram"].append(import_aiogram_s())
                first = first_response_s("telegram_webhook", webhook_source, env, start)
                assert first.status == 200, first.status
                cold["telegram_webhook"].append(first)
                cold["echo"].append(
                    first_response_s("echo", echo, env, lambda b: httpx.get(b, timeout=10))
                )
            if options.cold_runs < 1:
                return 0
            print(f"cold start, {options.cold_runs} interleaved runs (median, min–max):")
            for name, runs in cold.items():
                walls = [r.seconds for r in runs]
                cpus = [r.cpu_s for r in runs]
                print(
                    f"  {name:18s} {statistics.median(walls):.2f} s "
                    f"({min(walls):.2f}–{max(walls):.2f}), "
                    f"CPU {statistics.median(cpus):.2f} s ({min(cpus):.2f}–{max(cpus):.2f})"
                )
            for measure_name, value in (("wall", "seconds"), ("CPU", "cpu_s")):
                diffs = [
                    getattr(w, value) - getattr(a, value)
                    for w, a in zip(cold["telegram_webhook"], cold["import aiogram"], strict=True)
                ]
                print(
                    f"  webhook − import aiogram, {measure_name} per run: "
                    f"median {statistics.median(diffs):+.2f} s "
                    f"({min(diffs):+.2f}…{max(diffs):+.2f})"
                )
            print(
                "  goal ≤ +0.30 s, which includes functions-framework's own start (see echo); "
                "CPU is the steadier measure on a shared machine"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
