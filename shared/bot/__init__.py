"""The Telegram bot: webhook handling, FSM storage, update dedupe, routers and texts.

Only this package (and functions/telegram_webhook.py) imports aiogram: importing
it costs seconds, which the job functions must not pay.
"""
