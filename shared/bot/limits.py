"""Per-user limits and the user's own language, both read in one statement per update.

`UserGateMiddleware` (an inner update middleware, after `LocaleMiddleware`):

- takes one token from the user's bucket in `user_rate` (0008): `USER_RATE_BURST` tokens,
  refilled at `USER_RATE_PER_S` by the database's clock, so every serverless instance
  shares one bucket. Out of tokens: the message is not handled and the user is told to
  slow down once per streak; a press is answered (never silence) and not handled;
- in the same statement, reads `users.language` (set in settings, or from Telegram's
  language on the first /start), which then replaces the Telegram-derived `locale`.

Payments (successful_payment and the like, pre_checkout_query) are never limited.
`jobs_in_flight` backs the limit on jobs running at once (USER_JOBS_IN_FLIGHT_MAX).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, Message, TelegramObject, Update, User

from shared.adapters.db import Database
from shared.bot.i18n import I18n
from shared.bot.thread_loop import run_blocking

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]

_REFILL = (
    "least(CAST(:burst AS float8), r.tokens"
    " + CAST(extract(epoch FROM now() - r.refilled_at) AS float8) * CAST(:rate AS float8))"
)
_TAKE_TOKEN_SQL = f"""
WITH bucket AS (
    INSERT INTO user_rate AS r (telegram_id, tokens)
    VALUES (:telegram_id, CAST(:burst AS float8) - 1)
    ON CONFLICT (telegram_id) DO UPDATE SET
        tokens = CASE WHEN {_REFILL} >= 1 THEN {_REFILL} - 1 ELSE {_REFILL} END,
        refilled_at = now(),
        allowed = {_REFILL} >= 1,
        warned_at = CASE WHEN {_REFILL} >= 1 THEN NULL ELSE coalesce(r.warned_at, now()) END
    RETURNING allowed, coalesce(warned_at = now(), false) AS warn
)
SELECT b.allowed, b.warn, (SELECT u.language FROM users u WHERE u.telegram_id = :telegram_id)
  FROM bucket b
"""

_IN_FLIGHT_SQL = """
SELECT count(*) FROM jobs j JOIN users u ON u.id = j.user_id
 WHERE u.telegram_id = :telegram_id
   AND j.state IN ('held', 'queued', 'submitted', 'running')
   AND j.client_ref IS DISTINCT FROM :client_ref
"""


@dataclass(frozen=True)
class Gate:
    allowed: bool
    warn: bool  # the first refusal of a streak: say so once
    language: str | None


def take_token(db: Database, telegram_id: int, *, rate_per_s: float, burst: int) -> Gate:
    row = db.run(_TAKE_TOKEN_SQL, telegram_id=telegram_id, rate=rate_per_s, burst=burst)[0]
    return Gate(allowed=bool(row[0]), warn=bool(row[1]), language=row[2])


def jobs_in_flight(db: Database, telegram_id: int, *, except_client_ref: str) -> int:
    """The user's jobs holding money now, other than the one `except_client_ref` names
    (a second press of the same run button is the same job, not one more)."""
    rows = db.run(_IN_FLIGHT_SQL, telegram_id=telegram_id, client_ref=except_client_ref)
    return int(rows[0][0])


def stored_language(db: Database, telegram_id: int) -> str | None:
    """The language the user chose in settings, if any."""
    rows = db.run("SELECT language FROM users WHERE telegram_id = :t", t=telegram_id)
    return str(rows[0][0]) if rows and rows[0][0] else None


def _payer(update: Update) -> User | None:
    """The sender of a payment update (pre-checkout, payment, refund)."""
    if update.pre_checkout_query is not None:
        return update.pre_checkout_query.from_user
    message = update.message
    if message is not None and (message.successful_payment or message.refunded_payment):
        return message.from_user
    return None


def _limited(update: Update) -> tuple[User, Message | CallbackQuery] | None:
    """The sender and the event when the update is one the limit applies to."""
    if update.callback_query is not None:
        return update.callback_query.from_user, update.callback_query
    message = update.message
    if message is None or message.from_user is None or message.from_user.is_bot:
        return None
    if message.successful_payment is not None or message.refunded_payment is not None:
        return None  # money arriving is never refused
    return message.from_user, message


class UserGateMiddleware(BaseMiddleware):
    def __init__(self, db: Database, i18n: I18n, *, rate_per_s: float, burst: int) -> None:
        self._db = db
        self._i18n = i18n
        self._rate = rate_per_s
        self._burst = burst

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if not isinstance(event, Update):
            return await handler(event, data)
        limited = _limited(event)
        if limited is None:
            payer = _payer(event)
            if payer is not None:  # never limited, yet answered in the user's own language
                language = await run_blocking(stored_language, self._db, payer.id)
                if language in ("ru", "en"):
                    data["locale"] = language
            return await handler(event, data)
        user, source = limited
        gate = await run_blocking(
            take_token, self._db, user.id, rate_per_s=self._rate, burst=self._burst
        )
        if gate.language in ("ru", "en"):
            data["locale"] = gate.language
        if gate.allowed:
            return await handler(event, data)
        text = self._i18n.get("limits.slow_down", data["locale"])
        # A press is always answered (else the client spins); a message once per streak.
        if isinstance(source, CallbackQuery) or gate.warn:
            await source.answer(text)
        return None
