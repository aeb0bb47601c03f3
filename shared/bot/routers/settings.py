"""Settings: the interface language (ru/en), kept in users.language.

The choice applies from the very next screen: `UserGateMiddleware` reads the stored
language with every update, and deliveries use it too.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from shared.adapters.db import Database
from shared.bot.callbacks import MenuCb, SettingsCb
from shared.bot.i18n import LOCALES, I18n, Locale
from shared.bot.keyboard import Keyboard
from shared.bot.routers.menu import show
from shared.bot.thread_loop import run_blocking
from shared.services.users import open_account


def settings_screen(i18n: I18n, locale: Locale) -> tuple[str, InlineKeyboardMarkup]:
    kb = Keyboard()
    for option in LOCALES:
        mark = "✓ " if option == locale else ""
        kb.button(
            text=mark + i18n.get("settings.language_name", option),
            callback_data=SettingsCb(action="lang", value=option),
        )
    kb.button(text=i18n.get("menu.back_to_menu", locale), callback_data=MenuCb(screen="main"))
    kb.adjust(len(LOCALES), 1)
    language = i18n.get("settings.language_name", locale)
    return i18n.get("settings.title", locale, language=language), kb.as_markup()


def store_language(db: Database, telegram_id: int, language: Locale) -> None:
    open_account(db, telegram_id, language=language)
    db.run(
        "UPDATE users SET language = :language, updated_at = now() "
        "WHERE telegram_id = :telegram_id AND language <> :language",
        language=language,
        telegram_id=telegram_id,
    )


async def on_settings_command(message: Message, i18n: I18n, locale: Locale) -> None:
    text, markup = settings_screen(i18n, locale)
    await message.answer(text, reply_markup=markup)


async def on_settings(
    query: CallbackQuery, callback_data: SettingsCb, db: Database, i18n: I18n, locale: Locale
) -> None:
    if callback_data.action == "lang":
        if callback_data.value not in LOCALES:
            await query.answer(i18n.get("menu.expired", locale), show_alert=True)
            return
        locale = "en" if callback_data.value == "en" else "ru"
        await run_blocking(store_language, db, query.from_user.id, locale)
    text, markup = settings_screen(i18n, locale)
    await show(query, text, markup)


def settings_router() -> Router:
    router = Router(name="settings")
    router.message.register(on_settings_command, Command("settings"))
    router.callback_query.register(on_settings, SettingsCb.filter())
    return router
