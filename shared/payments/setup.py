"""The payments service as configured: one place turns Settings into its policy."""

from __future__ import annotations

from shared.adapters.db import Database
from shared.config import Settings, get_settings
from shared.payments.service import PaymentPolicy, Payments
from shared.services.ledger import Ledger


def policy_from(settings: Settings) -> PaymentPolicy:
    return PaymentPolicy(
        min_kopecks=settings.topup_min_rub * 100,
        max_kopecks=settings.topup_max_rub * 100,
        kopecks_per_star=settings.stars_kopecks_per_star,
        ttl_s=settings.payment_ttl_s,
        referral_bonus_kopecks=settings.referral_bonus_kopecks,
    )


def payments_for(db: Database, settings: Settings | None = None) -> Payments:
    settings = settings or get_settings()
    return Payments(db, Ledger(db, default_hold_ttl_s=settings.hold_ttl_s), policy_from(settings))
