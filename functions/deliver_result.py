"""deliver_result (queue target): a finished job's result, or its failure notice, into the chat.

2xx when delivered, notified, skipped (already done) or never deliverable (blocked
user, unknown job); 503 with Retry-After when Telegram asks to slow down or is
unreachable, so the queue comes back; 409 while another delivery of the same job
is sending (its lease), so the two never both send.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

import functions_framework
import httpx
from flask import Request

from shared.bootstrap import get_database, observe
from shared.bot.i18n import I18n
from shared.bot.thread_loop import run_on_thread_loop
from shared.config import ConfigError, get_settings
from shared.delivery.service import DeliveryService
from shared.jobs.service import JobNotFound, RetryLater
from shared.once import once
from shared.storage.port import ObjectStore
from shared.tls import verifying_context

Response = tuple[Mapping[str, object], int] | tuple[Mapping[str, object], int, Mapping[str, str]]


@once
def object_store() -> ObjectStore | None:
    settings = get_settings()
    if not settings.object_store_bucket:
        return None  # archiving is off: results are sent from KIE's links only
    from shared.storage.s3 import S3ObjectStore

    return S3ObjectStore.from_settings(settings)


@once
def delivery() -> DeliveryService:
    settings = get_settings()
    return DeliveryService(
        get_database(),
        I18n.load(),
        httpx.Client(timeout=30, verify=verifying_context()),
        object_store,
        result_max_bytes=settings.result_max_bytes,
    )


async def deliver(
    job_id: str, again: bool, progress: bool = False, request: str | None = None
) -> str:
    from aiogram import Bot
    from aiogram.client.telegram import TelegramAPIServer

    from shared.bot.thread_loop import thread_session

    settings = get_settings()
    if settings.telegram_bot_token is None:
        raise ConfigError("TELEGRAM_BOT_TOKEN is not set")
    # This thread's session: its connections to the Bot API outlive one delivery.
    session = thread_session(TelegramAPIServer.from_base(settings.telegram_api_base))
    bot = Bot(settings.telegram_bot_token.get_secret_value(), session=session)
    if progress:
        return await delivery().progress(bot, job_id)
    return await delivery().deliver(bot, job_id, again=again, request=request)


def again_request(payload: object) -> str | None:
    """The "send again" press a task carries (shared/bot/routers/history.py names it)."""
    request = payload.get("request") if isinstance(payload, dict) else None
    return request if isinstance(request, str) and 0 < len(request) <= 200 else None


@functions_framework.http
def deliver_result(request: Request) -> Response:
    observe(request.headers.get("X-Cloud-Trace-Context"))
    payload = request.get_json(silent=True)
    try:
        job_id = str(uuid.UUID(str(payload.get("job_id")))) if isinstance(payload, dict) else ""
    except ValueError:
        job_id = ""
    if not job_id:
        return {"status": "ignored", "reason": "no valid job_id"}, 200
    again = bool(isinstance(payload, dict) and payload.get("again"))
    progress = bool(isinstance(payload, dict) and payload.get("progress"))
    try:
        outcome = run_on_thread_loop(deliver(job_id, again, progress, again_request(payload)))
    except JobNotFound:
        return {"status": "ignored", "reason": "unknown job"}, 200
    except RetryLater as later:
        if later.retry_after_s is None:
            return {"status": "retry", "reason": str(later)}, later.http_status
        retry_after = str(max(1, round(later.retry_after_s)))
        body = {"status": "retry", "reason": str(later)}
        return body, later.http_status, {"Retry-After": retry_after}
    return {"status": outcome, "job_id": job_id}, 200
