"""deliver_result's work: a finished job's files or text into the user's chat, once.

A succeeded job is archived (when object storage is configured), sent by the
cheapest route Telegram allows for each file, then marked delivered. A failed
or expired job gets one notice with the reason and the refund. Telegram's 429
becomes RetryLater with its retry_after; a user who blocked the bot is marked
and left alone.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import httpx

from shared.adapters.db import Database
from shared.bot.i18n import I18n, Locale, locale_for
from shared.delivery.plan import (
    ALBUM_MAX,
    OTHER_UPLOAD_MAX,
    TEXT_MESSAGES_MAX,
    FilePlan,
    Media,
    Route,
    media_for,
    route_for,
    split_text,
)
from shared.domain.money import format_rubles
from shared.jobs.repository import Job, JobRepository
from shared.jobs.service import InProgress, JobNotFound, JobPolicy, RetryLater
from shared.jobs.states import JobState
from shared.registry import get_model
from shared.storage.archive import archive_results
from shared.storage.port import ObjectStore, ObjectStoreError

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.types import InlineKeyboardMarkup

log = logging.getLogger("kie_studio.delivery")
# One send of a result (a message, a file, an album); what it returns is not used.
Step = Callable[[], Awaitable[object]]


def _now(db: Database) -> datetime:
    """The database's clock, the one job times are written with."""
    value: datetime = db.run("SELECT now()")[0][0]
    return value


@dataclass(frozen=True)
class Recipient:
    chat_id: int
    locale: Locale
    blocked: bool


class DeliveryService:
    def __init__(
        self,
        db: Database,
        i18n: I18n,
        http: httpx.Client,
        store: Callable[[], ObjectStore | None],
        *,
        result_max_bytes: int,
        lease_s: float = JobPolicy.deliver_lease_s,
    ) -> None:
        self._db = db
        self._lease_s = lease_s
        self._jobs = JobRepository(db)
        self._i18n = i18n
        self._http = http
        self._store = store
        self._result_max_bytes = result_max_bytes

    async def deliver(
        self, bot: Bot, job_id: str, *, again: bool = False, request: str | None = None
    ) -> str:
        """What happened: delivered, notified, blocked, undeliverable, skipped. One
        delivery of a job at a time (a lease): a second gets InProgress. `request` names
        a "send again" press: its results are sent once, however often the task comes."""
        job = self._jobs.claim_for_delivery(job_id, self._lease_s)
        if job is None:
            if self._jobs.get(job_id) is None:
                raise JobNotFound(job_id)
            raise InProgress("another delivery is sending this job", 30.0)
        try:
            if again and request is not None and self._jobs.redelivered(request):
                return "skipped"  # this press's results already reached the chat
            outcome = await self._deliver_leased(bot, job, again=again)
            if again and request is not None and outcome == "delivered":
                self._jobs.record_redelivery(request, job.id)
            return outcome
        finally:
            self._jobs.release_delivery_lease(job.id)

    async def _deliver_leased(self, bot: Bot, job: Job, *, again: bool) -> str:
        from aiogram.exceptions import (
            TelegramBadRequest,
            TelegramForbiddenError,
            TelegramNetworkError,
            TelegramRetryAfter,
            TelegramServerError,
        )

        recipient = self._recipient(job.user_id)
        if recipient.blocked:
            return "blocked"
        try:
            if job.state is JobState.SUCCEEDED or (again and job.state is JobState.DELIVERED):
                await self._send_result(bot, job, recipient, again=again)
                if self._jobs.transition(job.id, "deliver", JobState.DELIVERED) is not None:
                    await self._update_progress(bot, job, recipient, "delivery.progress_done")
                return "delivered"
            if job.state in (JobState.FAILED, JobState.EXPIRED) and self._needs_notice(job.id):
                await self._send_failure(bot, job, recipient)
                await self._update_progress(bot, job, recipient, "delivery.progress_failed")
                self._db.run(
                    "UPDATE jobs SET notified_at = now() WHERE id = CAST(:id AS uuid)", id=job.id
                )
                return "notified"
        except TelegramRetryAfter as flood:
            raise RetryLater("Telegram flood control", float(flood.retry_after)) from None
        except TelegramForbiddenError:
            self._mark_blocked(job.user_id)
            return "blocked"
        except (TelegramNetworkError, TelegramServerError) as error:
            raise RetryLater(f"Telegram unavailable: {error}") from None
        except TelegramBadRequest as refused:
            # "chat not found" and the like: no retry will change Telegram's answer.
            log.error("undeliverable: %s", refused.message, extra={"job_id": job.id})
            return "undeliverable"
        return "skipped"  # not finished yet, already delivered, or already notified

    async def progress(self, bot: Bot, job_id: str) -> str:
        """The progress line while KIE works: "generating, about N s left". The final word
        always wins: if the job finished while this was being sent, it is put back."""
        from aiogram.exceptions import (
            TelegramForbiddenError,
            TelegramNetworkError,
            TelegramRetryAfter,
            TelegramServerError,
        )

        from shared.bot.catalog_view import eta_text

        job = self._jobs.get(job_id)
        if job is None:
            raise JobNotFound(job_id)
        if job.state not in (JobState.SUBMITTED, JobState.RUNNING):
            return "skipped"
        recipient = self._recipient(job.user_id)
        if recipient.blocked:
            return "blocked"
        entry = get_model(job.model_id)
        elapsed = max(0.0, (_now(self._db) - job.created_at).total_seconds())
        text = self._i18n.get(
            "delivery.progress_running",
            recipient.locale,
            title=entry.title.ru if recipient.locale == "ru" else entry.title.en,
            eta=eta_text(int(max(entry.eta_s - elapsed, 5.0)), recipient.locale),
        )
        try:
            await self._edit_line(bot, job, recipient, text)
            now = self._jobs.get(job_id)
            if now is not None and now.state is JobState.DELIVERED:
                await self._update_progress(bot, now, recipient, "delivery.progress_done")
            elif now is not None and now.state in (JobState.FAILED, JobState.EXPIRED):
                await self._update_progress(bot, now, recipient, "delivery.progress_failed")
        except TelegramRetryAfter as flood:
            raise RetryLater("Telegram flood control", float(flood.retry_after)) from None
        except TelegramForbiddenError:
            self._mark_blocked(job.user_id)
            return "blocked"
        except (TelegramNetworkError, TelegramServerError) as error:
            raise RetryLater(f"Telegram unavailable: {error}") from None
        return "progress"

    def _mark_blocked(self, user_id: int) -> None:
        self._db.run(
            "UPDATE users SET blocked_bot_at = coalesce(blocked_bot_at, now()) WHERE id = :u",
            u=user_id,
        )

    async def _update_progress(self, bot: Bot, job: Job, to: Recipient, key: str) -> None:
        """Turn the job's progress line into its final word."""
        await self._edit_line(bot, job, to, self._i18n.get(key, to.locale))

    async def _edit_line(self, bot: Bot, job: Job, to: Recipient, text: str) -> None:
        """Edit the job's progress line (the confirm screen, named by the job's client ref
        `tg:<chat>:<message>`); a line that is gone is no reason to fail."""
        from aiogram.exceptions import TelegramBadRequest

        parts = (job.client_ref or "").split(":")
        if len(parts) != 3 or parts[0] != "tg" or not parts[2].isdigit():
            return
        # Deleted, too old, or already saying so: none of these is a reason to fail delivery.
        with contextlib.suppress(TelegramBadRequest):
            await bot.edit_message_text(text, chat_id=to.chat_id, message_id=int(parts[2]))

    # --- reads ---------------------------------------------------------------------------
    def _recipient(self, user_id: int) -> Recipient:
        row = self._db.run(
            "SELECT telegram_id, language, blocked_bot_at IS NOT NULL FROM users WHERE id = :u",
            u=user_id,
        )[0]
        return Recipient(chat_id=row[0], locale=locale_for(row[1]), blocked=row[2])

    def _needs_notice(self, job_id: str) -> bool:
        rows = self._db.run(
            "SELECT notified_at IS NULL FROM jobs WHERE id = CAST(:id AS uuid)", id=job_id
        )
        return bool(rows and rows[0][0])

    def _charged(self, job_id: str) -> int:
        rows = self._db.run(
            "SELECT amount FROM ledger WHERE ref = :ref", ref=f"job:{job_id}:capture"
        )
        return int(rows[0][0]) if rows else 0

    # --- a result ------------------------------------------------------------------------
    def _result_buttons(self, job: Job, locale: Locale) -> InlineKeyboardMarkup:
        """Under every result: repeat, change and repeat, send again, menu (the history
        router answers them). Imported here: aiogram is for the functions that talk to
        Telegram, and this one does only when it sends."""
        from shared.bot.callbacks import ResultCb
        from shared.bot.keyboard import Keyboard

        job_hex = job.id.replace("-", "")
        kb = Keyboard()
        for action, key in (
            ("repeat", "result.repeat"),
            ("edit", "result.edit"),
            ("again", "result.again"),
            ("menu", "menu.back_to_menu"),
        ):
            job_field = "" if action == "menu" else job_hex
            kb.button(
                text=self._i18n.get(key, locale),
                callback_data=ResultCb(action=action, job=job_field),
            )
        kb.adjust(2, 2)
        return kb.as_markup()

    async def _send_result(self, bot: Bot, job: Job, to: Recipient, *, again: bool) -> None:
        """Each send (a message, a file, an album) is one step; a first delivery records the
        steps done, so a retry after Telegram's flood control resumes instead of repeating
        what the chat already has. "Send again" sends everything."""
        entry = get_model(job.model_id)
        title = entry.title.ru if to.locale == "ru" else entry.title.en
        caption = self._i18n.get(
            "delivery.done", to.locale, title=title, charged=format_rubles(self._charged(job.id))
        )
        result = job.result or {}
        text = result.get("text")
        urls = [u for u in result.get("urls") or [] if isinstance(u, str)]
        buttons = self._result_buttons(job, to.locale)
        steps: list[Step] = []
        if text:
            last_buttons = None if urls else buttons
            steps += self._text_steps(bot, to.chat_id, str(text), caption, last_buttons)
        if urls:
            sources = self._sources(job, urls, prefer_archive=again)
            plans = [self._plan(url, entry.kind, size, kind) for url, size, kind in sources]
            steps += self._file_steps(bot, to, plans, caption if not text else None, buttons)
        done = 0 if again else self._jobs.delivery_sent(job.id)
        for number, step in enumerate(steps, start=1):
            if number <= done:
                continue
            await step()
            if not again:
                self._jobs.count_sent(job.id, number)

    def _text_steps(
        self,
        bot: Bot,
        chat_id: int,
        text: str,
        caption: str,
        buttons: InlineKeyboardMarkup | None,
    ) -> list[Step]:
        from aiogram.types import BufferedInputFile

        parts = split_text(text)
        if len(parts) > TEXT_MESSAGES_MAX:
            document = BufferedInputFile(text.encode("utf-8"), filename="result.txt")
            return [
                partial(
                    bot.send_document,
                    chat_id,
                    document,
                    caption=caption[:1024],
                    reply_markup=buttons,
                )
            ]
        steps: list[Step] = [partial(bot.send_message, chat_id, part) for part in parts]
        return [*steps, partial(bot.send_message, chat_id, caption, reply_markup=buttons)]

    def _sources(
        self, job: Job, urls: list[str], *, prefer_archive: bool
    ) -> list[tuple[str, int | None, str]]:
        """(url, size, content type) per file: our archived copy where we have one."""
        store = self._store()
        archived: list[dict[str, Any]] = self._archived(job.id) if prefer_archive else []
        if store is not None and len(archived) != len(urls):
            try:
                archived = [
                    {"key": a.key, "size": a.size_bytes, "type": a.content_type}
                    for a in archive_results(
                        store, self._http, job.id, urls, max_bytes=self._result_max_bytes
                    )
                ]
                self._db.run(
                    "UPDATE jobs SET archived = CAST(:a AS jsonb) WHERE id = CAST(:id AS uuid)",
                    a=json.dumps(archived),
                    id=job.id,
                )
            except ObjectStoreError as error:
                log.warning("archive failed: %s", error, extra={"job_id": job.id})
        sources: list[tuple[str, int | None, str]] = []
        for index, url in enumerate(urls):
            copy = archived[index] if index < len(archived) else None
            if copy is not None and store is not None and prefer_archive:
                sources.append((store.presigned_get(copy["key"]), copy["size"], copy["type"]))
            elif copy is not None:
                sources.append((url, copy["size"], copy["type"]))
            else:
                sources.append((url, *self._probe(url)))
        return sources

    def _archived(self, job_id: str) -> list[dict[str, Any]]:
        """The copies a first delivery archived (for "send again" after KIE's links expire)."""
        rows = self._db.run("SELECT archived FROM jobs WHERE id = CAST(:id AS uuid)", id=job_id)
        value = rows[0][0] if rows else None
        return [a for a in value if isinstance(a, dict)] if isinstance(value, list) else []

    def _probe(self, url: str) -> tuple[int | None, str]:
        try:
            head = self._http.head(url, follow_redirects=True, timeout=10)
        except httpx.HTTPError:
            return None, ""
        length = head.headers.get("Content-Length")
        return (int(length) if length and length.isdigit() else None), head.headers.get(
            "Content-Type", ""
        ).split(";")[0]

    @staticmethod
    def _plan(url: str, kind: str, size: int | None, content_type: str) -> FilePlan:
        media = media_for(kind, content_type)
        return FilePlan(url, media, route_for(media, size), size)

    def _file_steps(
        self,
        bot: Bot,
        to: Recipient,
        plans: list[FilePlan],
        caption: str | None,
        buttons: InlineKeyboardMarkup,
    ) -> list[Step]:
        photos = [p for p in plans if p.media is Media.PHOTO and p.route is Route.BY_URL]
        if len(photos) >= 2 and len(photos) == len(plans):
            steps: list[Step] = [
                partial(
                    self._send_album,
                    bot,
                    to,
                    photos[start : start + ALBUM_MAX],
                    caption if start == 0 else None,
                )
                for start in range(0, len(photos), ALBUM_MAX)
            ]
            # An album cannot carry buttons: they come in a line of their own.
            next_line = self._i18n.get("delivery.next", to.locale)
            return [*steps, partial(bot.send_message, to.chat_id, next_line, reply_markup=buttons)]
        return [
            partial(
                self._send_one,
                bot,
                to,
                plan,
                caption if index == 0 else None,
                buttons if index == len(plans) - 1 else None,
            )
            for index, plan in enumerate(plans)
        ]

    async def _send_album(
        self, bot: Bot, to: Recipient, group: list[FilePlan], caption: str | None
    ) -> None:
        from aiogram.exceptions import TelegramBadRequest
        from aiogram.types import InputMediaPhoto

        # Any: aiogram's parameter is a list of a union, and lists are invariant.
        media: list[Any] = [
            InputMediaPhoto(media=p.url, caption=caption if i == 0 else None)
            for i, p in enumerate(group)
        ]
        try:
            await bot.send_media_group(to.chat_id, media)
        except TelegramBadRequest as refused:
            # One file Telegram cannot fetch or take refuses the whole album: each goes on
            # its own then, with its own fallbacks.
            log.info("album refused (%s); sending its files one by one", refused.message)
            for i, plan in enumerate(group):
                await self._send_one(bot, to, plan, caption if i == 0 else None)

    async def _send_one(
        self,
        bot: Bot,
        to: Recipient,
        plan: FilePlan,
        caption: str | None,
        buttons: InlineKeyboardMarkup | None = None,
    ) -> None:
        from aiogram.exceptions import TelegramBadRequest
        from aiogram.types import BufferedInputFile

        if plan.route is Route.LINK:
            await self._send_link(bot, to, plan, caption, buttons)
            return
        if plan.route is Route.BY_URL:
            try:
                await _send_media(bot, to.chat_id, plan.media, plan.url, caption, buttons)
                return
            except TelegramBadRequest as refused:
                # Telegram could not fetch or accept the URL: upload it ourselves instead.
                log.info("send by URL refused (%s); uploading", refused.message)
        content = self._download(plan.url)
        if content is None:
            await self._send_link(bot, to, plan, caption, buttons)
            return
        name = plan.url.rsplit("/", 1)[-1].split("?", 1)[0] or "result"
        try:
            await _send_media(
                bot, to.chat_id, plan.media, BufferedInputFile(content, name), caption, buttons
            )
            return
        except TelegramBadRequest as refused:
            if plan.media is Media.DOCUMENT:
                log.warning("upload refused (%s); sending a link", refused.message)
                await self._send_link(bot, to, plan, caption, buttons)
                return
            # A photo Telegram will not take as a photo (width + height over 10 000 px after
            # a 4× upscale, say) or media it cannot process still goes, as a file.
            log.info("%s refused (%s); sending it as a file", plan.media.value, refused.message)
        try:
            await _send_media(
                bot, to.chat_id, Media.DOCUMENT, BufferedInputFile(content, name), caption, buttons
            )
        except TelegramBadRequest as refused:
            log.warning("file refused too (%s); sending a link", refused.message)
            await self._send_link(bot, to, plan, caption, buttons)

    def _download(self, url: str) -> bytes | None:
        """The file, when it fits an upload; None when only a link can carry it."""
        try:
            with self._http.stream("GET", url, follow_redirects=True, timeout=60) as response:
                if response.status_code != 200:
                    return None
                chunks, size = [], 0
                for chunk in response.iter_bytes(1024 * 1024):
                    size += len(chunk)
                    if size > OTHER_UPLOAD_MAX:
                        return None
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.HTTPError:
            return None

    async def _send_link(
        self,
        bot: Bot,
        to: Recipient,
        plan: FilePlan,
        caption: str | None,
        buttons: InlineKeyboardMarkup | None = None,
    ) -> None:
        text = self._i18n.get("delivery.too_large", to.locale, url=plan.url)
        body = f"{caption}\n\n{text}" if caption else text
        await bot.send_message(to.chat_id, body, reply_markup=buttons)

    # --- a failure -----------------------------------------------------------------------
    async def _send_failure(self, bot: Bot, job: Job, to: Recipient) -> None:
        reason_key = f"delivery.failed.{job.error_code or 'generation_failed'}"
        try:
            reason = self._i18n.get(reason_key, to.locale)
        except KeyError:
            reason = self._i18n.get("delivery.failed.generation_failed", to.locale)
        refund = self._i18n.get(
            "delivery.refund", to.locale, amount=format_rubles(job.price_kopecks or 0)
        )
        await bot.send_message(to.chat_id, f"{reason}\n{refund}")


async def _send_media(
    bot: Bot,
    chat_id: int,
    media: Media,
    source: Any,
    caption: str | None,
    buttons: InlineKeyboardMarkup | None = None,
) -> None:
    caption = caption[:1024] if caption else None
    if media is Media.PHOTO:
        await bot.send_photo(chat_id, source, caption=caption, reply_markup=buttons)
    elif media is Media.VIDEO:
        await bot.send_video(chat_id, source, caption=caption, reply_markup=buttons)
    elif media is Media.AUDIO:
        await bot.send_audio(chat_id, source, caption=caption, reply_markup=buttons)
    else:
        await bot.send_document(chat_id, source, caption=caption, reply_markup=buttons)
