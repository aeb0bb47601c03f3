"""Register the bot's webhook with Telegram, show it, or remove it.

    python -m scripts.set_webhook            # set TELEGRAM_WEBHOOK_URL with the secret
    python -m scripts.set_webhook --drop     # … and drop the updates Telegram still holds
    python -m scripts.set_webhook --info     # what Telegram has now (pending count, last error)
    python -m scripts.set_webhook --delete   # back to no webhook

Setting the webhook also sets the bot's command menu, in Russian (the default) and in
English (shared/bot/commands.py). Reads TELEGRAM_BOT_TOKEN, TELEGRAM_WEBHOOK_URL,
TELEGRAM_WEBHOOK_SECRET and TELEGRAM_API_BASE (the local emulator in the sandbox).
Never prints the token.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from shared.config import ConfigError, Settings, load_settings

# The updates the bot handles; Telegram sends nothing else (less traffic, fewer wake-ups).
ALLOWED_UPDATES = ["message", "callback_query", "pre_checkout_query", "my_chat_member"]


async def run(settings: Settings, *, info: bool, delete: bool, drop: bool) -> int:
    # aiogram is imported here: it costs seconds, and only this command needs it.
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer

    if settings.telegram_bot_token is None:
        print("TELEGRAM_BOT_TOKEN is not set", file=sys.stderr)
        return 2
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_base))
    async with Bot(settings.telegram_bot_token.get_secret_value(), session=session) as bot:
        if delete:
            await bot.delete_webhook(drop_pending_updates=drop)
            print("webhook deleted" + (", pending updates dropped" if drop else ""))
        elif not info:
            if not settings.telegram_webhook_url or not settings.telegram_webhook_secret:
                print("set TELEGRAM_WEBHOOK_URL and TELEGRAM_WEBHOOK_SECRET", file=sys.stderr)
                return 2
            await bot.set_webhook(
                settings.telegram_webhook_url,
                secret_token=settings.telegram_webhook_secret.get_secret_value(),
                allowed_updates=ALLOWED_UPDATES,
                drop_pending_updates=drop,
                max_connections=40,
            )
            print(f"webhook set to {settings.telegram_webhook_url}")
            from shared.bot.commands import TARGETS, set_bot_commands
            from shared.bot.i18n import get_i18n

            await set_bot_commands(bot, get_i18n())
            print(f"commands set for {', '.join(code or 'default' for _, code in TARGETS)}")
        webhook = await bot.get_webhook_info()
        print(f"url: {webhook.url or '(none)'}")
        print(f"pending updates: {webhook.pending_update_count}")
        print(f"allowed updates: {', '.join(webhook.allowed_updates or []) or '(all)'}")
        if webhook.last_error_message:
            print(f"last error: {webhook.last_error_message} at {webhook.last_error_date}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--info", action="store_true", help="only show the webhook")
    action.add_argument("--delete", action="store_true", help="remove the webhook")
    parser.add_argument("--drop", action="store_true", help="drop pending updates")
    options = parser.parse_args()
    try:
        settings = load_settings()
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    return asyncio.run(run(settings, info=options.info, delete=options.delete, drop=options.drop))


if __name__ == "__main__":
    sys.exit(main())
