"""A local Telegram Bot API that also plays the users: `python -m scripts.telegram_emulator`.

Public API: TelegramEmulator (start/stop, knobs as attributes, user actions), BotApiError,
UserActionError. Importing this package starts nothing and does not import aiogram.
See docs/TELEGRAM_EMULATOR.md.
"""

from scripts.telegram_emulator.actions import UserActionError
from scripts.telegram_emulator.errors import BotApiError
from scripts.telegram_emulator.server import TelegramEmulator

__all__ = ["BotApiError", "TelegramEmulator", "UserActionError"]
