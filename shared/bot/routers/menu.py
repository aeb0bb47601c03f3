"""The menu: main screen, categories, a category's models page by page, a model's card,
and the balance. Every screen edits the message it was opened from and leads back."""

from __future__ import annotations

import asyncio

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from shared.adapters.db import Database
from shared.bot.callbacks import CategoryCb, MenuCb, ModelCb, WizardCb, model_key
from shared.bot.catalog_view import (
    category_rows,
    eta_text,
    model_button,
    models_by_key,
    page_of,
    price_from,
)
from shared.bot.i18n import I18n, Locale
from shared.domain.money import format_rubles
from shared.services.ledger import Ledger
from shared.services.users import open_account


def main_menu(i18n: I18n, locale: Locale) -> tuple[str, InlineKeyboardMarkup]:
    kb = InlineKeyboardBuilder()
    kb.button(text=i18n.get("menu.create", locale), callback_data=MenuCb(screen="create"))
    kb.button(text=i18n.get("menu.balance", locale), callback_data=MenuCb(screen="balance"))
    kb.button(text=i18n.get("menu.help", locale), callback_data=MenuCb(screen="help"))
    kb.adjust(1, 2)
    return i18n.get("menu.title", locale), kb.as_markup()


def back_to_menu(i18n: I18n, locale: Locale) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=i18n.get("menu.back_to_menu", locale), callback_data=MenuCb(screen="main"))
    return kb.as_markup()


async def show(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup) -> None:
    """Edit the screen in place (one message per screen), answering the press at once."""
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(text, reply_markup=markup)
    elif query.message is not None:  # too old to edit: open the screen anew
        await query.bot.send_message(query.message.chat.id, text, reply_markup=markup)  # type: ignore[union-attr]


async def on_menu_command(message: Message, i18n: I18n, locale: Locale) -> None:
    text, markup = main_menu(i18n, locale)
    await message.answer(text, reply_markup=markup)


async def on_menu(
    query: CallbackQuery, callback_data: MenuCb, db: Database, i18n: I18n, locale: Locale
) -> None:
    if callback_data.screen == "create":
        kb = InlineKeyboardBuilder()
        for slug, label in category_rows(locale):
            kb.button(text=label, callback_data=CategoryCb(slug=slug))
        kb.button(text=i18n.get("menu.back", locale), callback_data=MenuCb(screen="main"))
        kb.adjust(1)
        await show(query, i18n.get("menu.categories", locale), kb.as_markup())
    elif callback_data.screen == "balance":
        await show(
            query,
            await balance_text(db, query.from_user.id, i18n, locale),
            back_to_menu(i18n, locale),
        )
    elif callback_data.screen == "help":
        await show(query, i18n.get("menu.help_text", locale), back_to_menu(i18n, locale))
    else:
        text, markup = main_menu(i18n, locale)
        await show(query, text, markup)


async def balance_text(db: Database, telegram_id: int, i18n: I18n, locale: Locale) -> str:
    def read() -> tuple[int, int]:
        account = open_account(db, telegram_id)
        wallet = Ledger(db, default_hold_ttl_s=3600).balance(account.wallet_id)
        return wallet.available_kopecks, wallet.held_kopecks

    available, held = await asyncio.to_thread(read)
    return i18n.get(
        "menu.balance_text", locale, available=format_rubles(available), held=format_rubles(held)
    )


async def on_category(
    query: CallbackQuery, callback_data: CategoryCb, i18n: I18n, locale: Locale
) -> None:
    models, pages = page_of(callback_data.slug, callback_data.page)
    kb = InlineKeyboardBuilder()
    for entry in models:
        kb.button(text=model_button(entry, locale), callback_data=ModelCb(key=model_key(entry.id)))
    nav = []
    if callback_data.page > 0:
        nav.append(("‹", CategoryCb(slug=callback_data.slug, page=callback_data.page - 1)))
    if callback_data.page + 1 < pages:
        nav.append(("›", CategoryCb(slug=callback_data.slug, page=callback_data.page + 1)))
    for text, data in nav:
        kb.button(text=text, callback_data=data)
    kb.button(text=i18n.get("menu.back", locale), callback_data=MenuCb(screen="create"))
    kb.adjust(*([1] * len(models)), *([len(nav)] if nav else []), 1)
    title = i18n.get("menu.models", locale, page=callback_data.page + 1, pages=pages)
    await show(query, title, kb.as_markup())


async def on_model(
    query: CallbackQuery, callback_data: ModelCb, i18n: I18n, locale: Locale
) -> None:
    entry = models_by_key().get(callback_data.key)
    if entry is None:  # the catalogue changed since the button was drawn
        await query.answer(i18n.get("menu.expired", locale), show_alert=True)
        return
    price = price_from(entry.id)
    text = i18n.get(
        "menu.card",
        locale,
        title=entry.title.ru if locale == "ru" else entry.title.en,
        description=entry.description.ru if locale == "ru" else entry.description.en,
        price=format_rubles(price) if price else "—",
        eta=eta_text(entry.eta_s, locale),
    )
    kb = InlineKeyboardBuilder()
    kb.button(
        text=i18n.get("menu.start_wizard", locale),
        callback_data=WizardCb(action="start", value=callback_data.key),
    )
    kb.button(text=i18n.get("menu.back", locale), callback_data=CategoryCb(slug=entry.category))
    kb.adjust(1)
    await show(query, text, kb.as_markup())


def menu_router() -> Router:
    router = Router(name="menu")
    router.message.register(on_menu_command, Command("menu"))
    router.callback_query.register(on_menu, MenuCb.filter())
    router.callback_query.register(on_category, CategoryCb.filter())
    router.callback_query.register(on_model, ModelCb.filter())
    return router
