"""The Bot API session: a real round trip, one SSL context per process, and one session per
thread whose connections outlive an invocation."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from typing import Any

import httpx
import pytest
from aiogram import Bot
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods.base import Response
from aiogram.types import User

from shared.bot.session import InvocationSession
from shared.bot.thread_loop import run_on_thread_loop, thread_session
from shared.keep_alive_server import KeepAliveServer
from shared.tls import verifying_context
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
    assert first._connector_init["ssl"] is second._connector_init["ssl"] is verifying_context()


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


def test_a_connection_the_server_closed_while_idle_does_not_fail_the_next_invocation() -> None:
    """A server (or a proxy) that drops idle keep-alive connections after 0.2 s: the kept
    loop notices the close before the next invocation takes the connection."""
    body = b'{"ok": true, "result": {"id": %d, "is_bot": true, "first_name": "b"}}' % BOT_ID
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    answer += b"Content-Length: %d\r\n\r\n" % len(body) + body
    listener = socket.create_server(("127.0.0.1", 0))

    def serve(connection: socket.socket) -> None:
        connection.settimeout(0.2)  # the idle timeout
        pending = b""
        with contextlib.suppress(OSError), connection:
            while data := connection.recv(65536):
                pending += data
                while b"\r\n\r\n" in pending:
                    head, _, rest = pending.partition(b"\r\n\r\n")
                    length = next(
                        (
                            int(line.split(b":")[1])
                            for line in head.split(b"\r\n")
                            if line.lower().startswith(b"content-length:")
                        ),
                        0,
                    )
                    while len(rest) < length:
                        rest += connection.recv(65536)
                    pending = rest[length:]
                    connection.sendall(answer)

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = listener.accept()
                threading.Thread(target=serve, args=(connection,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    api = TelegramAPIServer.from_base(f"http://127.0.0.1:{listener.getsockname()[1]}")

    async def one_invocation() -> int:
        return (await Bot(TOKEN, session=thread_session(api)).get_me()).id

    def invocations() -> list[int]:
        answers = []
        for _ in range(3):
            answers.append(run_on_thread_loop(one_invocation()))
            time.sleep(0.4)  # longer than the server's idle timeout
        return answers

    results: list[list[int]] = []
    thread = threading.Thread(target=lambda: results.append(invocations()))
    thread.start()
    thread.join()
    listener.close()
    assert results == [[BOT_ID, BOT_ID, BOT_ID]]


def test_a_kept_session_reached_from_a_new_event_loop_starts_afresh(api_base: str) -> None:
    """asyncio.run per call (a caller that does not use run_on_thread_loop) must still work:
    the session made on the first, now closed, loop is replaced, not reused."""
    api = TelegramAPIServer.from_base(api_base)

    async def one_invocation() -> int:
        return (await Bot(TOKEN, session=thread_session(api)).get_me()).id

    def calls() -> list[int]:
        return [asyncio.run(one_invocation()) for _ in range(3)]

    results: list[list[int]] = []
    thread = threading.Thread(target=lambda: results.append(calls()))
    thread.start()
    thread.join()
    assert results == [[BOT_ID, BOT_ID, BOT_ID]]


def test_a_server_thread_closes_its_kept_session_and_loop_when_its_connection_ends(
    api_base: str,
) -> None:
    """A function served by KeepAliveServer keeps a loop and session on the connection's
    thread; when the connection ends, so do they (no "Unclosed client session" later)."""
    api = TelegramAPIServer.from_base(api_base)
    kept: list[tuple[InvocationSession, asyncio.AbstractEventLoop]] = []

    async def one_invocation() -> int:
        kept.append((thread_session(api), asyncio.get_running_loop()))
        return (await Bot(TOKEN, session=thread_session(api)).get_me()).id

    def function(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(run_on_thread_loop(one_invocation())).encode()]

    server = KeepAliveServer(("127.0.0.1", 0), function)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with httpx.Client(trust_env=False) as client:
            assert client.get(server.url).text == str(BOT_ID)
        session, loop = kept[0]
        deadline = time.monotonic() + 5
        while not loop.is_closed() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert loop.is_closed()
        assert session._session is not None and session._session.closed
    finally:
        server.shutdown()
        server.server_close()


def test_the_model_that_validates_an_answer_is_built_once_per_process(api_base: str) -> None:
    """aiogram validates each answer with Response[<type>], which pydantic caches only weakly:
    without the session's reference the collector takes it and the next call rebuilds its
    schema (10 ms for Response[Message])."""

    async def one_call() -> None:
        session = InvocationSession(TelegramAPIServer.from_base(api_base))
        async with Bot(TOKEN, session=session).context(auto_close=True) as bot:
            await bot.get_me()

    asyncio.run(one_call())
    model = weakref.ref(Response[User])
    gc.collect()
    assert model() is not None
