"""The Dispatcher: FSM storage, services for handlers, and the routers in order."""

from __future__ import annotations

from aiogram import Dispatcher
from aiogram.fsm.storage.base import BaseStorage

from shared.adapters.db import Database
from shared.bot.i18n import I18n
from shared.bot.routers.start import start_router


def build_dispatcher(*, storage: BaseStorage, db: Database, i18n: I18n) -> Dispatcher:
    """Handlers receive `db` and `i18n` by parameter name (aiogram's workflow data)."""
    dispatcher = Dispatcher(storage=storage, db=db, i18n=i18n)
    dispatcher.include_router(start_router())
    return dispatcher
