"""The Bot API session: a real round trip, one SSL context per process, and one session per
thread whose connections outlive an invocation."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.telegram import TelegramAPIServer

from shared.bot.session import InvocationSession, shared_ssl_context
from shared.bot.thread_loop import run_on_thread_loop, thread_session
from shared.queue.local_app import KeepAliveServer
from tests.integration.test_bot_webhook import BOT_ID, TOKEN, BotApiRecorder


class PortRecorder:
    """The Bot API, noting the client port of every request: one port, one connection."""

    def __init__(self) -> None:
        self.api = BotApiRecorder()
        self.ports: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        self.ports.append(str(environ.get("REMOTE_PORT")))
        return self.api(environ, start_response)


@pytest.fixture(scope="module")
def recorder() -> PortRecorder:
    return PortRecorder()


@pytest.fixture(scope="module")
def api_base(recorder: PortRecorder) -> Iterator[str]:
    # HTTP/1.1 with keep-alive, as api.telegram.org (Werkzeug's server closes every connection).
    server = KeepAliveServer(("127.0.0.1", 0), recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.url
    server.shutdown()


def test_a_bot_per_invocation_calls_the_api_and_closes_its_connections(api_base: str) -> None:
    async def one_invocation() -> tuple[int, bool]:
        session = InvocationSession(TelegramAPIServer.from_base(api_base))
        async with Bot(TOKEN, session=session).context(auto_close=True) as bot:
            me = await bot.get_me()
        assert session._session is not None
        return me.id, session._session.closed

    # Two invocations, two event loops: nothing of the first loop is reused.
    for _ in range(2):
        assert asyncio.run(one_invocation()) == (BOT_ID, True)


def test_sessions_share_the_process_ssl_context(api_base: str) -> None:
    api = TelegramAPIServer.from_base(api_base)
    first, second = InvocationSession(api), InvocationSession(api)
    assert first._connector_init["ssl"] is second._connector_init["ssl"] is shared_ssl_context()


def test_a_thread_keeps_its_session_and_its_connection_between_invocations(
    api_base: str, recorder: PortRecorder
) -> None:
    api = TelegramAPIServer.from_base(api_base)

    async def one_invocation() -> int:
        bot = Bot(TOKEN, session=thread_session(api))  # a Bot per invocation, as functions do
        return (await bot.get_me()).id

    def three_invocations(ports: list[list[str]]) -> None:
        before = len(recorder.ports)
        for _ in range(3):
            assert run_on_thread_loop(one_invocation()) == BOT_ID
        ports.append(recorder.ports[before:])

    first: list[list[str]] = []
    three_invocations(first)
    session = thread_session(api)
    assert session._session is not None and not session._session.closed
    assert len(first[0]) == 3 and len(set(first[0])) == 1  # one keep-alive connection

    other: list[list[str]] = []
    sessions: list[InvocationSession] = []

    def on_another_thread() -> None:
        three_invocations(other)
        sessions.append(thread_session(api))

    thread = threading.Thread(target=on_another_thread)
    thread.start()
    thread.join()
    assert sessions and sessions[0] is not session  # threads never share a session
    assert len(set(other[0])) == 1 and set(other[0]) != set(first[0])
