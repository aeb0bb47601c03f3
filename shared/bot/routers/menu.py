"""The menu: main screen, categories, a category's models page by page, a model's card,
the balance with its latest receipts, and help. Every screen edits the message it was
opened from and leads back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from shared.adapters.db import Database
from shared.bot.callbacks import (
    CategoryCb,
    HistoryCb,
    MenuCb,
    ModelCb,
    SettingsCb,
    TopUpCb,
    WizardCb,
    model_key,
)
from shared.bot.catalog_view import (
    category_rows,
    eta_text,
    model_button,
    models_by_key,
    page_of,
    price_from,
)
from shared.bot.i18n import I18n, Locale
from shared.bot.keyboard import Keyboard
from shared.bot.thread_loop import run_blocking
from shared.domain.money import format_rubles
from shared.registry import RegistryError, get_model
from shared.services.users import open_account

RECEIPTS = 5
MOSCOW = timezone(timedelta(hours=3))


def main_menu(i18n: I18n, locale: Locale) -> tuple[str, InlineKeyboardMarkup]:
    kb = Keyboard()
    kb.button(text=i18n.get("menu.create", locale), callback_data=MenuCb(screen="create"))
    kb.button(text=i18n.get("menu.balance", locale), callback_data=MenuCb(screen="balance"))
    kb.button(text=i18n.get("menu.history", locale), callback_data=HistoryCb(action="list"))
    kb.button(text=i18n.get("menu.settings", locale), callback_data=SettingsCb(action="open"))
    kb.button(text=i18n.get("menu.help", locale), callback_data=MenuCb(screen="help"))
    kb.adjust(1, 2, 2)
    return i18n.get("menu.title", locale), kb.as_markup()


def back_to_menu(i18n: I18n, locale: Locale) -> InlineKeyboardMarkup:
    kb = Keyboard()
    kb.button(text=i18n.get("menu.back_to_menu", locale), callback_data=MenuCb(screen="main"))
    return kb.as_markup()


async def edit_screen(message: Message, text: str, markup: InlineKeyboardMarkup) -> None:
    """Edit a screen in place. A double tap asks for what the screen already shows, and
    Telegram refuses that edit: not an error (anything else is)."""
    from aiogram.exceptions import TelegramBadRequest

    try:
        await message.edit_text(text, reply_markup=markup)
    except TelegramBadRequest as refused:
        if "message is not modified" not in refused.message:
            raise


async def show(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup) -> None:
    """Edit the screen in place (one message per screen), answering the press at once."""
    await query.answer()
    if isinstance(query.message, Message) and query.message.text is not None:
        await edit_screen(query.message, text, markup)
    elif isinstance(query.message, Message):  # a result (media): leave it, open anew
        await query.message.answer(text, reply_markup=markup)
    elif query.message is not None:  # too old to edit: open the screen anew
        await query.bot.send_message(query.message.chat.id, text, reply_markup=markup)  # type: ignore[union-attr]


async def on_menu_command(message: Message, i18n: I18n, locale: Locale) -> None:
    text, markup = main_menu(i18n, locale)
    await message.answer(text, reply_markup=markup)


async def on_balance_command(message: Message, db: Database, i18n: I18n, locale: Locale) -> None:
    if message.from_user is None:
        return
    text = await balance_text(db, message.from_user.id, i18n, locale)
    await message.answer(text, reply_markup=balance_keyboard(i18n, locale))


def help_text(i18n: I18n, locale: Locale) -> str:
    """How it works, then every command with what it does (the same list as the "/" menu)."""
    from shared.bot.commands import command_list

    lines = [f"/{name} — {what}" for name, what in command_list(i18n, locale)]
    return (
        "\n\n".join((i18n.get("menu.help_text", locale), i18n.get("menu.help_commands", locale)))
        + "\n"
        + "\n".join(lines)
    )


async def on_help_command(message: Message, i18n: I18n, locale: Locale) -> None:
    await message.answer(help_text(i18n, locale), reply_markup=back_to_menu(i18n, locale))


async def on_menu(
    query: CallbackQuery, callback_data: MenuCb, db: Database, i18n: I18n, locale: Locale
) -> None:
    if callback_data.screen == "create":
        kb = Keyboard()
        for slug, label in category_rows(locale):
            kb.button(text=label, callback_data=CategoryCb(slug=slug))
        kb.button(text=i18n.get("menu.back", locale), callback_data=MenuCb(screen="main"))
        kb.adjust(1)
        await show(query, i18n.get("menu.categories", locale), kb.as_markup())
    elif callback_data.screen == "balance":
        await show(
            query,
            await balance_text(db, query.from_user.id, i18n, locale),
            balance_keyboard(i18n, locale),
        )
    elif callback_data.screen == "help":
        await show(query, help_text(i18n, locale), back_to_menu(i18n, locale))
    else:
        text, markup = main_menu(i18n, locale)
        await show(query, text, markup)


def balance_keyboard(i18n: I18n, locale: Locale) -> InlineKeyboardMarkup:
    """Top up (the payments router answers TopUpCb) and the way back."""
    kb = Keyboard()
    kb.button(text=i18n.get("balance.topup", locale), callback_data=TopUpCb(action="open"))
    kb.button(text=i18n.get("menu.history", locale), callback_data=HistoryCb(action="list"))
    kb.button(text=i18n.get("menu.back_to_menu", locale), callback_data=MenuCb(screen="main"))
    kb.adjust(1, 2)
    return kb.as_markup()


@dataclass(frozen=True)
class Receipt:
    kind: str  # topup | bonus | capture | release | refund | adjustment
    amount_kopecks: int
    balance_delta: int
    reason: str | None
    model_id: str | None
    at: datetime


# One round trip: the wallet and its latest entries, each with the job it paid for (through
# its hold: a job's hold ref is unique). Holds are reservations, not receipts: left out.
_BALANCE_SQL = """
SELECT w.balance, w.held, l.kind, l.amount, l.balance_delta, l.reason, j.model_id, l.created_at
  FROM users u JOIN wallets w ON w.user_id = u.id
  LEFT JOIN LATERAL (
        SELECT * FROM ledger e WHERE e.wallet_id = w.id AND e.kind <> 'hold'
         ORDER BY e.id DESC LIMIT :limit) l ON true
  LEFT JOIN holds h ON h.id = l.hold_id
  LEFT JOIN jobs j ON j.hold_ref = h.ref
 WHERE u.telegram_id = :telegram_id
 ORDER BY l.id DESC NULLS LAST
"""


def read_balance(db: Database, telegram_id: int) -> tuple[int, int, list[Receipt]]:
    """Available, held, and the newest receipts first."""
    open_account(db, telegram_id)
    rows = db.run(_BALANCE_SQL, telegram_id=telegram_id, limit=RECEIPTS)
    balance, held = int(rows[0][0]), int(rows[0][1])
    receipts = [
        Receipt(r[2], int(r[3]), int(r[4]), r[5], r[6], r[7]) for r in rows if r[2] is not None
    ]
    return balance - held, held, receipts


def receipt_line(receipt: Receipt, i18n: I18n, locale: Locale) -> str:
    what = ""
    if receipt.model_id:
        try:
            entry = get_model(receipt.model_id)
            what = entry.title.ru if locale == "ru" else entry.title.en
        except RegistryError:
            what = receipt.model_id
    elif receipt.kind == "adjustment" and receipt.reason:
        what = receipt.reason
    kind = receipt.kind
    if kind == "adjustment":
        kind = "adjustment_plus" if receipt.balance_delta > 0 else "adjustment_minus"
    return i18n.get(
        f"balance.receipt.{kind}",
        locale,
        amount=format_rubles(receipt.amount_kopecks),
        what=f" · {what}" if what else "",
        date=receipt.at.astimezone(MOSCOW).strftime("%d.%m %H:%M"),
    )


async def balance_text(db: Database, telegram_id: int, i18n: I18n, locale: Locale) -> str:
    available, held, receipts = await run_blocking(read_balance, db, telegram_id)
    text = i18n.get(
        "menu.balance_text", locale, available=format_rubles(available), held=format_rubles(held)
    )
    if receipts:
        lines = "\n".join(receipt_line(r, i18n, locale) for r in receipts)
        text += "\n\n" + i18n.get("balance.receipts", locale, lines=lines)
    return text


async def on_category(
    query: CallbackQuery, callback_data: CategoryCb, i18n: I18n, locale: Locale
) -> None:
    models, pages = page_of(callback_data.slug, callback_data.page)
    kb = Keyboard()
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
    kb = Keyboard()
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
    router.message.register(on_balance_command, Command("balance"))
    router.message.register(on_help_command, Command("help"))
    router.callback_query.register(on_menu, MenuCb.filter())
    router.callback_query.register(on_category, CategoryCb.filter())
    router.callback_query.register(on_model, ModelCb.filter())
    return router
