"""The webhook's per-thread event loop: kept between updates, never shared between threads,
and nothing an update leaves running survives into the next one."""

from __future__ import annotations

import asyncio
import threading

from shared.bot.thread_loop import run_blocking, run_on_thread_loop


async def current_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


def test_the_loop_is_kept_per_thread_and_not_shared() -> None:
    first = run_on_thread_loop(current_loop())
    assert run_on_thread_loop(current_loop()) is first
    other: list[asyncio.AbstractEventLoop] = []
    thread = threading.Thread(target=lambda: other.append(run_on_thread_loop(current_loop())))
    thread.start()
    thread.join()
    assert other and other[0] is not first


def test_a_task_left_behind_is_cancelled_before_the_next_update() -> None:
    ran_later: list[bool] = []

    async def leave_a_task() -> asyncio.Task[None]:
        async def later() -> None:
            await asyncio.sleep(0.05)
            ran_later.append(True)

        return asyncio.get_running_loop().create_task(later())

    task = run_on_thread_loop(leave_a_task())
    assert task.cancelled()
    run_on_thread_loop(asyncio.sleep(0.1))  # the next update: the old task must not run
    assert ran_later == []


async def thread_of_blocking_call() -> int:
    return await run_blocking(threading.get_ident)


def test_a_blocking_call_runs_in_place_on_the_thread_loop() -> None:
    # One update at a time on this loop: a hop to a worker thread would only cost.
    assert run_on_thread_loop(thread_of_blocking_call()) == threading.get_ident()


def test_a_blocking_call_leaves_a_shared_loop_free() -> None:
    # Any other running loop may have other tasks to run meanwhile: it must not stall.
    run_on_thread_loop(asyncio.sleep(0))  # this thread keeps a loop, but another one runs
    assert asyncio.run(thread_of_blocking_call()) != threading.get_ident()
