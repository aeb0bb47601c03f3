"""The Bot API's limits on what a bot sends: lengths, buttons, invoices and the flood control."""

from __future__ import annotations

import math
import time
from typing import Any

from scripts.telegram_emulator import errors
from scripts.telegram_emulator.formatting import apply_parse_mode
from scripts.telegram_emulator.state import Chat

TEXT_MAX = 4096
CAPTION_MAX = 1024
CALLBACK_DATA_MAX_BYTES = 64
INVOICE_TITLE_MAX = 32
INVOICE_DESCRIPTION_MAX = 255
INVOICE_PAYLOAD_MAX_BYTES = 128
MEDIA_GROUP_MIN, MEDIA_GROUP_MAX = 2, 10


def message_text(
    text: str | None, parse_mode: str | None, entities: Any
) -> tuple[str, list[dict[str, Any]]]:
    """The visible text and entities of a message, refused as Telegram refuses it."""
    if text is None or not text.strip():
        raise errors.bad_request(errors.MESSAGE_TEXT_EMPTY)
    visible, parsed = apply_parse_mode(text, parse_mode, _entities(entities))
    if not visible.strip():
        raise errors.bad_request(errors.MESSAGE_TEXT_EMPTY)
    if len(visible) > TEXT_MAX:
        raise errors.bad_request(errors.MESSAGE_TOO_LONG)
    return visible, parsed


def caption(
    text: str | None, parse_mode: str | None, entities: Any
) -> tuple[str | None, list[dict[str, Any]]]:
    if not text:
        return None, []
    visible, parsed = apply_parse_mode(text, parse_mode, _entities(entities))
    if len(visible) > CAPTION_MAX:
        raise errors.bad_request(errors.CAPTION_TOO_LONG)
    return visible, parsed


def _entities(value: Any) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(e, dict) for e in value):
        raise errors.bad_request("Bad Request: can't parse entities JSON object")
    return value


def reply_markup(markup: Any) -> dict[str, Any] | None:
    """An inline keyboard as the server echoes it; other keyboards are accepted, not echoed."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise errors.bad_request("Bad Request: can't parse reply keyboard markup JSON object")
    rows = markup.get("inline_keyboard")
    if rows is None:
        return None
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise errors.bad_request('Bad Request: field "inline_keyboard" must be an Array')
    echoed: list[list[dict[str, Any]]] = []
    for row in rows:
        echoed_row: list[dict[str, Any]] = []
        for button in row:
            if not isinstance(button, dict) or not button.get("text"):
                raise errors.bad_request('Bad Request: can\'t find field "text"')
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= CALLBACK_DATA_MAX_BYTES:
                raise errors.bad_request(errors.BUTTON_DATA_INVALID)
            echoed_row.append({k: v for k, v in button.items() if v is not None})
        echoed.append(echoed_row)
    return {"inline_keyboard": echoed}


def check_flood(chat: Chat, per_second: float | None, now: float | None = None) -> None:
    """At most `per_second` sends to one chat per second, then 429. Below 1 the window
    stretches instead: 0.5 allows one send in any two seconds."""
    if not per_second or per_second <= 0:
        return
    window_s = max(1.0, 1.0 / per_second)
    allowed = max(1, int(per_second))
    moment = time.monotonic() if now is None else now
    sends = chat.recent_sends
    while sends and moment - sends[0] >= window_s:
        sends.popleft()
    if len(sends) >= allowed:
        wait = max(1, math.ceil(window_s - (moment - sends[0])))
        raise errors.retry_after(wait)
    sends.append(moment)


def invoice(
    title: str,
    description: str,
    payload: str,
    currency: str,
    provider_token: str | None,
    prices: Any,
) -> int:
    """Checks sendInvoice's arguments; returns total_amount (the sum of the prices)."""
    if not 1 <= len(title) <= INVOICE_TITLE_MAX:
        raise errors.bad_request("Bad Request: INVOICE_TITLE_INVALID")
    if not 1 <= len(description) <= INVOICE_DESCRIPTION_MAX:
        raise errors.bad_request("Bad Request: INVOICE_DESCRIPTION_INVALID")
    if not 1 <= len(payload.encode()) <= INVOICE_PAYLOAD_MAX_BYTES:
        raise errors.bad_request(errors.INVOICE_PAYLOAD_INVALID)
    if not isinstance(prices, list) or not prices:
        raise errors.bad_request("Bad Request: can't parse prices JSON object")
    amounts: list[int] = []
    for price in prices:
        if not isinstance(price, dict) or "label" not in price or "amount" not in price:
            raise errors.bad_request("Bad Request: can't parse prices JSON object")
        amounts.append(int(price["amount"]))
    if currency == "XTR":
        # Stars: exactly one price and no provider (Bot API sendInvoice).
        if len(prices) != 1 or provider_token:
            raise errors.bad_request(errors.CURRENCY_TOTAL_AMOUNT_INVALID)
    elif not provider_token:
        raise errors.bad_request(errors.PAYMENT_PROVIDER_INVALID)
    total = sum(amounts)
    if total <= 0:
        raise errors.bad_request(errors.CURRENCY_TOTAL_AMOUNT_INVALID)
    return total
