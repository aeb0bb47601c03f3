"""The bot's command menu (the "/" button), per language: Russian by default, English for
clients whose interface is English. Set by scripts/set_webhook.py and the sandbox."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.bot.i18n import I18n, Locale

if TYPE_CHECKING:
    from aiogram import Bot

COMMANDS = (
    "start",
    "menu",
    "history",
    "balance",
    "topup",
    "promo",
    "settings",
    "help",
    "paysupport",
)
# (texts, language_code): None is the default every other language sees.
TARGETS: tuple[tuple[Locale, str | None], ...] = (("ru", None), ("en", "en"))


def command_list(i18n: I18n, locale: Locale) -> list[tuple[str, str]]:
    return [(name, i18n.get(f"commands.{name}", locale)) for name in COMMANDS]


async def set_bot_commands(bot: Bot, i18n: I18n) -> None:
    from aiogram.types import BotCommand

    for locale, language_code in TARGETS:
        commands = [BotCommand(command=c, description=d) for c, d in command_list(i18n, locale)]
        await bot.set_my_commands(commands, language_code=language_code)
