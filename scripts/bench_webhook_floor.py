"""The floor under telegram_webhook in bench_webhook: aiogram and nothing of ours.

Served by functions-framework's CLI like the real function, on the same per-thread loop
and Bot API session (shared/bot/thread_loop.py): parse the Update, feed a Dispatcher with
one catch-all message handler. With FLOOR_REPLY=1 the handler answers each message with one
sendMessage, the least any of the mix's commands does; without it, it answers nothing. No
Postgres, no dedupe, no state, no texts: what is left of the webhook's cost is aiogram's.
"""

from __future__ import annotations

import json
import os
import threading

import functions_framework
from aiogram import Bot, Dispatcher, Router
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message, Update
from flask import Request

from shared.bot.thread_loop import run_on_thread_loop, thread_session

TOKEN = os.environ["TELEGRAM_BOT_TOKEN"]
API = TelegramAPIServer.from_base(os.environ["TELEGRAM_API_BASE"])
REPLY = os.environ.get("FLOOR_REPLY") == "1"

router = Router()


@router.message()
async def any_message(message: Message) -> None:
    if REPLY:
        await message.answer("Главное меню")


dispatcher = Dispatcher()
dispatcher.include_router(router)
seen: set[int] = set()
seen_lock = threading.Lock()


@functions_framework.http
def aiogram_floor(request: Request) -> tuple[dict[str, bool], int]:
    bot = Bot(TOKEN, session=thread_session(API))
    update = Update.model_validate(json.loads(request.get_data()), context={"bot": bot})
    with seen_lock:
        duplicate = update.update_id in seen
        seen.add(update.update_id)
    if not duplicate:
        run_on_thread_loop(dispatcher.feed_update(bot, update))
    return {"ok": True}, 200
