"""The wizard a model's schema generates: one question per input the model needs, then the
price and the balance, then "run". Text for prompts and numbers, buttons for choices and
yes/no, uploads for files (checked for type and size before anything is spent)."""

from __future__ import annotations

import io
import logging
from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import ExceptionTypeFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, ErrorEvent, InlineKeyboardMarkup, Message

from shared.adapters.db import Database
from shared.bot.callbacks import HistoryCb, TopUpCb, WizardCb
from shared.bot.catalog_view import eta_text, models_by_key
from shared.bot.i18n import I18n, Locale
from shared.bot.keyboard import Keyboard
from shared.bot.routers.menu import edit_screen, show
from shared.bot.thread_loop import run_blocking
from shared.domain.ledger import InsufficientFunds
from shared.domain.money import format_rubles
from shared.registry import InputValidationError, RegistryError, get_model, quote
from shared.registry.schema import FieldSpec, ModelEntry
from shared.services.ledger import Ledger
from shared.services.users import open_account

TELEGRAM_DOWNLOAD_MAX = 20 * 1024 * 1024  # what a bot may download from Telegram
log = logging.getLogger("kie_studio.bot.wizard")


class Wizard(StatesGroup):
    filling = State()


# Free text a marketer always wants to write, even where the schema lets it be left out
# (the model then falls back on an image, or on a stock prompt): asked, with "skip".
ALWAYS_ASKED = frozenset({"prompt"})


def questions(entry: ModelEntry) -> list[str]:
    """The inputs to ask for: required ones the schema gives no default (defaults prefilled),
    and the prompt."""
    return [
        name
        for name, spec in entry.inputs.items()
        if spec.type != "object_list"
        and (
            (spec.required and not spec.has_default)
            or (name in ALWAYS_ASKED and not spec.is_file and not _choices(spec))
        )
    ]


def skippable(spec: FieldSpec) -> bool:
    """A question the user may leave: the schema does without it, or has a default."""
    return not spec.required or spec.has_default


def editable(entry: ModelEntry, values: dict[str, Any]) -> list[str]:
    """The fields the summary offers to change: what was asked or given, and the choices
    that have defaults (at most 6, in the schema's order)."""
    asked = set(questions(entry)) | set(values)
    fields = [(name, spec) for name, spec in entry.inputs.items() if spec.type != "object_list"]
    # What was asked first: the cap must never hide the prompt behind a list of switches.
    names = [name for name, _ in fields if name in asked]
    names += [name for name, spec in fields if name not in asked and _choices(spec)]
    return [name for name in names if not entry.inputs[name].is_file or name in asked][:6]


def _label(
    name: str, i18n: I18n | None = None, locale: Locale = "ru", *, many: bool = False
) -> str:
    """The field as a marketer would call it; the schema's own name when we have no word.
    `many`: asked for several files, where a field named in the singular has a plural."""
    if i18n is not None:
        for key in (f"field.{name}.many", f"field.{name}") if many else (f"field.{name}",):
            try:
                return i18n.get(key, locale)
            except KeyError:
                pass
    return name.replace("_", " ")


SHOWN_MAX = 80  # characters of one value on the summary


def shown_value(spec: FieldSpec, value: Any, i18n: I18n, locale: Locale) -> str:
    """A value as the summary shows it: files as a count (their URLs are ours, not the
    user's), a conversation as its words, long text cut with an ellipsis."""
    if spec.is_file:
        count = len(value) if isinstance(value, list) else 1
        return i18n.get("wizard.files_attached", locale, n=count)
    if spec.type == "boolean":
        return i18n.get(f"wizard.bool.{str(value).lower()}", locale)
    if isinstance(value, list):
        words = [str(v.get("content", "")) if isinstance(v, dict) else str(v) for v in value]
        text = " / ".join(word for word in words if word)
    else:
        text = str(value)
    return text if len(text) <= SHOWN_MAX else text[: SHOWN_MAX - 1].rstrip() + "…"


def summary_lines(
    entry: ModelEntry, values: dict[str, Any], i18n: I18n, locale: Locale
) -> list[str]:
    return [
        f"• {_label(name, i18n, locale)}: {shown_value(entry.inputs[name], value, i18n, locale)}"
        for name, value in values.items()
        if name in entry.inputs
    ]


def quoted_price(entry: ModelEntry, kopecks: int, i18n: I18n, locale: Locale) -> str:
    """The quote as the confirm screen says it. A per-token price is held at its most (the
    longest answer allowed) and charged by the tokens used, so it reads "up to"."""
    price = format_rubles(kopecks)
    return i18n.get("wizard.price_up_to", locale, price=price) if by_usage(entry) else price


def by_usage(entry: ModelEntry) -> bool:
    return entry.price is not None and entry.price.unit == "per_million_tokens"


def _choices(spec: FieldSpec) -> list[str]:
    if spec.enum:
        return [str(option) for option in spec.enum]
    if spec.type == "boolean":
        return ["true", "false"]
    return []


async def ask(
    target: Message, entry: ModelEntry, name: str, i18n: I18n, locale: Locale, *, edit: bool
) -> None:
    spec = entry.inputs[name]
    position = list(entry.inputs).index(name)
    kb = Keyboard()
    for index, option in enumerate(_choices(spec)):
        shown = i18n.get(f"wizard.bool.{option}", locale) if spec.type == "boolean" else option
        # The field's place rides along: a button of an earlier question must not answer
        # whichever question is asked now.
        kb.button(text=shown, callback_data=WizardCb(action="pick", value=f"{position}.{index}"))
    if skippable(spec):
        kb.button(
            text=i18n.get("wizard.skip", locale),
            callback_data=WizardCb(action="skip", value=str(position)),
        )
    kb.button(text=i18n.get("wizard.cancel", locale), callback_data=WizardCb(action="cancel"))
    kb.adjust(*([3] * -(-len(_choices(spec)) // 3)), *([1] * (1 + skippable(spec))))
    if spec.is_file:
        kinds = ", ".join(sorted({a.split("/")[0] for a in spec.accept or ("image/png",)}))
        field = _label(name, i18n, locale)
        if spec.type == "file_list" and _files_max(spec) > 1:
            field = _label(name, i18n, locale, many=True)
            text = i18n.get(
                "wizard.ask_files", locale, field=field, kinds=kinds, max=_files_max(spec)
            )
        else:
            text = i18n.get("wizard.ask_file", locale, field=field, kinds=kinds)
    elif spec.type == "boolean":  # a switch: "turn on …?", never "choose …"
        text = i18n.get("wizard.ask_bool", locale, field=_label(name, i18n, locale))
    elif _choices(spec):
        text = i18n.get("wizard.ask_choice", locale, field=_label(name, i18n, locale))
    else:
        limit = i18n.get("wizard.limit", locale, n=spec.max_length) if spec.max_length else ""
        field = _label(name, i18n, locale)
        text = i18n.get("wizard.ask_text", locale, field=field, limit=limit).strip()
    if edit:
        await edit_screen(target, text, kb.as_markup())
    else:
        await target.answer(text, reply_markup=kb.as_markup())


async def on_start(
    query: CallbackQuery, callback_data: WizardCb, state: FSMContext, i18n: I18n, locale: Locale
) -> None:
    entry = models_by_key().get(callback_data.value)
    if entry is None or not isinstance(query.message, Message):
        await query.answer(i18n.get("menu.expired", locale), show_alert=True)
        return
    await query.answer()
    todo = questions(entry)
    await state.set_state(Wizard.filling)
    await state.set_data({"model": entry.id, "values": {}, "todo": todo})
    await advance(query.message, state, i18n, locale, edit=True)


async def advance(
    message: Message, state: FSMContext, i18n: I18n, locale: Locale, *, edit: bool
) -> None:
    """Ask the next question, or show the summary with the price when none is left."""
    data = await state.get_data()
    entry = get_model(data["model"])
    if data["todo"]:
        await ask(message, entry, data["todo"][0], i18n, locale, edit=edit)
        return
    await summary(
        message,
        state,
        entry,
        data["values"],
        i18n,
        locale,
        edit=edit,
        media_seconds=data.get("media_seconds"),
    )


async def summary(
    message: Message,
    state: FSMContext,
    entry: ModelEntry,
    values: dict[str, Any],
    i18n: I18n,
    locale: Locale,
    *,
    edit: bool,
    media_seconds: dict[str, float] | None = None,
) -> None:
    from shared.config import get_settings

    known = {name: value for name, value in values.items() if name in entry.inputs}
    if known != values:
        # "Repeat" of a job whose model has since lost an input: what it no longer takes goes.
        values = known
        await state.update_data(values=values)
    try:
        price = quote(entry.id, values, get_settings(), media_seconds=media_seconds)
    except InputValidationError as invalid:
        todo = [i.field for i in invalid.issues if i.field in entry.inputs]
        await message.answer(invalid.message(locale))
        if not todo:  # nothing the user could answer would fix it
            await state.clear()
            return
        await state.update_data(todo=todo)
        await advance(message, state, i18n, locale, edit=False)
        return
    except RegistryError as refused:
        await state.clear()
        text = refused.message(locale) if hasattr(refused, "message") else str(refused)
        await message.answer(str(text))
        return
    lines = summary_lines(entry, values, i18n, locale)
    shown_price = quoted_price(entry, price, i18n, locale)
    text = i18n.get(
        "wizard.summary",
        locale,
        title=entry.title.ru if locale == "ru" else entry.title.en,
        fields="\n".join(lines) or "—",
        price=shown_price,
        eta=eta_text(entry.eta_s, locale),
    )
    run = i18n.get("wizard.run", locale, price=format_rubles(price))
    if by_usage(entry):
        text += "\n" + i18n.get("wizard.price_by_usage", locale)
        run = i18n.get("wizard.run_up_to", locale, price=format_rubles(price))
    kb = Keyboard()
    kb.button(text=run, callback_data=WizardCb(action="run"))
    for index, name in enumerate(editable(entry, values)):
        kb.button(
            text=i18n.get("wizard.edit_field", locale, field=_label(name, i18n, locale)),
            callback_data=WizardCb(action="edit", value=str(index)),
        )
    kb.button(text=i18n.get("wizard.cancel", locale), callback_data=WizardCb(action="cancel"))
    kb.adjust(1)
    if edit:
        await edit_screen(message, text, kb.as_markup())
        screen = message.message_id
    else:
        screen = (await message.answer(text, reply_markup=kb.as_markup())).message_id
    # Only the newest confirm screen runs: an older one would run these values by surprise.
    await state.update_data(price=price, screen=screen)


async def remember(
    message: Message, state: FSMContext, value: Any, i18n: I18n, locale: Locale
) -> None:
    data = await state.get_data()
    name = data["todo"][0]
    values = {**data["values"], name: value}
    await state.update_data(values=values, todo=data["todo"][1:])
    await advance(message, state, i18n, locale, edit=False)


async def on_text(message: Message, state: FSMContext, i18n: I18n, locale: Locale) -> None:
    data = await state.get_data()
    if not data.get("todo"):
        # At the summary nothing is asked: say what to press instead of staying silent.
        await message.answer(i18n.get("wizard.at_summary", locale))
        return
    entry = get_model(data["model"])
    name = data["todo"][0]
    spec = entry.inputs[name]
    text = (message.text or "").strip()
    if spec.is_file or _choices(spec):
        await message.answer(i18n.get("wizard.wrong_input", locale))
        return
    if spec.max_length is not None and len(text) > spec.max_length:
        await message.answer(
            i18n.get("wizard.too_long", locale, limit=spec.max_length, length=len(text))
        )
        return
    value: Any = text
    if spec.type in ("integer", "number"):
        try:
            value = int(text) if spec.type == "integer" else float(text.replace(",", "."))
        except ValueError:
            await message.answer(i18n.get("wizard.not_a_number", locale))
            return
    if spec.type == "messages":
        value = [{"role": "user", "content": text}]
    await remember(message, state, value, i18n, locale)


async def on_pick(
    query: CallbackQuery, callback_data: WizardCb, state: FSMContext, i18n: I18n, locale: Locale
) -> None:
    data = await state.get_data()
    if not data.get("todo") or not isinstance(query.message, Message):
        await query.answer(i18n.get("menu.expired", locale), show_alert=True)
        return
    entry = get_model(data["model"])
    name = data["todo"][0]
    spec = entry.inputs[name]
    options: list[Any] = (
        list(spec.enum) if spec.enum else [True, False] if spec.type == "boolean" else []
    )
    field, _, picked = callback_data.value.partition(".")
    asked = field.isdigit() and int(field) == list(entry.inputs).index(name)
    index = int(picked) if asked and picked.isdigit() else -1
    if not 0 <= index < len(options):
        await query.answer(i18n.get("menu.expired", locale), show_alert=True)
        return
    await query.answer()
    await remember(query.message, state, options[index], i18n, locale)


async def on_file(
    message: Message, bot: Bot, state: FSMContext, i18n: I18n, locale: Locale
) -> None:
    data = await state.get_data()
    if not data.get("todo"):
        await message.answer(i18n.get("wizard.at_summary", locale))
        return
    entry = get_model(data["model"])
    name = data["todo"][0]
    spec = entry.inputs[name]
    if not spec.is_file:
        await message.answer(i18n.get("wizard.wrong_input", locale))
        return
    file_id, size, mime, file_name = _attachment(message)
    accepted = spec.accept or ("image/png", "image/jpeg", "image/webp")
    if mime not in accepted and not any(
        mime.startswith(a.split("/")[0] + "/") for a in accepted if a.endswith("/*")
    ):
        await message.answer(i18n.get("wizard.wrong_type", locale, types=", ".join(accepted)))
        return
    limit = min(TELEGRAM_DOWNLOAD_MAX, int((spec.max_file_mb or 20) * 1024 * 1024))
    if size is None or size > limit:
        await message.answer(i18n.get("wizard.too_big", locale, limit=limit // (1024 * 1024)))
        return
    buffer = io.BytesIO()
    await bot.download(file_id, destination=buffer)
    url = await run_blocking(_upload_to_kie, buffer.getvalue(), file_name)
    duration = _duration(message)
    if duration is not None:
        # Models priced per second of the uploaded audio or video are quoted on its length.
        await state.update_data(media_seconds={**data.get("media_seconds", {}), name: duration})
    if spec.type != "file_list" or _files_max(spec) == 1:
        await remember(message, state, [url] if spec.type == "file_list" else url, i18n, locale)
        return
    await collect(message, bot, state, spec, url, i18n, locale)


def _files_max(spec: FieldSpec) -> int:
    return max(1, spec.max_items or 1)


async def collect(
    message: Message,
    bot: Bot,
    state: FSMContext,
    spec: FieldSpec,
    url: str,
    i18n: I18n,
    locale: Locale,
) -> None:
    """One more file for a question that takes several (an album arrives as one message per
    photo): counted on one message, edited in place, until the limit or "Done"."""
    data = await state.get_data()
    collected = [*data.get("collected", []), url]
    if len(collected) >= _files_max(spec):
        await state.update_data(collected=[], counter=None)
        await remember(message, state, collected, i18n, locale)
        return
    await state.update_data(collected=collected)
    text = i18n.get("wizard.files_received", locale, count=len(collected), max=_files_max(spec))
    kb = Keyboard()
    kb.button(text=i18n.get("wizard.files_done", locale), callback_data=WizardCb(action="done"))
    kb.button(text=i18n.get("wizard.cancel", locale), callback_data=WizardCb(action="cancel"))
    kb.adjust(1)
    counter = data.get("counter")
    if counter is not None:
        from aiogram.exceptions import TelegramBadRequest

        try:
            await bot.edit_message_text(
                text, chat_id=message.chat.id, message_id=counter, reply_markup=kb.as_markup()
            )
            return
        except TelegramBadRequest:
            pass  # gone or too old: a new counter below
    sent = await message.answer(text, reply_markup=kb.as_markup())
    await state.update_data(counter=sent.message_id)


async def on_skip(
    query: CallbackQuery, callback_data: WizardCb, state: FSMContext, i18n: I18n, locale: Locale
) -> None:
    """Leave the question asked now as it is (the model's default, or nothing)."""
    data = await state.get_data()
    todo = list(data.get("todo", []))
    entry = get_model(data["model"]) if todo else None
    asked_now = (
        entry is not None
        and str(list(entry.inputs).index(todo[0])) == callback_data.value
        and skippable(entry.inputs[todo[0]])
    )
    if not asked_now or not isinstance(query.message, Message):
        await query.answer(i18n.get("menu.expired", locale), show_alert=True)
        return
    await query.answer()
    await state.update_data(todo=todo[1:], collected=[], counter=None)
    await advance(query.message, state, i18n, locale, edit=True)


async def on_files_done(
    query: CallbackQuery, state: FSMContext, i18n: I18n, locale: Locale
) -> None:
    data = await state.get_data()
    if not data.get("todo") or not isinstance(query.message, Message):
        await query.answer(i18n.get("menu.expired", locale), show_alert=True)
        return
    spec = get_model(data["model"]).inputs[data["todo"][0]]
    collected = list(data.get("collected", []))
    least = max(1, spec.min_items or 1)
    if spec.type != "file_list" or len(collected) < least:
        await query.answer(i18n.get("wizard.files_none", locale, min=least), show_alert=True)
        return
    await query.answer()
    await state.update_data(collected=[], counter=None)
    await remember(query.message, state, collected, i18n, locale)


def _duration(message: Message) -> float | None:
    """Seconds of an audio, voice or video upload, as Telegram reports them."""
    for media in (message.audio, message.voice, message.video, message.video_note):
        if media is not None and media.duration:
            return float(media.duration)
    return None


def _attachment(message: Message) -> tuple[str, int | None, str, str]:
    if message.photo:
        photo = message.photo[-1]
        return photo.file_id, photo.file_size, "image/jpeg", f"{photo.file_unique_id}.jpg"
    for media in (message.document, message.video, message.audio, message.voice):
        if media is not None:
            name = getattr(media, "file_name", None) or media.file_unique_id
            return media.file_id, media.file_size, media.mime_type or "", name
    raise ValueError("no attachment")


def _upload_to_kie(content: bytes, file_name: str) -> str:
    from shared.bootstrap import get_kie_client

    return get_kie_client().upload_bytes(content, file_name)


async def on_other(message: Message, i18n: I18n, locale: Locale) -> None:
    """A sticker, a location, … while the wizard waits for something it can use."""
    await message.answer(i18n.get("wizard.wrong_input", locale))


async def on_edit(
    query: CallbackQuery, callback_data: WizardCb, state: FSMContext, i18n: I18n, locale: Locale
) -> None:
    """Change one field from the summary: its question again, then the summary again."""
    data = await state.get_data()
    if data.get("todo") or "model" not in data or not isinstance(query.message, Message):
        await query.answer(i18n.get("menu.expired", locale), show_alert=True)
        return
    entry = get_model(data["model"])
    names = editable(entry, data["values"])
    index = int(callback_data.value) if callback_data.value.isdigit() else -1
    if not 0 <= index < len(names):
        await query.answer(i18n.get("menu.expired", locale), show_alert=True)
        return
    await query.answer()
    await state.update_data(todo=[names[index]], collected=[], counter=None, editing=True)
    await ask(query.message, entry, names[index], i18n, locale, edit=True)


async def on_cancel(query: CallbackQuery, state: FSMContext, i18n: I18n, locale: Locale) -> None:
    data = await state.get_data()
    if data.get("editing") and data.get("todo") and isinstance(query.message, Message):
        # Cancel while changing one field gives up that change, not the whole order.
        await query.answer()
        await state.update_data(todo=[], collected=[], counter=None, editing=False)
        await advance(query.message, state, i18n, locale, edit=True)
        return
    await state.clear()
    from shared.bot.routers.menu import main_menu

    text, markup = main_menu(i18n, locale)
    await show(query, text, markup)


async def on_run(
    query: CallbackQuery, state: FSMContext, db: Database, i18n: I18n, locale: Locale
) -> None:
    data = await state.get_data()
    if (
        data.get("todo")
        or "model" not in data
        or not isinstance(query.message, Message)
        or data.get("screen", query.message.message_id) != query.message.message_id
    ):
        await query.answer(i18n.get("menu.expired", locale), show_alert=True)
        return
    message = query.message
    # The confirm message names the job: pressing "run" twice makes one job and one hold.
    client_ref = f"tg:{message.chat.id}:{message.message_id}"
    from shared.bot.limits import jobs_in_flight
    from shared.config import get_settings

    limit = get_settings().user_jobs_in_flight_max
    running = await run_blocking(
        jobs_in_flight, db, query.from_user.id, except_client_ref=client_ref
    )
    if running >= limit:
        await query.answer(i18n.get("limits.in_flight", locale, limit=limit), show_alert=True)
        return
    await query.answer()

    def run() -> tuple[str, int, InsufficientFunds | None]:
        from shared.bootstrap import get_job_service

        account = open_account(db, query.from_user.id)
        service = get_job_service()
        job = service.create(
            account.user_id,
            data["model"],
            data["values"],
            client_ref=client_ref,
            media_seconds=data.get("media_seconds"),
        )
        try:
            service.confirm(job.id)
        except InsufficientFunds as short:  # the job stays quoted: nothing is held
            return job.id, job.price_kopecks or 0, short
        return job.id, job.price_kopecks or 0, None

    job_id, price, short = await run_blocking(run)
    if short is not None:
        # Topping up leaves the wizard (its screens clear the dialogue), so the way back to
        # this run is by the job: its confirm screen again, with the new balance.
        kb = Keyboard()
        kb.button(text=i18n.get("balance.topup", locale), callback_data=TopUpCb(action="below"))
        kb.button(
            text=i18n.get("wizard.run_again", locale),
            callback_data=HistoryCb(action="retry", job=job_id.replace("-", "")),
        )
        kb.adjust(1)
        await message.answer(
            i18n.get(
                "wizard.no_funds",
                locale,
                available=format_rubles(short.available_kopecks),
                price=format_rubles(short.requested_kopecks),
            ),
            reply_markup=kb.as_markup(),
        )
        return
    await state.clear()
    entry = get_model(data["model"])
    balance = await run_blocking(_available, db, query.from_user.id)
    await edit_screen(
        message,
        i18n.get(
            "wizard.started",
            locale,
            title=entry.title.ru if locale == "ru" else entry.title.en,
            price=format_rubles(price),
            eta=eta_text(entry.eta_s, locale),
            balance=format_rubles(balance),
        ),
        InlineKeyboardMarkup(inline_keyboard=[]),
    )


def _available(db: Database, telegram_id: int) -> int:
    account = open_account(db, telegram_id)
    return Ledger(db, default_hold_ttl_s=3600).balance(account.wallet_id).available_kopecks


async def on_model_unavailable(
    event: ErrorEvent, state: FSMContext | None = None, locale: Locale | None = None
) -> None:
    """A model disabled or removed (or its inputs changed) while a user was on it: a
    clear word and a fresh start, never a failing update Telegram would resend."""
    from shared.bot.i18n import get_i18n, locale_for

    log.warning("model unavailable mid-journey: %s", event.exception)
    if state is not None:
        await state.clear()
    update = event.update
    query, message = update.callback_query, update.message
    origin = query or message
    sender = origin.from_user if origin is not None else None
    locale = locale or locale_for(sender.language_code if sender else None)
    text = get_i18n().get("wizard.model_unavailable", locale)
    if query is not None:
        await query.answer(text, show_alert=True)
    elif message is not None:
        await message.answer(text)


def wizard_router() -> Router:
    router = Router(name="wizard")
    # Errors reach every router's error handlers (aiogram propagates them from the top).
    router.errors.register(on_model_unavailable, ExceptionTypeFilter(RegistryError))
    router.callback_query.register(on_start, WizardCb.filter(F.action == "start"))
    router.callback_query.register(on_cancel, WizardCb.filter(F.action == "cancel"))
    router.callback_query.register(on_run, WizardCb.filter(F.action == "run"))
    router.callback_query.register(on_edit, Wizard.filling, WizardCb.filter(F.action == "edit"))
    router.callback_query.register(on_pick, Wizard.filling, WizardCb.filter(F.action == "pick"))
    router.callback_query.register(on_skip, Wizard.filling, WizardCb.filter(F.action == "skip"))
    router.callback_query.register(
        on_files_done, Wizard.filling, WizardCb.filter(F.action == "done")
    )
    router.message.register(on_text, Wizard.filling, F.text)
    router.message.register(
        on_file, Wizard.filling, F.photo | F.document | F.video | F.audio | F.voice
    )
    router.message.register(on_other, Wizard.filling)
    return router
