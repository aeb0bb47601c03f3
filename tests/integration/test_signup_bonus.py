"""The signup bonus: granted on /start, once per Telegram user, through the ledger."""

from __future__ import annotations

from shared.adapters.db import Database
from shared.bot.users import start_user
from shared.services.ledger_audit import audit_ledger
from tests.ids import new_telegram_id


def test_the_bonus_is_given_once_per_telegram_user(db: Database) -> None:
    telegram_id = new_telegram_id()

    def start() -> int:
        started = start_user(
            db,
            telegram_id,
            locale="ru",
            username=None,
            first_name="Анна",
            payload=None,
            signup_bonus_kopecks=50_000,
        )
        return started.bonus_kopecks

    assert start() == 50_000
    assert start() == 0  # a second /start: nothing more
    rows = db.run(
        "SELECT l.kind, l.amount, w.balance FROM ledger l JOIN wallets w ON w.id = l.wallet_id "
        "JOIN users u ON u.id = w.user_id WHERE u.telegram_id = :t",
        t=telegram_id,
    )
    assert rows == [["bonus", 50_000, 50_000]]
    assert audit_ledger(db).ok


def test_no_bonus_when_it_is_off(db: Database) -> None:
    started = start_user(
        db, new_telegram_id(), locale="en", username=None, first_name="Ann", payload=None
    )
    assert started.bonus_kopecks == 0
