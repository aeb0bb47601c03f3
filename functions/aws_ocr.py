"""AWS Lambda entry point for ocr_receipt, fed by SQS, in the OCR container image
(ocr/Dockerfile built with --build-arg TARGET=lambda: tesseract is not in Lambda's runtime)."""

from __future__ import annotations

import asyncio
from typing import Any

from shared.bootstrap import observe
from shared.queue.sqs import handle_sqs_batch


def _read(payload: dict[str, Any]) -> bool:
    from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError

    from functions.ocr_receipt import process

    payment_id = payload.get("payment_id")
    if not isinstance(payment_id, int) or isinstance(payment_id, bool) or payment_id <= 0:
        return True  # not a payment id, and retrying will not make it one: drop it
    try:
        asyncio.run(process(payment_id))
    except (TelegramRetryAfter, TelegramNetworkError, TelegramServerError):
        return False  # back on the queue after its visibility timeout
    return True


def ocr_receipt(event: dict[str, Any], context: object) -> dict[str, list[dict[str, str]]]:
    observe(None)
    return handle_sqs_batch(event, _read)
