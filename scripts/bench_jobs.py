"""Chaos benchmark: many jobs through submit → KIE simulator → callback, with faults.

    python -m scripts.bench_jobs [--jobs 1000] [--users 100] [--failure 0.05]
                                 [--duplicate 0.10] [--lost 0.05] [--seed 1]

Every job goes through the real path: confirm (hold) → local task queue →
submit_job (functions-framework, own process) → simulator → kie_callback →
capture or release. The sweeper runs every second and finishes the jobs whose
callback was lost. Prints jobs/s, our own overhead per job (confirm → final;
the simulator answers at once, so KIE's time is zero), jobs lost (not final),
and kopecks out of place: each wallet against an independent count of what its
jobs should have cost (from the jobs' own recorded credits), plus anything still held.

The path measured is issue #4's: submit → simulator → callback. The deliveries each
callback enqueues wait in their paused queue (Cloud Tasks' "pause queue"), as Telegram's
part of the journey is bench_e2e's to measure; --with-delivery sends them too, to the
Telegram emulator on the same two cores.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from scripts.job_stack import BENCH_FUNCTION_WORKERS, Stack, benchmark_stack
from shared.jobs.service import DELIVER_TARGET
from shared.jobs.states import JobState
from shared.registry import enabled_models, kopecks_for
from shared.registry.samples import sample_inputs, sample_media_seconds
from shared.services.ledger_audit import audit_ledger

FUNDS = 10**8
MODEL_FAMILIES = ("market", "veo", "runway")


def pick_models() -> list[tuple[str, dict[str, object]]]:
    picked: dict[str, tuple[str, dict[str, object]]] = {}
    for entry in enabled_models():
        wanted = entry.family in MODEL_FAMILIES and entry.family not in picked
        if wanted and not sample_media_seconds(entry):
            picked[entry.family] = (entry.id, dict(sample_inputs(entry)))
    return list(picked.values())


def run(stack: Stack, jobs: int, users: int, *, with_delivery: bool) -> int:
    if not with_delivery:
        stack.queue.pause(DELIVER_TARGET)
    models = pick_models()
    wallets = [stack.new_wallet(2_000_000_000 + n, FUNDS) for n in range(users)]
    finished_at: dict[str, float] = {}
    started_at: dict[str, float] = {}
    stop = threading.Event()

    def sweep_every_second() -> None:
        while not stop.wait(1.0):
            stack.sweep()

    def one(index: int) -> str:
        user_id, _ = wallets[index % users]
        model_id, inputs = models[index % len(models)]
        began = time.monotonic()
        job = stack.run_job(user_id, model_id, inputs, client_ref=f"bench-{index}")
        started_at[job.id] = began
        return job.id

    sweeper = threading.Thread(target=sweep_every_second, daemon=True)
    sweeper.start()
    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        job_ids = list(pool.map(one, range(jobs)))
    pending = set(job_ids)
    deadline = time.monotonic() + 120
    while pending and time.monotonic() < deadline:
        rows = stack.db.run(
            "SELECT id::text, state FROM jobs WHERE id::text = ANY(CAST(:ids AS text[]))",
            ids="{" + ",".join(pending) + "}",
        )
        now = time.monotonic()
        for job_id, state in rows:
            if JobState(state).final:
                finished_at[job_id] = now
                pending.discard(job_id)
        time.sleep(0.1)
    elapsed = max(finished_at.values(), default=began) - began
    stop.set()
    sweeper.join()
    return report(stack, job_ids, started_at, finished_at, elapsed, wallets)


def report(
    stack: Stack,
    job_ids: list[str],
    started_at: dict[str, float],
    finished_at: dict[str, float],
    elapsed: float,
    wallets: list[tuple[int, int]],
) -> int:
    rows = stack.db.run(
        "SELECT id::text, user_id, state, price_kopecks, credits_consumed, error_code, "
        "(SELECT count(*) FROM ledger WHERE ref = 'job:' || jobs.id || ':capture') "
        "FROM jobs WHERE id::text = ANY(CAST(:ids AS text[]))",
        ids="{" + ",".join(job_ids) + "}",
    )
    lost_tasks = {
        task["taskId"]
        for task in httpx.get(f"{stack.sim_url}/_sim/tasks", timeout=30).json()["tasks"]
        if task["outcome"]["lost"]
    }
    task_of = dict(
        stack.db.run(
            "SELECT id::text, kie_task_id FROM jobs WHERE id::text = ANY(CAST(:ids AS text[]))",
            ids="{" + ",".join(job_ids) + "}",
        )
    )
    expected_spend: dict[int, int] = {}
    states: dict[str, int] = {}
    swept = sum(task_of.get(j) in lost_tasks for j in job_ids)
    for _job_id, user_id, state, price, credits, _code, _captures in rows:
        states[state] = states.get(state, 0) + 1
        if state in ("succeeded", "delivered"):
            cost = (
                price
                if credits is None
                else max(100, min(price, kopecks_for(credits, stack.service._pricing)))
            )
            expected_spend[user_id] = expected_spend.get(user_id, 0) + cost
    out_of_place = 0
    for user_id, wallet_id in wallets:
        balance = stack.ledger.balance(wallet_id)
        out_of_place += abs(FUNDS - expected_spend.get(user_id, 0) - balance.balance_kopecks)
        out_of_place += balance.held_kopecks
    lost = len(job_ids) - sum(n for s, n in states.items() if JobState(s).final)
    overhead_ms = sorted(
        (finished_at[j] - started_at[j]) * 1000
        for j in job_ids
        if j in finished_at and task_of.get(j) not in lost_tasks
    )
    audit = audit_ledger(stack.db)
    print(
        f"jobs: {len(job_ids)} in {elapsed:.1f} s → {len(job_ids) / elapsed:.1f} jobs/s (goal ≥ 50)"
    )
    print("final states: " + ", ".join(f"{s} {n}" for s, n in sorted(states.items())))
    print(f"finished by the sweeper (lost callback): {swept}")
    if overhead_ms:
        print(
            f"our overhead, confirm → final (callback path, {len(overhead_ms)} jobs): "
            f"p50 {statistics.median(overhead_ms):.0f} ms, "
            f"p99 {overhead_ms[int(len(overhead_ms) * 0.99) - 1]:.0f} ms"
        )
    print(f"jobs lost: {lost} (must be 0)")
    print(f"kopecks out of place: {out_of_place} (must be 0)")
    print("ledger invariants: " + ("OK" if audit.ok else "VIOLATED\n" + audit.summary()))
    return 0 if lost == 0 and out_of_place == 0 and audit.ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--failure", type=float, default=0.05)
    parser.add_argument("--duplicate", type=float, default=0.10)
    parser.add_argument("--lost", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--function-workers", type=int, default=BENCH_FUNCTION_WORKERS)
    parser.add_argument(
        "--with-delivery",
        action="store_true",
        help="also send each result to the Telegram emulator (default: deliveries wait)",
    )
    parser.add_argument(
        "--telegram-process",
        action="store_true",
        help="the Telegram emulator in a process of its own (default: in this one)",
    )
    options = parser.parse_args()
    with benchmark_stack(
        function_workers=options.function_workers,
        telegram_in_process=not options.telegram_process,
        seed=options.seed,
        failure_rate=options.failure,
        duplicate_rate=options.duplicate,
        lost_rate=options.lost,
        balance=10**12,
    ) as stack:
        print(
            f"{options.jobs} jobs, {options.users} users; faults: failure "
            f"{options.failure:.0%}, duplicate {options.duplicate:.0%}, "
            f"lost {options.lost:.0%}; deliveries "
            + ("sent to the Telegram emulator" if options.with_delivery else "held in their queue"),
            flush=True,
        )
        return run(stack, options.jobs, options.users, with_delivery=options.with_delivery)


if __name__ == "__main__":
    sys.exit(main())
