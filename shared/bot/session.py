"""The Bot API session for a Bot that lives for one update.

aiogram's AiohttpSession costs two things per instance that a per-update Bot
pays every time (measured here, docs/BOT.md): its constructor loads the
certifi CA bundle into a new SSL context (~40 ms of CPU), and `close()` sleeps
250 ms for SSL connections to finish closing. The CA bundle does not change, so
one context serves the process; aiohttp 3.12+ already waits for its
connections inside `ClientSession.close()`, so the sleep only adds latency.

A third cost is every call's: aiogram validates an answer with `Response[<returned
type>]`, a pydantic generic model made on the spot. pydantic caches parametrised
generics only weakly, so once the answer is dropped the garbage collector takes the
class with it, and the next call builds its schema again: 10 ms for Response[Message],
about 11% of the functions' CPU under bench_jobs (py-spy). The session keeps one strong
reference per returned type, so each is built once per process.

An answerCallbackQuery that Telegram refuses with "query is too old" counts as done: it
happens when an update is retried after its press was forgotten (seconds later), and the
answer only stops a spinner; failing the update for it would fail every retry too.

This sets the attributes AiohttpSession's constructor sets (aiogram is pinned;
tests/integration/test_bot_webhook.py exercises every path through it).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods.base import Response, TelegramMethod, TelegramType
from aiohttp import ClientSession, TCPConnector

from shared.tls import verifying_context

if TYPE_CHECKING:
    from aiogram import Bot

# Response[<returned type>] per type, kept alive for the life of the process.
_RESPONSE_MODELS: dict[Any, type[Response[Any]]] = {}


class InvocationSession(AiohttpSession):
    def __init__(self, api: TelegramAPIServer) -> None:
        BaseSession.__init__(self, api=api)
        self._session = None
        self._connector_type = TCPConnector
        self._connector_init = {
            "ssl": verifying_context(),  # the process's one (shared/tls.py), not one per Bot
            "limit": 100,
            "ttl_dns_cache": 3600,
        }
        self._should_reset_connector = True
        self._proxy = None

    async def create_session(self) -> ClientSession:
        # An aiohttp session belongs to the loop it was made on: used from another loop
        # (a kept session reached through asyncio.run) it would fail with "Event loop is
        # closed". Such a session cannot be closed on its dead loop; a new one replaces it.
        current = self._session
        loop = asyncio.get_running_loop()
        if current is not None and getattr(current, "_loop", None) is not loop:
            self._session = None
            self._should_reset_connector = True
        return await super().create_session()

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    def check_response(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        status_code: int,
        content: str,
    ) -> Response[TelegramType]:
        from aiogram.exceptions import TelegramBadRequest
        from aiogram.methods import AnswerCallbackQuery

        returning = method.__returning__
        if returning not in _RESPONSE_MODELS:
            _RESPONSE_MODELS[returning] = Response[returning]  # type: ignore[valid-type]
        try:
            return super().check_response(bot, method, status_code, content)
        except TelegramBadRequest as refused:
            # A retried update answers a press Telegram has forgotten (it keeps one for
            # seconds). The answer only stops a spinner long gone: failing the update
            # for it would make every retry fail the same way.
            if isinstance(method, AnswerCallbackQuery) and "query is too old" in refused.message:
                return _RESPONSE_MODELS[returning](ok=True, result=True)
            raise
