"""/start: open the account, keep the deep-link payload, greet in the user's language."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

from shared.adapters.db import Database
from shared.bot.i18n import I18n, Locale
from shared.bot.payloads import Promo, Referral, parse_start_payload
from shared.bot.routers.menu import main_menu
from shared.bot.routers.payments import redeem_text
from shared.bot.thread_loop import run_blocking
from shared.bot.users import start_user
from shared.config import get_settings
from shared.domain.money import format_rubles
from shared.payments.growth import attach_referrer


async def on_start(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    db: Database,
    i18n: I18n,
    locale: Locale,
) -> None:
    # /start is the way out of any screen: a half-filled wizard is dropped.
    await state.clear()
    user = message.from_user
    if user is None:  # a channel or anonymous admin: no one to open an account for
        return
    payload = parse_start_payload(command.args)
    started = await run_blocking(
        start_user,
        db,
        user.id,
        locale=locale,
        username=user.username,
        first_name=user.first_name,
        payload=payload,
        signup_bonus_kopecks=get_settings().signup_bonus_kopecks,
    )
    key = "start.greeting" if started.created else "start.greeting_back"
    lines = [i18n.get(key, locale, name=user.first_name)]
    if isinstance(payload, Referral) and started.created:
        # Only a new user can be referred: an existing one came on their own.
        referred = await run_blocking(
            attach_referrer, db, started.user_id, payload.referrer_telegram_id
        )
        if referred:
            lines.append(i18n.get("start.referral", locale))
    elif isinstance(payload, Promo):
        lines.append(await redeem_text(db, user.id, payload.code, i18n, locale))
    if started.bonus_kopecks:
        lines.append(i18n.get("start.bonus", locale, amount=format_rubles(started.bonus_kopecks)))
    menu_text, menu = main_menu(i18n, locale)
    lines.append(menu_text)
    await message.answer("\n\n".join(lines), reply_markup=menu)


def start_router() -> Router:
    # A fresh Router per call: aiogram attaches a router to one parent only, and
    # tests build several dispatchers in one process.
    router = Router(name="start")
    router.message.register(on_start, CommandStart())
    return router
