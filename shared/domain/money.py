"""Kopecks are the only unit of money in the code; rubles exist only on screen."""

from __future__ import annotations

KOPECKS_PER_RUBLE = 100
# Far above any real wallet, far below bigint: a typo'd amount fails loudly.
MAX_AMOUNT_KOPECKS = 10**12


def format_rubles(kopecks: int) -> str:
    """12345 → '123,45 ₽'; whole rubles without decimals: 4800 → '48 ₽'."""
    sign = "−" if kopecks < 0 else ""
    rubles, rest = divmod(abs(kopecks), KOPECKS_PER_RUBLE)
    whole = f"{rubles:,}".replace(",", "\u202f")
    return f"{sign}{whole} ₽" if rest == 0 else f"{sign}{whole},{rest:02d} ₽"
