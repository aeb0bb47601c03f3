"""One event loop per thread, kept between invocations, and the Bot API session that lives
on it.

Flask (functions-framework) calls a function on a thread of a threaded server; aiogram
needs a loop. A new loop per call (asyncio.run) costs its executor and shutdown
(1.5-2 ms), and a session per call opens a new connection to the Bot API every time:
a TLS handshake with api.telegram.org. Keeping both per thread reuses the loop and the
keep-alive connections; a thread never shares either with another thread.

What a thread kept is closed by close_thread_loop when the thread ends (KeepAliveServer
calls it) and, for threads still alive, at interpreter exit: a session left to the
garbage collector at shutdown logs "Unclosed client session" through a half torn-down
logging setup.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

if TYPE_CHECKING:  # aiogram takes seconds to import: only functions that talk to Telegram pay
    from aiogram.client.telegram import TelegramAPIServer

    from shared.bot.session import InvocationSession

T = TypeVar("T")
P = ParamSpec("P")
logger = logging.getLogger(__name__)


class _Kept:
    """One thread's loop and the sessions bound to it."""

    def __init__(self) -> None:
        self.runner = asyncio.Runner()
        self.used = False  # whether the runner has made its loop
        self.sessions: dict[str, InvocationSession] = {}

    def close(self) -> None:
        if self.used and self.runner.get_loop().is_running():
            return  # its thread is mid-invocation (a daemon thread at exit): leave it be
        for session in self.sessions.values():
            try:
                self.runner.run(session.close())
            except Exception:  # a session bound to another, dead loop cannot close here
                logger.warning("could not close a kept Bot API session", exc_info=True)
        self.sessions.clear()
        self.runner.close()


_per_thread = threading.local()
_alive: weakref.WeakSet[_Kept] = weakref.WeakSet()


def _kept() -> _Kept:
    kept: _Kept | None = getattr(_per_thread, "kept", None)
    if kept is None:
        kept = _per_thread.kept = _Kept()
        _alive.add(kept)
    return kept


def close_thread_loop() -> None:
    """Close this thread's sessions and loop, if it kept any; for a thread about to end."""
    kept: _Kept | None = getattr(_per_thread, "kept", None)
    if kept is not None:
        del _per_thread.kept
        _alive.discard(kept)
        kept.close()


@atexit.register
def _close_all_at_exit() -> None:
    for kept in list(_alive):
        kept.close()


def run_on_thread_loop(work: Coroutine[Any, Any, T]) -> T:
    """Run `work` on this thread's own event loop. Whatever it left behind is cancelled
    before returning, so nothing runs into the next invocation."""
    kept = _kept()
    runner = kept.runner
    if kept.used:
        # One turn of the kept loop first: a connection the server closed while the loop
        # stood still is noticed and dropped, instead of failing this invocation's first call.
        runner.run(asyncio.sleep(0))
    kept.used = True
    try:
        return runner.run(work)
    finally:
        loop = runner.get_loop()
        leftovers = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in leftovers:
            task.cancel()
        if leftovers:
            loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))


def thread_session(api: TelegramAPIServer) -> InvocationSession:
    """This thread's session for `api`, for Bots whose calls run through run_on_thread_loop
    (its aiohttp session binds to that loop on the first call). Never close it: the next
    invocation on this thread reuses its connections."""
    sessions = _kept().sessions
    session = sessions.get(api.base)
    if session is None:
        from shared.bot.session import InvocationSession

        session = sessions[api.base] = InvocationSession(api)
    return session


async def run_blocking(function: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """Call a blocking function (the Postgres pool, a synchronous service) from a handler.

    On a thread's own loop (run_on_thread_loop) one invocation runs at a time and nothing
    else waits for the loop, so the call runs in place: the hop to a worker thread and
    back (two thread switches and a wake-up of the loop) cost the webhook a fifth of its
    throughput (docs/BOT.md). On any other running loop, which may have other tasks to
    run meanwhile, the call goes to a worker thread.
    """
    kept: _Kept | None = getattr(_per_thread, "kept", None)
    if kept is not None and kept.used and kept.runner.get_loop() is asyncio.get_running_loop():
        return function(*args, **kwargs)
    return await asyncio.to_thread(function, *args, **kwargs)
