"""The webhook's logic: authenticate, parse, dedupe, feed aiogram, map the outcome to a status.

| request                                        | status | written                |
|------------------------------------------------|--------|------------------------|
| secret header missing or wrong                 | 401    | nothing                |
| body not a JSON object, or not a valid Update  | 400    | nothing                |
| update already done                            | 200    | nothing                |
| another delivery of it still running           | 503    | nothing (retry later)  |
| attempts exhausted (poison)                    | 200    | marked failed          |
| unsupported kind (channel_post, inline_query…) | 200    | marked done, ignored   |
| handled                                        | 200    | marked done            |
| handler raised or timed out, attempts left     | 500    | attempt counted        |
| handler raised on the last attempt             | 200    | marked failed          |

Each update runs on its thread's own event loop, with a Bot of its own on the thread's
Bot API session (both kept between updates, never shared between threads); whatever an
update leaves running is cancelled before the next (shared/bot/thread_loop.py;
docs/BOT.md has the measurements behind this choice).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot
from aiogram.client.telegram import TelegramAPIServer
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.dispatcher.middlewares.user_context import UserContextMiddleware
from aiogram.types import Update
from aiogram.types.update import UpdateTypeLookupError
from aiogram.utils.token import extract_bot_id, validate_token
from pydantic import ValidationError

from shared.adapters.db import Database
from shared.bot.dispatcher import build_dispatcher
from shared.bot.fsm_storage import PostgresStorage
from shared.bot.i18n import get_i18n
from shared.bot.thread_loop import run_on_thread_loop, thread_session
from shared.bot.updates import AfterFailure, Claim, UpdateLog

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105  # a header name
# Telegram waits 60 s for an answer and then resends; stop well before that.
HANDLER_TIMEOUT_S = 45.0
IN_FLIGHT_RETRY_AFTER_S = 10

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebhookReply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _reply(status: int, outcome: str, **headers: str) -> WebhookReply:
    # Never a "method" key: Telegram would execute a body that names one.
    return WebhookReply(status, {"ok": 200 <= status < 300, "outcome": outcome}, headers)


class TelegramWebhook:
    """One per process: the Dispatcher and routers are built here, once."""

    def __init__(
        self,
        *,
        token: str,
        secret: str | None,
        api_base: str,
        db: Database,
        fsm_ttl_s: int,
        attempts_max: int,
        handler_timeout_s: float = HANDLER_TIMEOUT_S,
    ) -> None:
        validate_token(token)
        self._token = token
        self._secret = secret.encode() if secret else None
        self._api = TelegramAPIServer.from_base(api_base)
        self._db = db
        self._updates = UpdateLog(db, extract_bot_id(token), attempts_max=attempts_max)
        self._timeout_s = handler_timeout_s
        storage = PostgresStorage(db, ttl_s=fsm_ttl_s)
        self._dispatcher = build_dispatcher(storage=storage, db=db, i18n=get_i18n())

    def authentic(self, secret_header: str | None) -> bool:
        """Constant-time comparison; with no secret configured nothing is accepted."""
        if self._secret is None or secret_header is None:
            return False
        return hmac.compare_digest(secret_header.encode(), self._secret)

    def handle(self, secret_header: str | None, body: bytes) -> WebhookReply:
        if not self.authentic(secret_header):
            return _reply(401, "unauthorized")
        try:
            raw = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return _reply(400, "body is not JSON")
        if not isinstance(raw, dict):
            return _reply(400, "body is not a JSON object")
        bot = self._new_bot()
        try:
            update = Update.model_validate(raw, context={"bot": bot})
        except ValidationError:
            return _reply(400, "body is not a valid Update")
        if update.update_id < 0:
            return _reply(400, "update_id is negative")
        return self._handle_update(bot, update)

    def _new_bot(self) -> Bot:
        # A Bot per update on this thread's session: its keep-alive connections to the
        # Bot API serve every update this thread handles (shared/bot/thread_loop.py).
        return Bot(self._token, session=thread_session(self._api))

    def _handle_update(self, bot: Bot, update: Update) -> WebhookReply:
        try:
            update.event_type  # noqa: B018  # raises for kinds this aiogram does not know
        except UpdateTypeLookupError:
            supported = False
        else:
            supported = True
        chat = UserContextMiddleware.resolve_event_context(update).chat if supported else None
        claim = self._updates.claim(update.update_id, chat.id if chat else None)
        if claim.outcome is Claim.DUPLICATE:
            return _reply(200, "duplicate")
        if claim.outcome is Claim.IN_FLIGHT:
            return _reply(503, "in flight", **{"Retry-After": str(IN_FLIGHT_RETRY_AFTER_S)})
        if claim.outcome is Claim.GIVE_UP:
            self._keep_payment(update, "gave up after repeated failures")
            return _reply(200, "dropped after repeated failures")
        handled = False
        try:
            if supported:
                handled = run_on_thread_loop(self._feed(bot, update))
        except Exception as error:  # any handler failure is one failed attempt
            log.exception("update %s failed (attempt %s)", update.update_id, claim.attempts)
            after = self._updates.mark_failed(update.update_id, f"{type(error).__name__}: {error}")
            if after is AfterFailure.RETRY:
                return _reply(500, "failed, will retry")
            self._keep_payment(update, f"{type(error).__name__}: {error}")
            return _reply(200, "dropped after repeated failures")
        self._updates.mark_done(update.update_id)
        return _reply(200, "handled" if handled else "ignored")

    def _keep_payment(self, update: Update, error: str) -> None:
        """A poison update is dropped, but never the money in it: a successful_payment
        goes to the dead letters, which the sweeper credits (docs/PAYMENTS.md)."""
        message = update.message
        if message is None or message.successful_payment is None or message.from_user is None:
            return
        from shared.payments.setup import payments_for

        log.error("ALERT successful_payment of update %s kept for the sweeper", update.update_id)
        payments_for(self._db).keep_dead_letter(
            self._updates.bot_id,
            update.update_id,
            message.from_user.id,
            message.successful_payment.model_dump(mode="json", exclude_none=True),
            error,
        )

    async def _feed(self, bot: Bot, update: Update) -> bool:
        """True when a handler took the update; kinds no router handles are ignored."""
        result = await asyncio.wait_for(self._dispatcher.feed_update(bot, update), self._timeout_s)
        return result is not UNHANDLED
