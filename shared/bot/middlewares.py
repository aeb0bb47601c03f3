"""Middlewares, one concern each; shared/bot/dispatcher.py registers them in order."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, User

from shared.bot.i18n import locale_for

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class LocaleMiddleware(BaseMiddleware):
    """Gives every handler `locale`, from the sender's Telegram interface language.

    An inner update middleware, so aiogram's outer user-context middleware has
    already put the sender in `event_from_user`. A language chosen in settings
    replaces it afterwards, where the user's row is read anyway (UserGateMiddleware).
    """

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        data["locale"] = locale_for(user.language_code if user else None)
        return await handler(event, data)
