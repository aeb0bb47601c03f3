"""The admin's card for a manual transfer: the receipt, what OCR read, and the buttons.

OCR only fills in the card; money moves when an admin presses "approve".
"""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup

from shared.bot.i18n import I18n, Locale
from shared.bot.keyboard import Keyboard
from shared.domain.money import format_rubles
from shared.payments.service import Payment

REJECT_REASONS = ("not_found", "amount_differs", "unreadable")


class AdminCb(CallbackData, prefix="v1a"):
    action: str  # approve | amount | reject | why | card (back to the card's buttons)
    payment: int
    value: str = ""


class SupportCb(CallbackData, prefix="v1r"):
    """ "Reply" under a payment question the admins got: the asker's chat."""

    user: int


def _or_dash(value: object) -> str:
    return "—" if value in (None, "") else str(value)


def card_text(payment: Payment, i18n: I18n, locale: Locale, *, duplicate_transaction: bool) -> str:
    ocr = payment.ocr or {}
    read_amount = ocr.get("amount_kopecks")
    lines = [
        i18n.get(
            "admin.card",
            locale,
            payment=payment.id,
            user=payment.telegram_id,
            expected=format_rubles(payment.amount_kopecks),
            code=_or_dash(payment.transfer_code),
            amount=format_rubles(read_amount) if isinstance(read_amount, int) else "—",
            date=_or_dash(ocr.get("paid_on")),
            found_code=_or_dash(ocr.get("payment_code")),
            transaction=_or_dash(payment.transaction_id),
        )
    ]
    if ocr.get("error"):
        lines.append(i18n.get("admin.ocr_unavailable", locale))
    if isinstance(read_amount, int) and read_amount != payment.amount_kopecks:
        lines.append(i18n.get("admin.amount_differs", locale))
    if ocr.get("payment_code") and ocr.get("payment_code") != payment.transfer_code:
        lines.append(i18n.get("admin.code_differs", locale))
    if duplicate_transaction:
        lines.append(i18n.get("admin.duplicate_transaction", locale))
    return "\n".join(lines)


def card_keyboard(payment: Payment, i18n: I18n, locale: Locale) -> InlineKeyboardMarkup:
    ocr = payment.ocr or {}
    read_amount = ocr.get("amount_kopecks")
    kb = Keyboard()
    kb.button(
        text=i18n.get("admin.approve", locale, amount=format_rubles(payment.amount_kopecks)),
        callback_data=AdminCb(action="approve", payment=payment.id),
    )
    if isinstance(read_amount, int) and read_amount != payment.amount_kopecks and read_amount > 0:
        kb.button(
            text=i18n.get("admin.approve", locale, amount=format_rubles(read_amount)),
            callback_data=AdminCb(action="approve", payment=payment.id, value=str(read_amount)),
        )
    kb.button(
        text=i18n.get("admin.other_amount", locale),
        callback_data=AdminCb(action="amount", payment=payment.id),
    )
    kb.button(
        text=i18n.get("admin.reject", locale),
        callback_data=AdminCb(action="reject", payment=payment.id),
    )
    kb.adjust(1)
    return kb.as_markup()


def reasons_keyboard(payment_id: int, i18n: I18n, locale: Locale) -> InlineKeyboardMarkup:
    kb = Keyboard()
    for reason in REJECT_REASONS:
        kb.button(
            text=i18n.get(f"admin.reason.{reason}", locale),
            callback_data=AdminCb(action="why", payment=payment_id, value=reason),
        )
    kb.button(
        text=i18n.get("admin.back", locale),
        callback_data=AdminCb(action="card", payment=payment_id),
    )
    kb.adjust(1)
    return kb.as_markup()
