"""Amounts a marketer types for a top-up, and the bounds the configured ways to pay allow."""

from __future__ import annotations

import pytest

from shared.bot.routers.payments import bounds_rub, parse_rubles
from shared.config import load_settings


@pytest.mark.parametrize(
    ("typed", "rubles"),
    [
        ("1500", 1500),
        ("1 500", 1500),
        ("15\u00a0000", 15000),
        ("1.500", 1500),
        ("1,500", 1500),
        ("1500,00", 1500),
        ("1500 ₽", 1500),
        ("₽1500", 1500),
        ("1500 рублей", 1500),
        ("1500 руб.", 1500),
        ("1500р", 1500),
        ("1500 RUB", 1500),
        ("100,5", None),  # kopecks: not a whole ruble amount
        ("1,50", None),
        ("полторы тысячи", None),
        ("-500", None),
        ("", None),
    ],
)
def test_amounts_are_read_as_people_type_them(typed: str, rubles: int | None) -> None:
    assert parse_rubles(typed) == rubles


def test_with_stars_alone_the_top_up_stops_at_what_one_invoice_carries() -> None:
    stars_only = load_settings(_env_file=None, stars_kopecks_per_star=130)
    assert bounds_rub(stars_only) == (100, 13_000)  # 10 000 Stars × 1.30 ₽
    with_transfers = load_settings(
        _env_file=None, stars_kopecks_per_star=130, transfer_details="Т-Банк, счёт 40817…"
    )
    assert bounds_rub(with_transfers) == (100, 50_000)
