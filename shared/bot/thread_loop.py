"""One event loop per thread, kept between invocations, and the Bot API session that lives
on it.

Flask (functions-framework) calls a function on a thread of a threaded server; aiogram
needs a loop. A new loop per call (asyncio.run) costs its executor and shutdown
(1.5-2 ms), and a session per call opens a new connection to the Bot API every time:
a TLS handshake with api.telegram.org. Keeping both per thread reuses the loop and the
keep-alive connections; a thread never shares either with another thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # aiogram takes seconds to import: only functions that talk to Telegram pay
    from aiogram.client.telegram import TelegramAPIServer

    from shared.bot.session import InvocationSession

T = TypeVar("T")

_per_thread = threading.local()


def run_on_thread_loop(work: Coroutine[Any, Any, T]) -> T:
    """Run `work` on this thread's own event loop. Whatever it left behind is cancelled
    before returning, so nothing runs into the next invocation."""
    runner: asyncio.Runner | None = getattr(_per_thread, "runner", None)
    if runner is None:
        runner = _per_thread.runner = asyncio.Runner()
    else:
        # One turn of the kept loop first: a connection the server closed while the loop
        # stood still is noticed and dropped, instead of failing this invocation's first call.
        runner.run(asyncio.sleep(0))
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
    sessions: dict[str, InvocationSession] | None = getattr(_per_thread, "sessions", None)
    if sessions is None:
        sessions = _per_thread.sessions = {}
    session = sessions.get(api.base)
    if session is None:
        from shared.bot.session import InvocationSession

        session = sessions[api.base] = InvocationSession(api)
    return session
