"""End-to-end benchmark: simulated users do whole journeys through the Telegram emulator.

    python -m scripts.bench_e2e [--users 200] [--concurrency 32]

Each user: /start (signup bonus) → Создать → Визуалы → first model → Начать →
a prompt (and the first option of any choice) → ▶ Запустить, then waits for the
result. Every step is an HTTP round trip through the emulator, the webhook and
aiogram; the job goes through the queue, submit_job, the KIE simulator (delay 0),
kie_callback and deliver_result. Prints journeys/s, p50/p99 from the run press to
the result message, lost journeys (must be 0), and the ledger invariants.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from scripts.job_stack import Stack, benchmark_stack
from shared.registry import categories
from shared.services.ledger_audit import audit_ledger

PROMPT = "Баннер для распродажи кроссовок, яркий, минимализм"
VISUALS = next(c.label.ru for c in categories() if c.slug == "visuals")


def last_out(stack: Stack, user: int) -> dict[str, Any]:
    messages: list[dict[str, Any]] = stack.users.chat(user)["messages"]
    return [m for m in messages if m["direction"] == "out"][-1]


def press_prefix(stack: Stack, user: int, prefix: str) -> None:
    message = last_out(stack, user)
    label = next(
        b["text"]
        for row in message.get("keyboard", [])
        for b in row
        if b["text"].startswith(prefix)
    )
    stack.users.press(user, message["message_id"], label)


def journey(stack: Stack, user: int, timeout_s: float) -> float | None:
    """Seconds from the run press to the result in the chat; None when it never came."""
    stack.users.send_text(user, "/start")
    press_prefix(stack, user, "✨ Создать")
    press_prefix(stack, user, VISUALS)
    models = last_out(stack, user)
    stack.users.press(user, models["message_id"], models["keyboard"][0][0]["text"])
    press_prefix(stack, user, "Начать")
    stack.users.send_text(user, PROMPT)
    for _ in range(8):
        message = last_out(stack, user)
        labels = [b["text"] for row in message.get("keyboard", []) for b in row]
        if any(label.startswith("▶") for label in labels):
            break
        stack.users.press(user, message["message_id"], labels[0])
    pressed = time.monotonic()
    press_prefix(stack, user, "▶ Запустить")
    deadline = pressed + timeout_s
    revision: int | None = None
    while time.monotonic() < deadline:
        # A long poll: the emulator answers as soon as the chat changes.
        view = stack.users.chat(user, after=revision, wait_s=min(5.0, deadline - time.monotonic()))
        if any("Готово:" in (m.get("caption") or m.get("text") or "") for m in view["messages"]):
            return time.monotonic() - pressed
        revision = view["revision"]
    return None


def describe_lost(stack: Stack, user: int) -> None:
    """Where a lost journey stopped: its jobs, the chat's last messages, dead queue tasks."""
    jobs = stack.db.run(
        "SELECT j.id::text, j.state FROM jobs j JOIN users u ON u.id = j.user_id"
        " WHERE u.telegram_id = :tg ORDER BY j.created_at",
        tg=user,
    )
    print(f"lost: user {user}, jobs {jobs}")
    task_ids = {
        row[0]
        for row in stack.db.run(
            "SELECT j.kie_task_id FROM jobs j JOIN users u ON u.id = j.user_id"
            " WHERE u.telegram_id = :tg AND j.kie_task_id IS NOT NULL",
            tg=user,
        )
    }
    tasks = httpx.get(f"{stack.sim_url}/_sim/tasks", timeout=10).json()
    for task in tasks["tasks"]:
        if task["taskId"] in task_ids:
            print(f"  KIE task {task['taskId']}: {task['state']}, callbacks {task['callbacks']}")
    for message in stack.users.chat(user)["messages"][-3:]:
        text = (message.get("caption") or message.get("text") or "").replace("\n", " ")
        print(f"  {message['direction']} #{message['message_id']}: {text[:100]}")
    for dead in stack.queue.dead_letters():
        print(f"  dead task {dead.target} {dead.name}: {dead.last_status} {dead.last_error}")


def unaccepted_callbacks(stack: Stack) -> list[str]:
    """Why each task's callbacks all failed, for the tasks whose callbacks did."""
    tasks = httpx.get(f"{stack.sim_url}/_sim/tasks", timeout=10).json()["tasks"]
    reasons = []
    for task in tasks:
        callbacks = task["callbacks"]
        if callbacks and not any(c["ok"] for c in callbacks):
            last = callbacks[-1]
            reasons.append(f"HTTP {last['statusCode']}" if last["statusCode"] else last["error"])
    return reasons


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument(
        "--sweep-every", type=float, default=60.0, help="seconds between sweeper calls"
    )
    options = parser.parse_args()
    with benchmark_stack(function_env_extra={"SIGNUP_BONUS_KOPECKS": "50000"}) as stack:
        users = [3_000_000_000 + n for n in range(options.users)]
        # The sweeper runs as the platform's scheduler calls it (every minute): a callback
        # KIE failed to deliver is its to finish, in the sandbox and in production alike.
        stop = threading.Event()

        def sweep_until_stopped() -> None:
            while not stop.wait(options.sweep_every):
                stack.sweep()

        sweeper = threading.Thread(target=sweep_until_stopped, daemon=True)
        sweeper.start()
        began = time.monotonic()
        with ThreadPoolExecutor(max_workers=options.concurrency) as pool:
            results = list(pool.map(lambda u: journey(stack, u, options.timeout), users))
        elapsed = time.monotonic() - began
        stop.set()
        unaccepted = unaccepted_callbacks(stack)
        done = sorted(r for r in results if r is not None)
        lost = len(results) - len(done)
        report = audit_ledger(stack.db)
        for user, result in zip(users, results, strict=True):
            if result is None:
                describe_lost(stack, user)
    print(f"{options.users} users, {options.concurrency} at a time, simulator delay 0")
    print(f"journeys/s: {options.users / elapsed:.1f} ({elapsed:.1f} s in all)")
    if done:
        p99 = done[max(0, int(len(done) * 0.99) - 1)]
        print(
            f"run press → result message: p50 {statistics.median(done) * 1000:.0f} ms, "
            f"p99 {p99 * 1000:.0f} ms (goal p50 ≤ 300 ms)"
        )
    print(f"lost journeys: {lost} (must be 0)")
    print(f"KIE callbacks not accepted (the sweeper's to finish): {len(unaccepted)}")
    for reason, count in Counter(unaccepted).most_common():
        print(f"  {count} × {reason}")
    print("ledger invariants: " + ("OK" if report.ok else "VIOLATED\n" + report.summary()))
    return 0 if lost == 0 and report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
