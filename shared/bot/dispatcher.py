"""The Dispatcher: FSM storage, services for handlers, and the routers in order."""

from __future__ import annotations

from aiogram import Dispatcher
from aiogram.fsm.storage.base import BaseStorage

from shared.adapters.db import Database
from shared.bot.i18n import I18n
from shared.bot.limits import UserGateMiddleware
from shared.bot.middlewares import LocaleMiddleware
from shared.bot.routers.admin import admin_router
from shared.bot.routers.history import fallback_router, history_router
from shared.bot.routers.menu import menu_router
from shared.bot.routers.payments import payments_router
from shared.bot.routers.settings import settings_router
from shared.bot.routers.start import start_router
from shared.bot.routers.wizard import wizard_router
from shared.config import get_settings


def build_dispatcher(*, storage: BaseStorage, db: Database, i18n: I18n) -> Dispatcher:
    """Handlers receive `db`, `i18n` and `locale` by parameter name (aiogram's workflow data)."""
    dispatcher = Dispatcher(storage=storage, db=db, i18n=i18n)
    # Inner: runs after aiogram's outer middlewares (errors, user context, FSM).
    dispatcher.update.middleware(LocaleMiddleware())
    settings = get_settings()
    gate = UserGateMiddleware(
        db, i18n, rate_per_s=settings.user_rate_per_s, burst=settings.user_rate_burst
    )
    dispatcher.update.middleware(gate)  # after the locale: the user's own language wins
    dispatcher.include_router(start_router())
    dispatcher.include_router(menu_router())
    dispatcher.include_router(history_router())
    dispatcher.include_router(settings_router())
    dispatcher.include_router(payments_router())
    dispatcher.include_router(admin_router())
    # Last: its catch-all for wizard input must not shadow the commands above.
    dispatcher.include_router(wizard_router())
    # Keep last: answers any press no router above took (an old or foreign button).
    dispatcher.include_router(fallback_router())
    return dispatcher
