"""Admins (ADMIN_TELEGRAM_IDS): approve or reject a transfer, refund Stars, create promo codes.

Every action checks the sender against the configured ids; the payments service makes a
second press, a second admin or a stale card harmless (one credit, one decision).
"""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from shared.adapters.db import Database
from shared.bot.admin_view import (
    REJECT_REASONS,
    AdminCb,
    SupportCb,
    card_keyboard,
    reasons_keyboard,
)
from shared.bot.i18n import I18n, Locale
from shared.bot.routers.payments import notify, notify_referrer, parse_rubles
from shared.bot.thread_loop import run_blocking
from shared.config import get_settings
from shared.domain.money import format_rubles
from shared.payments.errors import MoneyAlreadySpent, PaymentError
from shared.payments.growth import create_promo
from shared.payments.service import Credited, Payment
from shared.payments.setup import payments_for
from shared.services.ledger import Ledger

log = logging.getLogger("kie_studio.admin")


class AdminInput(StatesGroup):
    amount = State()
    reply = State()  # the next message goes to the user who asked (/paysupport)


def is_admin(telegram_id: int | None) -> bool:
    return telegram_id is not None and telegram_id in get_settings().admin_telegram_ids


def _user_locale(payment: Payment) -> Locale:
    return "en" if payment.language == "en" else "ru"


async def _close_card(query: CallbackQuery, note: str) -> None:
    """Append the decision to the card and take its buttons away."""
    message = query.message
    if not isinstance(message, Message):
        return
    empty = InlineKeyboardMarkup(inline_keyboard=[])
    if message.caption is not None or message.photo or message.document:
        await message.edit_caption(
            caption=f"{message.caption or ''}\n\n{note}"[:1024], reply_markup=empty
        )
    else:
        await message.edit_text(f"{message.text or ''}\n\n{note}"[:4096], reply_markup=empty)


async def on_admin_button(
    query: CallbackQuery,
    callback_data: AdminCb,
    bot: Bot,
    db: Database,
    state: FSMContext,
    i18n: I18n,
    locale: Locale,
) -> None:
    if not is_admin(query.from_user.id):
        await query.answer(i18n.get("admin.not_allowed", locale), show_alert=True)
        return
    payments = payments_for(db)
    payment_id = callback_data.payment
    if callback_data.action == "approve":
        kopecks = int(callback_data.value) if callback_data.value.isdecimal() else None
        await approve(query, bot, db, payment_id, kopecks, i18n, locale)
    elif callback_data.action == "amount":
        await state.set_state(AdminInput.amount)
        await state.update_data(payment_id=payment_id)
        await query.answer()
        if query.message is not None:
            await bot.send_message(
                query.message.chat.id, i18n.get("admin.ask_amount", locale, payment=payment_id)
            )
    elif callback_data.action == "reject":
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.edit_reply_markup(
                reply_markup=reasons_keyboard(payment_id, i18n, locale)
            )
    elif callback_data.action == "card":
        await query.answer()
        payment = await run_blocking(payments.get, payment_id)
        if isinstance(query.message, Message) and payment.status == "review":
            await query.message.edit_reply_markup(reply_markup=card_keyboard(payment, i18n, locale))
    elif callback_data.action == "why" and callback_data.value in REJECT_REASONS:
        reason = callback_data.value
        try:
            await run_blocking(payments.reject, payment_id, query.from_user.id, reason)
        except PaymentError as error:
            await tell_user(bot, db, payment_id, i18n)
            await query.answer(_admin_error(error, i18n, locale), show_alert=True)
            return
        await tell_user(bot, db, payment_id, i18n)
        await query.answer()
        await _close_card(
            query,
            i18n.get("admin.rejected", locale, reason=i18n.get(f"admin.reason.{reason}", locale)),
        )
    else:
        await query.answer(i18n.get("menu.expired", locale), show_alert=True)


async def approve(
    query: CallbackQuery | None,
    bot: Bot,
    db: Database,
    payment_id: int,
    kopecks: int | None,
    i18n: I18n,
    locale: Locale,
    admin_id: int | None = None,
) -> str | None:
    """Credit the transfer and tell the user. Returns the refusal text, if refused."""
    admin = admin_id if admin_id is not None else (query.from_user.id if query else 0)
    payments = payments_for(db)
    try:
        credited: Credited = await run_blocking(payments.approve, payment_id, admin, kopecks)
    except PaymentError as error:
        # A retry after the credit committed lands here: the user may still be owed a word.
        await tell_user(bot, db, payment_id, i18n)
        text = _admin_error(error, i18n, locale)
        if query is not None:
            await query.answer(text, show_alert=True)
        return text
    # The user first: if editing the card fails, the retry finds the notice already sent.
    await tell_user(bot, db, payment_id, i18n)
    await notify_referrer(bot, credited.referral_bonus, i18n)
    if query is not None:
        await query.answer()
        amount = format_rubles(credited.entry.amount_kopecks)
        await _close_card(query, i18n.get("admin.approved", locale, amount=amount))
    return None


async def tell_user(bot: Bot, db: Database, payment_id: int, i18n: I18n) -> None:
    """The user's notice of an admin's decision, sent once (recorded after Telegram took it)."""
    payments = payments_for(db)
    payment = await run_blocking(payments.get, payment_id)
    if payment.status not in ("credited", "rejected"):
        return
    if "user_notified" in await run_blocking(payments.events, payment_id):
        return
    user_locale = _user_locale(payment)
    if payment.status == "credited":
        available = await run_blocking(
            lambda: Ledger(db, default_hold_ttl_s=3600).balance(payment.wallet_id)
        )
        text = i18n.get(
            "payments.transfer_approved",
            user_locale,
            amount=format_rubles(payment.credited_kopecks or 0),
            balance=format_rubles(available.available_kopecks),
        )
    else:
        reason = payment.reject_reason if payment.reject_reason in REJECT_REASONS else None
        text = i18n.get(
            "payments.transfer_rejected",
            user_locale,
            amount=format_rubles(payment.amount_kopecks),
            reason=i18n.get(f"admin.reason.{reason or 'not_found'}", user_locale),
        )
    await notify(bot, payment.telegram_id, text)
    await run_blocking(payments.record, payment_id, "user_notified", {})


async def on_admin_amount(
    message: Message, bot: Bot, db: Database, state: FSMContext, i18n: I18n, locale: Locale
) -> None:
    if message.from_user is None or not is_admin(message.from_user.id):
        await state.clear()
        return
    if (message.text or "").startswith("/"):
        await state.clear()  # any command leaves the amount prompt
        await message.answer(i18n.get("admin.amount_cancelled", locale))
        return
    rub = parse_rubles(message.text or "")
    if rub is None or rub <= 0:
        await message.answer(i18n.get("admin.bad_amount", locale))
        return
    data = await state.get_data()
    await state.clear()
    payment_id = int(data.get("payment_id", 0))
    refused = await approve(
        None, bot, db, payment_id, rub * 100, i18n, locale, admin_id=message.from_user.id
    )
    await message.answer(
        refused or i18n.get("admin.approved", locale, amount=format_rubles(rub * 100))
    )


async def on_refund(
    message: Message, command: CommandObject, bot: Bot, db: Database, i18n: I18n, locale: Locale
) -> None:
    if message.from_user is None or not is_admin(message.from_user.id):
        return  # not a command for everyone: stay silent as for an unknown one
    args = (command.args or "").split()
    if len(args) != 1 or not args[0].isdecimal():
        await message.answer(i18n.get("admin.refund_usage", locale))
        return
    payment_id = int(args[0])
    payments = payments_for(db)
    try:
        payment, hold_ref = await run_blocking(
            payments.begin_refund, payment_id, message.from_user.id
        )
    except MoneyAlreadySpent as spent:
        await message.answer(
            i18n.get(
                "admin.refund_spent",
                locale,
                payment=payment_id,
                credited=format_rubles(spent.credited),
                available=format_rubles(spent.available),
            )
        )
        return
    except PaymentError as error:
        await message.answer(_admin_error(error, i18n, locale))
        return
    try:
        await bot.refund_star_payment(payment.telegram_id, payment.telegram_charge_id or "")
        refunded, detail = True, ""
    except TelegramBadRequest as error:
        # Already refunded (a repeated command after a crash) counts as done.
        refunded, detail = "ALREADY_REFUNDED" in error.message.upper(), error.message
    await run_blocking(payments.finish_refund, payment_id, hold_ref, refunded, detail)
    if refunded:
        await message.answer(
            i18n.get(
                "admin.refunded",
                locale,
                payment=payment_id,
                stars=payment.invoice_amount,
                amount=format_rubles(payment.credited_kopecks or 0),
            )
        )
    else:
        await message.answer(i18n.get("admin.refund_failed", locale, detail=detail))


async def on_new_promo(
    message: Message, command: CommandObject, bot: Bot, db: Database, i18n: I18n, locale: Locale
) -> None:
    if message.from_user is None or not is_admin(message.from_user.id):
        return
    args = (command.args or "").split()
    if len(args) != 4 or not all(a.isdecimal() for a in args[1:]):
        await message.answer(i18n.get("admin.promo_usage", locale))
        return
    code, rub, uses, days = args[0], int(args[1]), int(args[2]), int(args[3])
    try:
        promo = await run_blocking(
            create_promo, db, code, rub * 100, uses, days, message.from_user.id
        )
    except ValueError as error:
        await message.answer(str(error))
        return
    me = await bot.me()
    await message.answer(
        i18n.get(
            "admin.promo_created",
            locale,
            code=promo.code,
            amount=format_rubles(promo.bonus_kopecks),
            uses=uses,
            days=days,
            link=f"https://t.me/{me.username}?start=promo_{promo.code}",
        )
    )


def _admin_error(error: PaymentError, i18n: I18n, locale: Locale) -> str:
    return i18n.get(f"admin.error.{error.key}", locale)


async def on_support_reply_button(
    query: CallbackQuery, callback_data: SupportCb, state: FSMContext, i18n: I18n, locale: Locale
) -> None:
    if not is_admin(query.from_user.id):
        await query.answer(i18n.get("admin.not_allowed", locale), show_alert=True)
        return
    await state.set_state(AdminInput.reply)
    await state.set_data({"reply_to": callback_data.user})
    await query.answer()
    if query.message is not None:
        await query.bot.send_message(  # type: ignore[union-attr]
            query.message.chat.id, i18n.get("admin.reply_prompt", locale, user=callback_data.user)
        )


async def on_support_reply(
    message: Message, bot: Bot, db: Database, state: FSMContext, i18n: I18n, locale: Locale
) -> None:
    """The admin's answer to a payment question, sent to the asker in their language: text,
    or a photo or document with its caption."""
    from aiogram.exceptions import TelegramAPIError

    from shared.bot.limits import stored_language

    data = await state.get_data()
    await state.clear()
    user = data.get("reply_to")
    if not is_admin(message.from_user.id if message.from_user else None) or not isinstance(
        user, int
    ):
        return
    language = await run_blocking(stored_language, db, user)
    header = i18n.get("payments.support_reply", "en" if language == "en" else "ru")
    try:
        if message.photo:
            caption = f"{header}\n\n{message.caption or ''}".strip()
            await bot.send_photo(user, message.photo[-1].file_id, caption=caption[:1024])
        elif message.document:
            caption = f"{header}\n\n{message.caption or ''}".strip()
            await bot.send_document(user, message.document.file_id, caption=caption[:1024])
        elif message.text:
            await bot.send_message(user, f"{header}\n\n{message.text}"[:4096])
        else:
            await message.answer(i18n.get("admin.reply_unsupported", locale))
            return
    except TelegramAPIError as error:
        log.warning("support reply to %s not delivered: %s", user, error)
        await message.answer(i18n.get("admin.reply_failed", locale, user=user))
        return
    await message.answer(i18n.get("admin.reply_sent", locale, user=user))


def admin_router() -> Router:
    router = Router(name="admin")
    router.callback_query.register(on_admin_button, AdminCb.filter())
    router.message.register(on_refund, Command("refund"))
    router.message.register(on_new_promo, Command("newpromo"))
    router.message.register(on_admin_amount, AdminInput.amount, F.text)
    router.callback_query.register(on_support_reply_button, SupportCb.filter())
    router.message.register(on_support_reply, AdminInput.reply)
    return router
