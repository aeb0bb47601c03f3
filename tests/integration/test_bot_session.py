"""InvocationSession: a real Bot API round trip, closed at the end, one SSL context per process."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from aiogram import Bot
from aiogram.client.telegram import TelegramAPIServer
from werkzeug.serving import make_server

from shared.bot.session import InvocationSession, shared_ssl_context
from tests.integration.test_bot_webhook import BOT_ID, TOKEN, BotApiRecorder


@pytest.fixture(scope="module")
def api_base() -> Iterator[str]:
    server = make_server("127.0.0.1", 0, BotApiRecorder(), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
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
