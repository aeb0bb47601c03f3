"""ocr_receipt (queue target): read a transfer's receipt and put it before the admins.

The webhook only records the receipt and enqueues this, because OCR takes seconds and
needs the tesseract binary (its own container in the cloud: docs/OPERATIONS.md).
OCR fills in the admin's card; it never credits money.

2xx when the card was sent, the receipt refused, or the task is moot (unknown payment,
already decided); 503 when Telegram or the network should be tried again.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
from collections.abc import Mapping
from typing import Any

import functions_framework
from flask import Request

from shared.bootstrap import get_database, observe
from shared.config import ConfigError, get_settings

log = logging.getLogger("kie_studio.ocr_receipt")
Response = tuple[Mapping[str, object], int] | tuple[Mapping[str, object], int, Mapping[str, str]]


def payment_id_of(request: Request) -> int | None:
    payload = request.get_json(silent=True)
    value = payload.get("payment_id") if isinstance(payload, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def read(image: bytes, expected_code: str | None) -> dict[str, Any]:
    """What OCR found, as JSON for the payment row; an error note when OCR is missing."""
    from shared.payments.receipt_ocr import OcrUnavailable, read_receipt

    try:
        reading = read_receipt(image, expected_code)
    except OcrUnavailable as missing:
        log.error("ALERT receipt OCR unavailable: %s", missing)
        return {"error": "ocr_unavailable"}
    return {
        "amount_kopecks": reading.amount_kopecks,
        "paid_on": reading.paid_on.isoformat() if reading.paid_on else None,
        "payment_code": reading.payment_code,
        "transaction_id": reading.transaction_id,
        "rotated_degrees": reading.rotated_degrees,
    }


async def process(payment_id: int) -> str:
    from aiogram import Bot
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError

    from shared.bot.admin_view import card_keyboard, card_text
    from shared.bot.i18n import I18n, Locale
    from shared.bot.routers.payments import notify
    from shared.bot.session import InvocationSession
    from shared.payments.errors import DuplicateReceipt, PaymentNotFound
    from shared.payments.receipt_ocr import ReceiptImageError
    from shared.payments.setup import payments_for

    settings = get_settings()
    if settings.telegram_bot_token is None:
        raise ConfigError("TELEGRAM_BOT_TOKEN is not set")
    payments = payments_for(get_database(), settings)
    try:
        payment = await asyncio.to_thread(payments.get, payment_id)
    except PaymentNotFound:
        return "unknown payment"
    if payment.status != "review" or not payment.receipt_file_id:
        return f"nothing to read ({payment.status})"
    kind, _, file_id = payment.receipt_file_id.partition(":")
    i18n = I18n.load()
    user_locale: Locale = "en" if payment.language == "en" else "ru"
    session = InvocationSession(TelegramAPIServer.from_base(settings.telegram_api_base))
    async with Bot(settings.telegram_bot_token.get_secret_value(), session=session) as bot:
        buffer = io.BytesIO()
        try:
            await bot.download(file_id, destination=buffer)
        except TelegramBadRequest as gone:  # too big for bots, or no longer on Telegram
            log.warning("receipt of payment %s cannot be downloaded: %s", payment_id, gone)
            await asyncio.to_thread(payments.reject_receipt, payment_id, "download_failed")
            await notify(
                bot, payment.telegram_id, i18n.get("payments.receipt_unreadable", user_locale)
            )
            return "refused"
        image = buffer.getvalue()
        try:
            reading = await asyncio.to_thread(read, image, payment.transfer_code)
            sha256 = hashlib.sha256(image).hexdigest()
            payment, _ = await asyncio.to_thread(
                payments.record_reading, payment_id, sha256, reading
            )
        except (ReceiptImageError, DuplicateReceipt) as refused:
            duplicate = isinstance(refused, DuplicateReceipt)
            await asyncio.to_thread(
                payments.reject_receipt, payment_id, "duplicate" if duplicate else "not_image"
            )
            key = "payments.receipt_duplicate" if duplicate else "payments.receipt_unreadable"
            await notify(bot, payment.telegram_id, i18n.get(key, user_locale))
            return "refused"
        already = await asyncio.to_thread(payments.admins_notified, payment_id)
        duplicate_txn = await asyncio.to_thread(payments.duplicate_transaction, payment)
        caption = card_text(payment, i18n, "ru", duplicate_transaction=duplicate_txn)
        markup = card_keyboard(payment, i18n, "ru")
        reached = [admin for admin in settings.admin_telegram_ids if admin in already]
        for admin in settings.admin_telegram_ids:
            if admin in already:
                continue  # a retry: this admin has the card
            try:
                if kind == "document":
                    await bot.send_document(admin, file_id, caption=caption, reply_markup=markup)
                else:
                    await bot.send_photo(admin, file_id, caption=caption, reply_markup=markup)
            except (TelegramForbiddenError, TelegramBadRequest) as unreachable:
                # One admin who never started the bot must not hold the others' cards back.
                log.error("ALERT admin %s gets no receipt cards: %s", admin, unreachable)
                continue
            await asyncio.to_thread(payments.record, payment_id, "admin_notified", {"admin": admin})
            reached.append(admin)
    if not reached:
        # The sweeper sends it again later (an admin may /start the bot meanwhile).
        log.error("ALERT receipt of payment %s reached no admin (ADMIN_TELEGRAM_IDS)", payment_id)
        return "no admin reachable"
    return "sent"


@functions_framework.http
def ocr_receipt(request: Request) -> Response:
    from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError

    observe(request.headers.get("X-Cloud-Trace-Context"))
    payment_id = payment_id_of(request)
    if payment_id is None:
        log.error("ocr_receipt: a task without a valid payment_id was dropped")
        return {"status": "ignored", "reason": "no valid payment_id"}, 200
    try:
        outcome = asyncio.run(process(payment_id))
    except TelegramRetryAfter as later:
        return {"status": "retry"}, 503, {"Retry-After": str(max(1, later.retry_after))}
    except (TelegramNetworkError, TelegramServerError) as error:
        return {"status": "retry", "reason": str(error)}, 503
    return {"status": outcome, "payment_id": payment_id}, 200
