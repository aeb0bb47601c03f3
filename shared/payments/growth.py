"""Promo codes and referrals: bonus money through the ledger, each at most once."""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.adapters.db import Database, PooledConnection
from shared.domain.ledger import LedgerEntry
from shared.payments.errors import PromoRefused
from shared.services.ledger import Ledger

PROMO_CODE = re.compile(r"[A-Z0-9_-]{3,32}")


def normalise_promo(code: str) -> str:
    return code.strip().upper()


@dataclass(frozen=True)
class PromoCode:
    code: str
    bonus_kopecks: int
    max_uses: int
    used: int


def create_promo(
    db: Database,
    code: str,
    bonus_kopecks: int,
    max_uses: int,
    days: int,
    created_by: int | None = None,
) -> PromoCode:
    code = normalise_promo(code)
    if not PROMO_CODE.fullmatch(code):
        raise ValueError("a promo code is 3-32 characters from A-Z, 0-9, _ and -")
    if bonus_kopecks <= 0 or max_uses <= 0 or days <= 0:
        raise ValueError("bonus, uses and days must be positive")
    rows = db.run(
        "INSERT INTO promo_codes (code, bonus_kopecks, max_uses, expires_at, created_by) "
        "VALUES (:code, :bonus, :uses, now() + make_interval(days => :days), :by) "
        "ON CONFLICT (code) DO NOTHING RETURNING code",
        code=code,
        bonus=bonus_kopecks,
        uses=max_uses,
        days=days,
        by=created_by,
    )
    if not rows:
        raise ValueError(f"promo code {code} already exists")
    return PromoCode(code, bonus_kopecks, max_uses, 0)


def redeem_promo(db: Database, ledger: Ledger, user_id: int, code: str) -> LedgerEntry:
    """The code's bonus to the user's wallet: once per user, within its uses and dates."""
    code = normalise_promo(code)
    if not PROMO_CODE.fullmatch(code):
        raise PromoRefused(code, "unknown")

    def work(conn: PooledConnection) -> LedgerEntry:
        rows = conn.run_prepared(
            "SELECT bonus_kopecks, max_uses, used, expires_at < now() FROM promo_codes "
            "WHERE code = :code FOR UPDATE",
            code=code,
        )
        if not rows:
            raise PromoRefused(code, "unknown")
        bonus, max_uses, used, expired = rows[0]
        ref = f"promo:{code}:{user_id}"
        taken = conn.run_prepared(
            "INSERT INTO promo_redemptions (code, user_id, ledger_ref) VALUES (:code, :user, :ref)"
            " ON CONFLICT DO NOTHING RETURNING code",
            code=code,
            user=user_id,
            ref=ref,
        )
        if not taken:
            raise PromoRefused(code, "used")
        if expired:
            raise PromoRefused(code, "expired")
        if used >= max_uses:
            raise PromoRefused(code, "used_up")
        conn.run_prepared("UPDATE promo_codes SET used = used + 1 WHERE code = :code", code=code)
        wallet = conn.run_prepared("SELECT id FROM wallets WHERE user_id = :user", user=user_id)
        return ledger.bonus(wallet[0][0], bonus, ref, reason=f"promo {code}", conn=conn)

    return db.in_transaction(work)


def attach_referrer(db: Database, user_id: int, referrer_telegram_id: int) -> bool:
    """Who brought the user, kept once for a new user. Refused for oneself, for an unknown
    referrer and for a loop (the referrer was brought, directly or not, by this user)."""
    rows = db.run(
        """
        WITH RECURSIVE chain(id, depth) AS (
            SELECT id, 0 FROM users WHERE telegram_id = :referrer
            UNION ALL
            SELECT u.referrer_id, c.depth + 1 FROM users u JOIN chain c ON u.id = c.id
             WHERE u.referrer_id IS NOT NULL AND c.depth < 50
        )
        UPDATE users SET referrer_id = (SELECT id FROM users WHERE telegram_id = :referrer),
                         updated_at = now()
         WHERE id = :user_id AND referrer_id IS NULL
           AND NOT EXISTS (SELECT 1 FROM chain WHERE chain.id = :user_id)
           AND EXISTS (SELECT 1 FROM users WHERE telegram_id = :referrer)
        RETURNING id
        """,
        referrer=referrer_telegram_id,
        user_id=user_id,
    )
    return bool(rows)
