"""The admin's transfer card: what OCR read against what was expected, and its warnings."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from shared.bot.admin_view import card_text
from shared.bot.i18n import I18n
from shared.payments.service import Payment

PAYMENT = Payment(
    id=6,
    user_id=1,
    telegram_id=22939100061,
    wallet_id=1,
    method="transfer",
    status="receipt_read",
    amount_kopecks=100_000,
    currency="RUB",
    invoice_amount=100_000,
    payload="p",
    transfer_code="KS-AH4TPM",
    telegram_charge_id=None,
    receipt_file_id="f",
    transaction_id="5858946506412190",
    ocr=None,
    credited_kopecks=None,
    reject_reason=None,
    expires_at=datetime(2027, 1, 1, tzinfo=UTC),
    expired=False,
    language="ru",
)
CODE_DIFFERS = "Код в чеке не совпадает"


def card(ocr: dict[str, object]) -> str:
    return card_text(replace(PAYMENT, ocr=ocr), I18n.load(), "ru", duplicate_transaction=False)


def test_the_expected_code_shows_without_a_warning() -> None:
    text = card({"amount_kopecks": 100_000, "payment_code": "KS-AH4TPM"})
    assert "Код: KS-AH4TPM" in text
    assert CODE_DIFFERS not in text


def test_another_code_is_shown_as_read_with_a_warning() -> None:
    text = card({"amount_kopecks": 100_000, "payment_code": "KS-7HX9PT"})
    assert "Код: KS-7HX9PT" in text
    assert CODE_DIFFERS in text


def test_no_code_found_is_a_dash_without_a_warning() -> None:
    text = card({"amount_kopecks": 100_000, "payment_code": None})
    assert "Код: —" in text
    assert CODE_DIFFERS not in text
