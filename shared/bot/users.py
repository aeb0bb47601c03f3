"""The bot's writes to `users`: open the account on /start and keep the first deep link."""

from __future__ import annotations

from dataclasses import dataclass

from shared.adapters.db import Database
from shared.bot.i18n import Locale
from shared.bot.payloads import StartPayload
from shared.services.users import open_account

# First touch wins: a later link (someone else's referral) must not rewrite who
# brought the user; the payments issue reads the payload back with parse_start_payload.
_KEEP_PAYLOAD_SQL = """
UPDATE users SET start_payload = :payload, updated_at = now()
 WHERE id = :user_id AND start_payload IS NULL
"""


@dataclass(frozen=True)
class StartedUser:
    user_id: int
    created: bool


def start_user(
    db: Database,
    telegram_id: int,
    *,
    locale: Locale,
    username: str | None,
    first_name: str | None,
    payload: StartPayload | None,
) -> StartedUser:
    """Opens the user's account (safe to repeat) and keeps the deep-link payload if first."""
    account = open_account(
        db, telegram_id, language=locale, username=username, first_name=first_name
    )
    if payload is not None:
        db.run(_KEEP_PAYLOAD_SQL, idempotent=True, payload=payload.raw(), user_id=account.user_id)
    return StartedUser(user_id=account.user_id, created=account.created)
