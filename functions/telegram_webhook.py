"""telegram_webhook (HTTPS from Telegram): authenticate, dedupe, hand the update to aiogram.

401 without the right X-Telegram-Bot-Api-Secret-Token (nothing processed or
written), 400 for a body that is not an Update, 200 once an update is handled,
a duplicate, unsupported, or given up after TELEGRAM update_attempts_max tries;
500 while a failing update still has attempts left (Telegram resends it).
The full table is in shared/bot/webhook.py and docs/BOT.md.
"""

from __future__ import annotations

import functions_framework
from flask import Request

from shared.bootstrap import get_database
from shared.bot.webhook import SECRET_HEADER, TelegramWebhook
from shared.config import ConfigError, get_settings
from shared.once import once

Response = tuple[dict[str, object], int, dict[str, str]]


@once
def get_webhook() -> TelegramWebhook:
    """Built on the first request and kept by the warm instance (Dispatcher, pool)."""
    settings = get_settings()
    if settings.telegram_bot_token is None:
        raise ConfigError("TELEGRAM_BOT_TOKEN is not set")
    secret = settings.telegram_webhook_secret
    return TelegramWebhook(
        token=settings.telegram_bot_token.get_secret_value(),
        secret=secret.get_secret_value() if secret else None,
        api_base=settings.telegram_api_base,
        db=get_database(),
        fsm_ttl_s=settings.fsm_ttl_s,
        attempts_max=settings.update_attempts_max,
    )


@functions_framework.http
def telegram_webhook(request: Request) -> Response:
    reply = get_webhook().handle(request.headers.get(SECRET_HEADER), request.get_data())
    return reply.body, reply.status, reply.headers
