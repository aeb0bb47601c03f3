"""History: the user's jobs page by page, each job's card, and what a finished job offers —
"send again" (the result once more, no new generation and no charge), "repeat" (a new job
with the same inputs, through the confirm screen) and "change and repeat" (the summary,
prefilled, where any field can be changed). The same actions sit under every delivered
result (`ResultCb`); those answer with new messages and leave the result as it is.

Also the fallback router: any press no other router took, and any private message no screen
waits for, gets an answer, never silence.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from shared.adapters.db import Database
from shared.bot.callbacks import HistoryCb, MenuCb, ResultCb
from shared.bot.i18n import I18n, Locale
from shared.bot.keyboard import Keyboard
from shared.bot.routers.menu import main_menu, show
from shared.bot.thread_loop import run_blocking
from shared.domain.money import format_rubles
from shared.registry import RegistryError, get_model

PAGE_SIZE = 5
MOSCOW = timezone(timedelta(hours=3))
# A second press of "send again" on the same message within this window is the same press.
AGAIN_WINDOW_S = 20
# Jobs that never held money (drafts, unconfirmed quotes) are not history.
_SHOWN_STATES = "('held','queued','submitted','running','succeeded','delivered','failed','expired')"
_ICONS = {
    "succeeded": "✅",
    "delivered": "✅",
    "failed": "✖",
    "expired": "✖",
}

_PAGE_SQL = f"""
SELECT j.id::text, j.model_id, j.state, j.price_kopecks, j.created_at,
       (SELECT l.amount FROM ledger l WHERE l.ref = 'job:' || j.id::text || ':capture'),
       count(*) OVER ()
  FROM jobs j JOIN users u ON u.id = j.user_id
 WHERE u.telegram_id = :telegram_id AND j.state IN {_SHOWN_STATES}
 ORDER BY j.created_at DESC, j.id
 LIMIT :limit OFFSET :offset
"""

_JOB_SQL = """
SELECT j.id::text, j.model_id, j.state, j.price_kopecks, j.created_at,
       (SELECT l.amount FROM ledger l WHERE l.ref = 'job:' || j.id::text || ':capture'),
       j.inputs, j.error_code, j.media_seconds
  FROM jobs j JOIN users u ON u.id = j.user_id
 WHERE j.id = CAST(:job_id AS uuid) AND u.telegram_id = :telegram_id
   AND j.state IN {states}
"""
# A job refused for want of funds stays quoted: it is not history, but it can be run again
# once the balance is topped up (the refusal's button opens its confirm screen).
_SHOWN_JOB_SQL = _JOB_SQL.format(states=_SHOWN_STATES)
_REPEATABLE_JOB_SQL = _JOB_SQL.format(states=_SHOWN_STATES[:-1] + ",'quoted')")


@dataclass(frozen=True)
class JobRow:
    id: str
    model_id: str
    state: str
    price_kopecks: int
    created_at: datetime
    charged_kopecks: int | None
    inputs: dict[str, Any]
    error_code: str | None
    media_seconds: dict[str, float] | None = None  # what the upload's length was quoted on

    @property
    def hex(self) -> str:
        return uuid.UUID(self.id).hex

    @property
    def has_result(self) -> bool:
        return self.state in ("succeeded", "delivered")


def _row(row: list[Any], inputs: dict[str, Any] | None = None, error: str | None = None) -> JobRow:
    return JobRow(row[0], row[1], row[2], int(row[3] or 0), row[4], row[5], inputs or {}, error)


def read_page(db: Database, telegram_id: int, page: int) -> tuple[list[JobRow], int]:
    """The jobs on `page` (newest first) and the total number of jobs."""
    rows = db.run(
        _PAGE_SQL,
        telegram_id=telegram_id,
        limit=PAGE_SIZE,
        offset=max(page, 0) * PAGE_SIZE,
    )
    return [_row(r) for r in rows], int(rows[0][6]) if rows else 0


def read_job(
    db: Database, telegram_id: int, job_hex: str, *, to_repeat: bool = False
) -> JobRow | None:
    """The user's own job (a forged callback cannot open another user's job); `to_repeat`
    also finds one that was never run (quoted: refused for want of funds)."""
    try:
        job_id = str(uuid.UUID(hex=job_hex))
    except ValueError:
        return None
    sql = _REPEATABLE_JOB_SQL if to_repeat else _SHOWN_JOB_SQL
    rows = db.run(sql, job_id=job_id, telegram_id=telegram_id)
    if not rows:
        return None
    job = _row(rows[0], rows[0][6], rows[0][7])
    return replace(job, media_seconds=rows[0][8] or None)


def _title(model_id: str, locale: Locale) -> str:
    try:
        entry = get_model(model_id)
    except RegistryError:
        return model_id
    return entry.title.ru if locale == "ru" else entry.title.en


def _date(moment: datetime) -> str:
    return moment.astimezone(MOSCOW).strftime("%d.%m %H:%M")


def _price(job: JobRow) -> str:
    return format_rubles(job.charged_kopecks or job.price_kopecks)


def _state(job: JobRow, i18n: I18n, locale: Locale) -> str:
    return i18n.get(f"history.state.{job.state}", locale)


async def history_screen(
    db: Database, telegram_id: int, page: int, i18n: I18n, locale: Locale
) -> tuple[str, InlineKeyboardMarkup]:
    jobs, total = await run_blocking(read_page, db, telegram_id, page)
    pages = max(1, -(-total // PAGE_SIZE))
    kb = Keyboard()
    if not jobs:
        kb.button(text=i18n.get("menu.create", locale), callback_data=MenuCb(screen="create"))
        kb.button(text=i18n.get("menu.back_to_menu", locale), callback_data=MenuCb(screen="main"))
        kb.adjust(1)
        return i18n.get("history.empty", locale), kb.as_markup()
    for job in jobs:
        label = i18n.get(
            "history.row",
            locale,
            icon=_ICONS.get(job.state, "⏳"),
            title=_title(job.model_id, locale),
            price=_price(job),
            date=_date(job.created_at),
        )
        kb.button(text=label, callback_data=HistoryCb(action="job", page=page, job=job.hex))
    nav = []
    if page > 0:
        nav.append(("‹", HistoryCb(action="list", page=page - 1)))
    if page + 1 < pages:
        nav.append(("›", HistoryCb(action="list", page=page + 1)))
    for text, data in nav:
        kb.button(text=text, callback_data=data)
    kb.button(text=i18n.get("menu.back_to_menu", locale), callback_data=MenuCb(screen="main"))
    kb.adjust(*([1] * len(jobs)), *([len(nav)] if nav else []), 1)
    return i18n.get(
        "history.title", locale, page=page + 1, pages=pages, total=total
    ), kb.as_markup()


def job_card(
    job: JobRow, page: int, i18n: I18n, locale: Locale
) -> tuple[str, InlineKeyboardMarkup]:
    prompt = job.inputs.get("prompt") or job.inputs.get("text")
    if isinstance(prompt, str) and prompt:
        shown = prompt if len(prompt) <= 300 else prompt[:299] + "…"
        inputs = i18n.get("history.prompt", locale, prompt=shown)
    else:
        inputs = ""
    text = i18n.get(
        "history.card",
        locale,
        title=_title(job.model_id, locale),
        state=_state(job, i18n, locale),
        price=_price(job),
        date=_date(job.created_at),
        inputs=inputs,
    ).strip()
    kb = Keyboard()
    if job.has_result:
        kb.button(
            text=i18n.get("result.again", locale),
            callback_data=HistoryCb(action="again", page=page, job=job.hex),
        )
    kb.button(
        text=i18n.get("result.repeat", locale),
        callback_data=HistoryCb(action="repeat", page=page, job=job.hex),
    )
    kb.button(
        text=i18n.get("result.edit", locale),
        callback_data=HistoryCb(action="edit", page=page, job=job.hex),
    )
    kb.button(text=i18n.get("menu.back", locale), callback_data=HistoryCb(action="list", page=page))
    kb.button(text=i18n.get("menu.back_to_menu", locale), callback_data=MenuCb(screen="main"))
    kb.adjust(1, 2, 2) if job.has_result else kb.adjust(2, 2)
    return text, kb.as_markup()


# --- the actions, shared by the card and the buttons under a result ----------------------
async def send_again(
    query: CallbackQuery, db: Database, job: JobRow, i18n: I18n, locale: Locale
) -> None:
    """Re-delivery without re-generation: deliver_result once more, from the archive when
    there is one. Two presses on one message within AGAIN_WINDOW_S are one delivery."""
    if not job.has_result:
        await query.answer(i18n.get("history.no_result", locale), show_alert=True)
        return
    message_id = query.message.message_id if query.message is not None else 0
    name = f"deliver-again-{job.hex}-{message_id}-{int(time.time() // AGAIN_WINDOW_S)}"

    def enqueue() -> None:
        from shared.bootstrap import get_task_queue
        from shared.jobs.service import DELIVER_TARGET
        from shared.queue.port import JsonValue

        payload: dict[str, JsonValue] = {"job_id": job.id, "again": True, "request": name}
        get_task_queue().enqueue(DELIVER_TARGET, payload, name=name)

    await run_blocking(enqueue)
    await query.answer(i18n.get("history.again_queued", locale))


async def repeat(
    query: CallbackQuery,
    state: FSMContext,
    job: JobRow,
    i18n: I18n,
    locale: Locale,
    *,
    edit: bool,
) -> None:
    """The wizard's summary (the confirm screen) for the job's inputs: "run" there makes the
    new job, once per press (the screen's message names it), and the fields can be changed."""
    from shared.bot.routers.wizard import Wizard, summary

    try:
        entry = get_model(job.model_id)
        usable = entry.enabled
    except RegistryError:
        usable = False
    if not usable or not isinstance(query.message, Message):
        await query.answer(i18n.get("history.model_gone", locale), show_alert=True)
        return
    await query.answer()
    await state.set_state(Wizard.filling)
    data: dict[str, Any] = {"model": entry.id, "values": dict(job.inputs), "todo": []}
    if job.media_seconds:
        data["media_seconds"] = dict(job.media_seconds)
    await state.set_data(data)
    await summary(
        query.message,
        state,
        entry,
        dict(job.inputs),
        i18n,
        locale,
        edit=edit,
        media_seconds=job.media_seconds,
    )


# --- handlers -------------------------------------------------------------------------------
async def on_history_command(message: Message, db: Database, i18n: I18n, locale: Locale) -> None:
    if message.from_user is None:
        return
    text, markup = await history_screen(db, message.from_user.id, 0, i18n, locale)
    await message.answer(text, reply_markup=markup)


async def on_history(
    query: CallbackQuery,
    callback_data: HistoryCb,
    state: FSMContext,
    db: Database,
    i18n: I18n,
    locale: Locale,
) -> None:
    telegram_id = query.from_user.id
    if callback_data.action == "list":
        text, markup = await history_screen(db, telegram_id, callback_data.page, i18n, locale)
        await show(query, text, markup)
        return
    to_repeat = callback_data.action in ("repeat", "edit", "retry")
    job = await run_blocking(read_job, db, telegram_id, callback_data.job, to_repeat=to_repeat)
    if job is None:
        await query.answer(i18n.get("menu.expired", locale), show_alert=True)
        return
    if callback_data.action == "job":
        text, markup = job_card(job, callback_data.page, i18n, locale)
        await show(query, text, markup)
    elif callback_data.action == "again":
        await send_again(query, db, job, i18n, locale)
    elif callback_data.action in ("repeat", "edit"):
        # A new confirm screen below the card: the card stays, so "back" still works.
        await repeat(query, state, job, i18n, locale, edit=False)
    elif callback_data.action == "retry":
        # "Run again" under a refusal for want of funds: that run, unless its own confirm
        # screen has started it since (a top-up that kept the dialogue, then "Run").
        if job.state != "quoted":
            await query.answer(i18n.get("history.already_started", locale), show_alert=True)
        else:
            await repeat(query, state, job, i18n, locale, edit=False)
    else:
        await query.answer(i18n.get("menu.expired", locale), show_alert=True)


async def on_result(
    query: CallbackQuery,
    callback_data: ResultCb,
    state: FSMContext,
    db: Database,
    i18n: I18n,
    locale: Locale,
) -> None:
    """Buttons under a result: every answer is a new message; the result is never edited."""
    if callback_data.action == "menu":
        await query.answer()
        text, markup = main_menu(i18n, locale)
        if query.message is not None:
            await query.bot.send_message(query.message.chat.id, text, reply_markup=markup)  # type: ignore[union-attr]
        return
    job = await run_blocking(read_job, db, query.from_user.id, callback_data.job)
    if job is None:
        await query.answer(i18n.get("menu.expired", locale), show_alert=True)
    elif callback_data.action == "again":
        await send_again(query, db, job, i18n, locale)
    elif callback_data.action in ("repeat", "edit"):
        await repeat(query, state, job, i18n, locale, edit=False)
    else:
        await query.answer(i18n.get("menu.expired", locale), show_alert=True)


def history_router() -> Router:
    router = Router(name="history")
    router.message.register(on_history_command, Command("history"))
    router.callback_query.register(on_history, HistoryCb.filter())
    router.callback_query.register(on_result, ResultCb.filter())
    return router


async def on_stale_press(query: CallbackQuery, i18n: I18n, locale: Locale) -> None:
    await query.answer(i18n.get("menu.expired", locale), show_alert=True)


async def on_unknown_message(message: Message, i18n: I18n, locale: Locale) -> None:
    await message.answer(i18n.get("menu.unknown_message", locale))


def fallback_router() -> Router:
    router = Router(name="fallback")
    router.callback_query.register(on_stale_press)
    # A private message no screen waits for ("привет", a photo, an unknown command) gets a
    # pointer to the menu, never silence; groups are not answered message by message.
    router.message.register(
        on_unknown_message,
        StateFilter(None),
        F.chat.type == "private",
        F.media_group_id.is_(None),  # an album would get one answer per photo
        F.text | F.photo | F.document | F.video | F.audio | F.voice | F.sticker,
    )
    return router
