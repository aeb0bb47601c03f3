"""Users and their wallets: one wallet per Telegram user, opened on first contact."""

from __future__ import annotations

from dataclasses import dataclass

from shared.adapters.db import Database

_OPEN_ACCOUNT_SQL = """
WITH upserted AS (
    INSERT INTO users (telegram_id, username, first_name, language)
    VALUES (:telegram_id, :username, :first_name, :language)
    ON CONFLICT (telegram_id) DO UPDATE SET telegram_id = EXCLUDED.telegram_id
    RETURNING id, (xmax = 0) AS created
), opened AS (
    INSERT INTO wallets (user_id) SELECT id FROM upserted
    ON CONFLICT (user_id) DO NOTHING
    RETURNING id
)
SELECT u.id, coalesce((SELECT id FROM opened), w.id), u.created
  FROM upserted u LEFT JOIN wallets w ON w.user_id = u.id
"""


@dataclass(frozen=True)
class Account:
    user_id: int
    wallet_id: int
    created: bool


def open_account(
    db: Database,
    telegram_id: int,
    *,
    language: str = "ru",
    username: str | None = None,
    first_name: str | None = None,
) -> Account:
    """The user and wallet for a Telegram user, created on first call (safe to repeat)."""
    if language not in {"ru", "en"}:
        language = "ru"
    row = db.run(
        _OPEN_ACCOUNT_SQL,
        telegram_id=telegram_id,
        username=username,
        first_name=first_name,
        language=language,
    )[0]
    return Account(user_id=row[0], wallet_id=row[1], created=row[2])
