"""Topping up the wallet: packs or a custom amount, then Stars, a card (a Telegram
payments provider) or a bank transfer with a receipt; promo codes; /paysupport.

Money moves only in shared.payments (one transaction per credit); this module turns
Telegram's updates into its calls and its answers into texts.
"""

from __future__ import annotations

import json
import logging
import re

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, LabeledPrice, Message, PreCheckoutQuery

from shared.adapters.db import Database
from shared.bot.admin_view import SupportCb
from shared.bot.callbacks import MenuCb, TopUpCb
from shared.bot.i18n import I18n, Locale
from shared.bot.keyboard import Keyboard
from shared.bot.routers.menu import show
from shared.bot.thread_loop import run_blocking
from shared.config import Settings, get_settings
from shared.domain.money import format_rubles
from shared.payments.errors import PaymentError, PromoRefused
from shared.payments.growth import redeem_promo
from shared.payments.service import Method, Payment, ReferralBonus, stars_for
from shared.payments.setup import payments_for
from shared.services.ledger import Ledger
from shared.services.users import open_account

log = logging.getLogger("kie_studio.payments")
OCR_TARGET = "ocr_receipt"
# "1500", "1 500", "1.500" or "1,500" (a separator before exactly three digits groups
# thousands), "1500,00", with ₽, р., руб., рублей or RUB before or after.
_RUBLES = re.compile(
    r"^\s*(?:₽\s*)?(\d{1,3}(?:[ \u00a0\u202f.,]\d{3})+|\d+)(?:[.,]00?)?"
    r"\s*(?:₽|р\.?|руб(?:\.|лей|ля|ль)?|rub\.?|r)?\s*$",
    re.IGNORECASE,
)


class TopUp(StatesGroup):
    amount = State()
    promo = State()
    receipt = State()
    support = State()  # the next message goes to the admins


def parse_rubles(text: str) -> int | None:
    """Whole rubles as a person types them: "1500", "1 500", "1.500", "1500 ₽", "1500,00",
    "1500 рублей", "₽1500", "1500 RUB"; None for anything else."""
    match = _RUBLES.match(text or "")
    if not match:
        return None
    return int(re.sub(r"\D", "", match.group(1)))


def _methods(settings: Settings, kopecks: int | None = None) -> list[Method]:
    """The configured ways to pay (for `kopecks`, when given: Stars have a cap per invoice)."""
    methods: list[Method] = []
    stars_fit = kopecks is None or (
        stars_for(kopecks, settings.stars_kopecks_per_star) <= settings.stars_max_per_invoice
    )
    if settings.stars_enabled and stars_fit:
        methods.append("stars")
    if settings.payments_provider_token is not None:
        methods.append("card")
    if settings.transfer_details:
        methods.append("transfer")
    return methods


def bounds_rub(settings: Settings) -> tuple[int, int]:
    """The amounts a top-up may have: with Stars the only way to pay, no more than one
    invoice of Stars can carry (10 000 Stars at 1.30 ₽ is 13 000 ₽, under the default 50 000)."""
    high = settings.topup_max_rub
    if _methods(settings) == ["stars"]:
        stars_cap = settings.stars_max_per_invoice * settings.stars_kopecks_per_star // 100
        high = min(high, stars_cap)
    return settings.topup_min_rub, high


def _bounds_text(settings: Settings) -> dict[str, str]:
    low, high = bounds_rub(settings)
    return {"low": format_rubles(low * 100), "high": format_rubles(high * 100)}


def topup_menu(i18n: I18n, locale: Locale) -> tuple[str, Keyboard]:
    settings = get_settings()
    kb = Keyboard()
    low, high = bounds_rub(settings)
    packs_shown = [rub for rub in settings.topup_packs_rub if low <= rub <= high]
    for rub in packs_shown:
        kb.button(
            text=format_rubles(rub * 100), callback_data=TopUpCb(action="pack", value=str(rub))
        )
    kb.button(text=i18n.get("payments.custom", locale), callback_data=TopUpCb(action="custom"))
    kb.button(text=i18n.get("payments.promo", locale), callback_data=TopUpCb(action="promo"))
    kb.button(text=i18n.get("menu.back", locale), callback_data=MenuCb(screen="balance"))
    packs = len(packs_shown)
    kb.adjust(*([2] * (packs // 2)), *([1] if packs % 2 else []), 2, 1)
    if not _methods(settings):
        return i18n.get("payments.unavailable", locale), kb
    return i18n.get("payments.menu", locale, **_bounds_text(settings)), kb


def methods_screen(rub: int, i18n: I18n, locale: Locale) -> tuple[str, Keyboard]:
    settings = get_settings()
    kb = Keyboard()
    for method in _methods(settings, rub * 100):
        label = i18n.get(f"payments.method.{method}", locale)
        if method == "stars":
            stars = stars_for(rub * 100, settings.stars_kopecks_per_star)
            label = i18n.get("payments.method.stars_n", locale, stars=stars)
        kb.button(text=label, callback_data=TopUpCb(action="method", value=f"{method}-{rub}"))
    kb.button(text=i18n.get("menu.back", locale), callback_data=TopUpCb(action="open"))
    kb.adjust(1)
    return i18n.get("payments.choose_method", locale, amount=format_rubles(rub * 100)), kb


async def on_open(query: CallbackQuery, state: FSMContext, i18n: I18n, locale: Locale) -> None:
    await state.clear()
    text, kb = topup_menu(i18n, locale)
    await show(query, text, kb.as_markup())


async def on_open_below(
    query: CallbackQuery, state: FSMContext, i18n: I18n, locale: Locale
) -> None:
    """Top up from a message that must stay as it is (a refusal for want of funds, whose
    "run again" is wanted after paying): the top-up screen opens below it."""
    await state.clear()
    await query.answer()
    text, kb = topup_menu(i18n, locale)
    if query.message is not None:
        await query.bot.send_message(query.message.chat.id, text, reply_markup=kb.as_markup())  # type: ignore[union-attr]


async def on_topup_command(message: Message, state: FSMContext, i18n: I18n, locale: Locale) -> None:
    await state.clear()
    text, kb = topup_menu(i18n, locale)
    await message.answer(text, reply_markup=kb.as_markup())


async def on_pack(query: CallbackQuery, callback_data: TopUpCb, i18n: I18n, locale: Locale) -> None:
    rub = int(callback_data.value) if callback_data.value.isdecimal() else 0
    if rub not in get_settings().topup_packs_rub:  # a pack from an older configuration
        await query.answer(i18n.get("menu.expired", locale), show_alert=True)
        return
    text, kb = methods_screen(rub, i18n, locale)
    await show(query, text, kb.as_markup())


async def on_custom(query: CallbackQuery, state: FSMContext, i18n: I18n, locale: Locale) -> None:
    settings = get_settings()
    await state.set_state(TopUp.amount)
    await show(
        query,
        i18n.get("payments.ask_amount", locale, **_bounds_text(settings)),
        _cancel(i18n, locale).as_markup(),
    )


def _cancel(i18n: I18n, locale: Locale) -> Keyboard:
    kb = Keyboard()
    kb.button(text=i18n.get("wizard.cancel", locale), callback_data=TopUpCb(action="open"))
    return kb


async def on_amount(message: Message, state: FSMContext, i18n: I18n, locale: Locale) -> None:
    settings = get_settings()
    rub = parse_rubles(message.text or "")
    low, high = bounds_rub(settings)
    if rub is None or not low <= rub <= high:
        key = "payments.error.amount_unreadable" if rub is None else "payments.error.amount_bounds"
        await message.answer(
            i18n.get(key, locale, **_bounds_text(settings)),
            reply_markup=_cancel(i18n, locale).as_markup(),
        )
        return
    await state.clear()
    text, kb = methods_screen(rub, i18n, locale)
    await message.answer(text, reply_markup=kb.as_markup())


async def on_method(
    query: CallbackQuery,
    callback_data: TopUpCb,
    bot: Bot,
    db: Database,
    state: FSMContext,
    i18n: I18n,
    locale: Locale,
) -> None:
    settings = get_settings()
    method, _, rub_text = callback_data.value.partition("-")
    kopecks = int(rub_text) * 100 if rub_text.isdecimal() else 0
    if method not in _methods(settings, kopecks) or not kopecks or query.message is None:
        await query.answer(i18n.get("menu.expired", locale), show_alert=True)
        return

    def create() -> Payment:
        account = open_account(db, query.from_user.id)
        return payments_for(db).create(account.user_id, method, kopecks)

    try:
        payment = await run_blocking(create)
    except PaymentError as error:
        await query.answer(_error_text(error, i18n, locale), show_alert=True)
        return
    await query.answer()
    chat_id = query.message.chat.id
    if payment.method == "transfer":
        await state.set_state(TopUp.receipt)
        await state.update_data(payment_id=payment.id)
        kb = Keyboard()
        kb.button(text=i18n.get("menu.back_to_menu", locale), callback_data=MenuCb(screen="main"))
        await bot.send_message(
            chat_id,
            i18n.get(
                "payments.transfer",
                locale,
                amount=format_rubles(payment.amount_kopecks),
                details=settings.transfer_details or "",
                code=payment.transfer_code or "",
            ),
            reply_markup=kb.as_markup(),
        )
    else:
        from aiogram.exceptions import TelegramBadRequest

        try:
            await send_invoice(bot, chat_id, payment, settings, i18n, locale)
        except TelegramBadRequest as refused:
            # Telegram refused the invoice (a provider token or amount it does not accept):
            # nothing was charged; the user hears it and ops get the reason.
            log.error("ALERT sendInvoice refused for payment %s: %s", payment.id, refused.message)
            await run_blocking(
                payments_for(db).record, payment.id, "invoice_refused", {"error": refused.message}
            )
            await bot.send_message(chat_id, i18n.get("payments.error.generic", locale))
            return
    await run_blocking(payments_for(db).record, payment.id, "offered", {})


async def send_invoice(
    bot: Bot, chat_id: int, payment: Payment, settings: Settings, i18n: I18n, locale: Locale
) -> None:
    amount = format_rubles(payment.amount_kopecks)
    title = i18n.get("payments.invoice_title", locale, amount=amount)[:32]
    description = i18n.get("payments.invoice_description", locale, amount=amount)[:255]
    price = LabeledPrice(label=title, amount=payment.invoice_amount)
    if payment.method == "stars":
        await bot.send_invoice(
            chat_id, title, description, payment.payload, currency="XTR", prices=[price]
        )
        return
    token = settings.payments_provider_token
    provider_data = None
    if settings.payments_fiscal_receipt:
        provider_data = json.dumps(
            {
                "receipt": {
                    "items": [
                        {
                            "description": description[:128],
                            "quantity": "1.00",
                            "amount": {
                                "value": f"{payment.invoice_amount / 100:.2f}",
                                "currency": "RUB",
                            },
                            "vat_code": settings.payments_vat_code,
                        }
                    ]
                }
            },
            ensure_ascii=False,
        )
    await bot.send_invoice(
        chat_id,
        title,
        description,
        payment.payload,
        currency="RUB",
        prices=[price],
        provider_token=token.get_secret_value() if token else None,
        need_email=settings.payments_fiscal_receipt,
        send_email_to_provider=settings.payments_fiscal_receipt,
        provider_data=provider_data,
    )


async def on_pre_checkout(
    query: PreCheckoutQuery, db: Database, i18n: I18n, locale: Locale
) -> None:
    """Telegram waits at most 10 s for this answer: one read, then the answer."""
    payments = payments_for(db)
    try:
        payment = await run_blocking(
            payments.check_pre_checkout,
            query.invoice_payload,
            query.from_user.id,
            query.currency,
            query.total_amount,
        )
    except PaymentError as error:
        log.warning("pre-checkout declined: %s", error)
        await query.answer(ok=False, error_message=_error_text(error, i18n, locale))
        return
    await query.answer(ok=True)
    await run_blocking(payments.record, payment.id, "pre_checkout_ok", {})


async def on_successful_payment(
    message: Message, bot: Bot, db: Database, i18n: I18n, locale: Locale
) -> None:
    paid = message.successful_payment
    if paid is None or message.from_user is None:
        return
    payments = payments_for(db)
    try:
        credited = await run_blocking(
            payments.credit_paid,
            paid.invoice_payload,
            message.from_user.id,
            paid.currency,
            paid.total_amount,
            paid.telegram_payment_charge_id,
            paid.provider_payment_charge_id,
        )
    except PaymentError as error:
        # Telegram took the money and we cannot match it: a person must look.
        log.error(
            "ALERT successful_payment not credited: %s (charge %s)",
            error,
            paid.telegram_payment_charge_id,
        )
        await message.answer(i18n.get("payments.unmatched", locale))
        return
    available = await run_blocking(_available, db, credited.payment.wallet_id)
    key = "payments.already_credited" if credited.replayed else "payments.credited"
    await message.answer(
        i18n.get(
            key,
            locale,
            amount=format_rubles(credited.entry.amount_kopecks),
            balance=format_rubles(available),
        )
    )
    await notify_referrer(bot, credited.referral_bonus, i18n)


def _available(db: Database, wallet_id: int) -> int:
    return Ledger(db, default_hold_ttl_s=3600).balance(wallet_id).available_kopecks


async def notify_referrer(bot: Bot, bonus: ReferralBonus | None, i18n: I18n) -> None:
    """The referrer hears of the bonus a first top-up earned them, in their language."""
    if bonus is None:
        return
    text = i18n.get(
        "payments.referral_bonus",
        "en" if bonus.language == "en" else "ru",
        amount=format_rubles(bonus.amount_kopecks),
    )
    await notify(bot, bonus.referrer_telegram_id, text)


async def notify(bot: Bot, chat_id: int, text: str) -> None:
    """A message to someone other than the sender: their blocking the bot is not our error."""
    from aiogram.exceptions import TelegramForbiddenError

    try:
        await bot.send_message(chat_id, text)
    except TelegramForbiddenError:
        log.info("user %s has blocked the bot; notice dropped", chat_id)


async def awaiting_transfer(message: Message, db: Database) -> bool | dict[str, int]:
    """A filter: the sender's open transfer waiting for a receipt, so a receipt sent later
    (after a refused one, or after leaving the screen) still finds its payment."""
    if message.from_user is None:
        return False
    payment_id = await run_blocking(payments_for(db).awaiting_receipt, message.from_user.id)
    return {"transfer_id": payment_id} if payment_id is not None else False


async def on_receipt(
    message: Message,
    state: FSMContext,
    db: Database,
    i18n: I18n,
    locale: Locale,
    transfer_id: int | None = None,
) -> None:
    settings = get_settings()
    data = await state.get_data()
    payment_id = data.get("payment_id", transfer_id)
    if not isinstance(payment_id, int) or message.from_user is None:
        await state.clear()
        return
    if message.photo:
        photo = message.photo[-1]
        file_ref, size, unique = f"photo:{photo.file_id}", photo.file_size, photo.file_unique_id
    elif message.document is not None:
        document = message.document
        if not (document.mime_type or "").startswith("image/"):
            await message.answer(i18n.get("payments.receipt_not_image", locale))
            return
        file_ref, size = f"document:{document.file_id}", document.file_size
        unique = document.file_unique_id
    else:
        await message.answer(i18n.get("payments.receipt_expected", locale))
        return
    if size is None or size > settings.receipt_max_bytes:
        limit = settings.receipt_max_bytes // (1024 * 1024)
        await message.answer(i18n.get("payments.receipt_too_big", locale, limit=limit))
        return

    def attach() -> None:
        from shared.bootstrap import get_task_queue

        payments_for(db).attach_receipt(payment_id, message.from_user.id, file_ref)  # type: ignore[union-attr]
        get_task_queue().enqueue(
            OCR_TARGET, {"payment_id": payment_id}, name=f"ocr-{payment_id}-{unique}"
        )

    try:
        await run_blocking(attach)
    except PaymentError as error:
        await state.clear()
        await message.answer(_error_text(error, i18n, locale))
        return
    await state.clear()
    await message.answer(i18n.get("payments.receipt_received", locale))


async def on_receipt_other(message: Message, i18n: I18n, locale: Locale) -> None:
    await message.answer(i18n.get("payments.receipt_expected", locale))


async def on_promo_button(
    query: CallbackQuery, state: FSMContext, i18n: I18n, locale: Locale
) -> None:
    await state.set_state(TopUp.promo)
    await show(query, i18n.get("payments.ask_promo", locale), _cancel(i18n, locale).as_markup())


async def on_promo_text(
    message: Message, state: FSMContext, db: Database, i18n: I18n, locale: Locale
) -> None:
    await state.clear()
    await message.answer(await promo_reply(db, message, message.text or "", i18n, locale))


async def on_promo_command(
    message: Message, command: CommandObject, db: Database, i18n: I18n, locale: Locale
) -> None:
    if not command.args:
        await message.answer(i18n.get("payments.promo_usage", locale))
        return
    await message.answer(await promo_reply(db, message, command.args, i18n, locale))


async def promo_reply(db: Database, message: Message, code: str, i18n: I18n, locale: Locale) -> str:
    user = message.from_user
    if user is None:
        return i18n.get("payments.error.promo_unknown", locale)
    return await redeem_text(db, user.id, code, i18n, locale)


async def redeem_text(db: Database, telegram_id: int, code: str, i18n: I18n, locale: Locale) -> str:
    """Redeem `code` for the user; the text to show, whether it worked or not."""

    def redeem() -> int:
        account = open_account(db, telegram_id)
        ledger = Ledger(db, default_hold_ttl_s=3600)
        return redeem_promo(db, ledger, account.user_id, code).amount_kopecks

    try:
        amount = await run_blocking(redeem)
    except PromoRefused as refused:
        return _error_text(refused, i18n, locale)
    return i18n.get("payments.promo_ok", locale, amount=format_rubles(amount))


async def on_paysupport(message: Message, state: FSMContext, i18n: I18n, locale: Locale) -> None:
    """The next message goes to the admins: /paysupport promises an answer, and the texts
    for an unmatched payment or a rejected receipt send people here."""
    await state.set_state(TopUp.support)
    await message.answer(
        i18n.get("payments.paysupport", locale), reply_markup=_cancel(i18n, locale).as_markup()
    )


async def on_support_message(
    message: Message, bot: Bot, state: FSMContext, i18n: I18n, locale: Locale
) -> None:
    from aiogram.exceptions import TelegramAPIError

    await state.clear()
    sender = message.from_user
    who = " ".join(
        part
        for part in (
            sender.full_name if sender else "",
            f"@{sender.username}" if sender and sender.username else "",
            f"id {message.chat.id}",
        )
        if part
    )
    header = i18n.get("payments.support_header", "ru", user=who)
    # The admins answer with "reply": the bot sends their next message to this chat.
    kb = Keyboard()
    kb.button(text=i18n.get("admin.reply", "ru"), callback_data=SupportCb(user=message.chat.id))
    reply = kb.as_markup()
    caption = f"{header}\n\n{message.caption}" if message.caption else header
    reached = 0
    for admin in get_settings().admin_telegram_ids:
        try:
            if message.photo:
                await bot.send_photo(
                    admin, message.photo[-1].file_id, caption=caption[:1024], reply_markup=reply
                )
            elif message.document:
                await bot.send_document(
                    admin, message.document.file_id, caption=caption[:1024], reply_markup=reply
                )
            else:
                body = message.text or message.caption or "—"
                await bot.send_message(admin, f"{header}\n\n{body}"[:4096], reply_markup=reply)
            reached += 1
        except TelegramAPIError as error:  # an admin who blocked the bot: the others still
            log.warning("support message not delivered to admin %s: %s", admin, error)
    if not reached:
        log.error("ALERT support message from %s reached no admin", message.chat.id)
    key = "payments.support_sent" if reached else "payments.support_unreachable"
    await message.answer(i18n.get(key, locale))


def _error_text(error: PaymentError, i18n: I18n, locale: Locale) -> str:
    settings = get_settings()
    return i18n.get(
        f"payments.error.{error.key}",
        locale,
        **(_bounds_text(settings) if error.key == "amount_bounds" else {}),
    )


def payments_router() -> Router:
    router = Router(name="payments")
    router.pre_checkout_query.register(on_pre_checkout)
    router.message.register(on_successful_payment, F.successful_payment)
    router.message.register(on_paysupport, Command("paysupport"))
    router.message.register(on_promo_command, Command("promo"))
    router.message.register(on_topup_command, Command("topup"))
    router.callback_query.register(on_open, TopUpCb.filter(F.action == "open"))
    router.callback_query.register(on_open_below, TopUpCb.filter(F.action == "below"))
    router.callback_query.register(on_pack, TopUpCb.filter(F.action == "pack"))
    router.callback_query.register(on_custom, TopUpCb.filter(F.action == "custom"))
    router.callback_query.register(on_promo_button, TopUpCb.filter(F.action == "promo"))
    router.callback_query.register(on_method, TopUpCb.filter(F.action == "method"))
    router.message.register(on_amount, TopUp.amount, F.text)
    router.message.register(on_promo_text, TopUp.promo, F.text)
    router.message.register(on_receipt, TopUp.receipt, F.photo | F.document)
    router.message.register(on_receipt_other, TopUp.receipt)
    router.message.register(on_support_message, TopUp.support)
    # Outside any screen, a picture is a receipt only while a transfer waits for one.
    router.message.register(on_receipt, StateFilter(None), F.photo | F.document, awaiting_transfer)
    return router
