"""The bot's writes to `users`: open the account on /start and keep the first deep link."""

from __future__ import annotations

from dataclasses import dataclass

from shared.adapters.db import Database
from shared.bot.i18n import Locale
from shared.bot.payloads import StartPayload
from shared.services.ledger import Ledger
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
    bonus_kopecks: int = 0  # the signup bonus granted by this call (0 when given before)


def start_user(
    db: Database,
    telegram_id: int,
    *,
    locale: Locale,
    username: str | None,
    first_name: str | None,
    payload: StartPayload | None,
    signup_bonus_kopecks: int = 0,
) -> StartedUser:
    """Opens the user's account (safe to repeat), keeps the deep-link payload if first, and
    grants the signup bonus once per Telegram user (its ref is the Telegram id)."""
    account = open_account(
        db, telegram_id, language=locale, username=username, first_name=first_name
    )
    if payload is not None:
        db.run(_KEEP_PAYLOAD_SQL, idempotent=True, payload=payload.raw(), user_id=account.user_id)
    granted = 0
    if signup_bonus_kopecks > 0:
        entry = Ledger(db, default_hold_ttl_s=3600).bonus(
            account.wallet_id, signup_bonus_kopecks, f"signup:{telegram_id}", reason="signup"
        )
        granted = 0 if entry.replayed else entry.amount_kopecks
    return StartedUser(user_id=account.user_id, created=account.created, bonus_kopecks=granted)
