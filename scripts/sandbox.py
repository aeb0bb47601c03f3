"""`make run`: the whole product on this machine, on 127.0.0.1, stopped by Ctrl-C.

Postgres (embedded under LOCAL_DIR unless DATABASE_URL is set) and its
migrations; every function (functions-framework, one process for all); the local task
queue with Cloud Tasks' semantics; a scheduler calling the sweeper every
minute; the KIE simulator (or real KIE with KIE_API_KEY); the Telegram Bot API
emulator, whose page at http://127.0.0.1:PORT/ is a chat with the bot.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from scripts.job_stack import serve_queue, serve_wsgi
from scripts.listening import wait_listening
from shared.adapters.db import Database, parse_database_url
from shared.adapters.embedded_pg import EmbeddedPostgres
from shared.adapters.migrate import migrate
from shared.bootstrap import local_postgres, make_database
from shared.config import ConfigError, Settings, load_settings
from shared.local_ports import bindable
from shared.queue.local import LocalTaskQueue

ROOT = Path(__file__).resolve().parents[1]
SANDBOX_BOT_TOKEN = "7903518264:SandboxBotTokenForTheLocalEmulator01"  # noqa: S105 - local only
SANDBOX_KIE_KEY = "sandbox-kie-key"
SWEEP_EVERY_S = 60.0
SANDBOX_SIGNUP_BONUS = 50_000  # 500 ₽
# The sandbox's admin: open the chat page with ?user=<this id> to approve transfers.
SANDBOX_ADMIN_ID = 100000001
SANDBOX_TRANSFER_DETAILS = "Получатель: ООО «Демо»\nСчёт 40702810000000000001, БИК 044525000"


def next_update_id(db: Database, token: str) -> int | None:
    """Telegram numbers a bot's updates on from the last one, across restarts: the emulator
    must too, or the webhook takes the new run's updates for ones it already handled."""
    bot_id = int(token.split(":", 1)[0])
    rows = db.run("SELECT max(update_id) FROM processed_updates WHERE bot_id = :b", b=bot_id)
    last = rows[0][0] if rows else None
    return None if last is None else int(last) + 1


def sweep_every(url: str, period_s: float, stop: threading.Event) -> None:
    """Cloud Scheduler's job, locally: call the sweeper on a fixed period until stopped."""
    while not stop.wait(period_s):
        try:
            httpx.post(url, timeout=60)
        except httpx.HTTPError as error:
            print(f"sweeper call failed: {error}", file=sys.stderr)


def set_commands(api_base: str, token: str) -> None:
    """The "/" menu per language, as scripts/set_webhook.py sets it in production."""
    from shared.bot.commands import TARGETS, command_list
    from shared.bot.i18n import get_i18n

    for locale, language_code in TARGETS:
        commands = [
            {"command": name, "description": text}
            for name, text in command_list(get_i18n(), locale)
        ]
        body: dict[str, object] = {"commands": commands}
        if language_code:
            body["language_code"] = language_code
        httpx.post(f"{api_base}/bot{token}/setMyCommands", json=body, timeout=10).raise_for_status()


def ports_taken(settings: Settings) -> list[int]:
    """The sandbox's own ports that something else holds, checked before anything starts:
    a clear message then, instead of a traceback from whichever server binds it later."""
    port = int(settings.port)
    ours = [port + 1, port + 3]  # the functions, the task queue
    if settings.telegram_bot_token is None:
        ours.append(port)  # the chat page and the Telegram emulator
    if settings.kie_api_key is None:
        ours.append(port + 2)  # the KIE simulator
    # The servers bind with SO_REUSEADDR, so a port with connections in TIME_WAIT from the
    # last run is free to them.
    return sorted(p for p in ours if not bindable(p, reuse_address=True))


def main() -> int:
    started_at = time.monotonic()
    # Settings come from the environment (README); the parser answers --help and refuses
    # anything else before a server starts.
    argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    ).parse_args()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        settings: Settings = load_settings()
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    port = int(settings.port)
    if taken := ports_taken(settings):
        print(
            f"127.0.0.1 port(s) {', '.join(map(str, taken))} in use (another `make run`?): "
            f"the sandbox listens on PORT to PORT+3; set PORT to another base port",
            file=sys.stderr,
        )
        return 2
    front = f"http://127.0.0.1:{port}"
    telegram_url = f"{front}/tg"
    functions_url = f"http://127.0.0.1:{port + 1}/fn"
    kie_url = f"http://127.0.0.1:{port + 2}"
    queue_url = f"http://127.0.0.1:{port + 3}"
    # Everything started is stopped in reverse order on the way out, whatever happens.
    with contextlib.ExitStack() as running:
        # Every peer's address is known up front, so the functions host, whose imports
        # (aiogram above all) are the slowest part of the start, starts first and loads while
        # Postgres, the simulator, the emulator and the queue come up. Its functions touch
        # none of them before their first request.
        server: EmbeddedPostgres | None = None
        if settings.database_url is None:
            server = local_postgres(settings)
            database_url = server.url
        else:
            database_url = settings.database_url.get_secret_value()
        kie_env: dict[str, str] = {}
        if settings.kie_api_key is None:
            kie_env = {
                "KIE_BASE_URL": kie_url,
                "KIE_UPLOAD_BASE_URL": kie_url,
                "KIE_API_KEY": SANDBOX_KIE_KEY,
            }
        else:
            # No public callback URL reaches this machine: the sweeper polls KIE instead.
            kie_env = {"JOB_FIRST_POLL_S": "15"}
        webhook_secret = secrets.token_urlsafe(24)
        # A real bot token: real Telegram (or whatever TELEGRAM_API_BASE names) by long
        # polling, with the same handlers; otherwise the emulator and its chat page.
        real_bot = settings.telegram_bot_token is not None
        if real_bot:
            assert settings.telegram_bot_token is not None
            bot_token = settings.telegram_bot_token.get_secret_value()
            api_base = settings.telegram_api_base
            telegram_env = {"TELEGRAM_BOT_TOKEN": bot_token, "TELEGRAM_API_BASE": api_base}
        else:
            bot_token, api_base = SANDBOX_BOT_TOKEN, telegram_url
            telegram_env = {
                "TELEGRAM_BOT_TOKEN": bot_token,
                "TELEGRAM_WEBHOOK_SECRET": webhook_secret,
                "TELEGRAM_API_BASE": api_base,
                # Every way to pay works against the emulator (its provider takes any token).
                "PAYMENTS_PROVIDER_TOKEN": os.environ.get("PAYMENTS_PROVIDER_TOKEN", "sandbox"),
                "ADMIN_TELEGRAM_IDS": os.environ.get("ADMIN_TELEGRAM_IDS", f"[{SANDBOX_ADMIN_ID}]"),
            }
        # The functions see what production would set, pointed at this machine's peers;
        # a real KIE_API_KEY in the environment passes through untouched.
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "TASK_QUEUE_BACKEND": "local",
            "LOCAL_QUEUE_URL": queue_url,
            "FUNCTIONS_BASE_URL": functions_url,
            "KIE_CALLBACK_URL": f"{functions_url}/kie_callback",
            # Demo users get enough for a first generation at once.
            "SIGNUP_BONUS_KOPECKS": str(settings.signup_bonus_kopecks or SANDBOX_SIGNUP_BONUS),
            "TRANSFER_DETAILS": settings.transfer_details or SANDBOX_TRANSFER_DETAILS,
            **telegram_env,
            **kie_env,
        }
        functions = subprocess.Popen(
            [sys.executable, "-m", "scripts.functions_host", "--port", str(port + 1)],
            cwd=ROOT,
            env=env,
        )
        running.callback(functions.wait, 10)
        running.callback(functions.terminate)

        # --- Postgres ---------------------------------------------------------------------
        if server is not None:
            if server.start():  # only a server we started is ours to stop
                running.callback(print, "Postgres stopped.")
                running.callback(server.stop)
            where = f"embedded, data in {server.data_dir}, 127.0.0.1:{server.port}"
        else:
            where = parse_database_url(database_url).describe()
        db = make_database(database_url, settings)
        applied = migrate(db)
        first_update_id = next_update_id(db, SANDBOX_BOT_TOKEN)
        db.close()
        print(f"Postgres: {where}; migrations: {', '.join(applied) or 'up to date'}")

        # --- KIE: the simulator unless a real key is given ----------------------------------
        if settings.kie_api_key is None:
            from scripts.kie_simulator import KieSimulator

            simulator = KieSimulator(port=port + 2, api_key=SANDBOX_KIE_KEY, delay_s=3.0)
            started_url = simulator.start()
            running.callback(simulator.stop)
            if started_url != kie_url:
                raise RuntimeError(f"the simulator is at {started_url}, expected {kie_url}")
            print(f"KIE: simulator at {kie_url} (3 s per generation)")
        else:
            print(f"KIE: real API at {settings.kie_base_url}; results by polling every 15 s")

        # --- Telegram: the emulator and its chat page, unless a real bot is given ------------
        if not real_bot:
            from werkzeug.middleware.dispatcher import DispatcherMiddleware

            from scripts.sandbox_web import chat_page
            from scripts.telegram_emulator import TelegramEmulator

            telegram = TelegramEmulator(
                token=SANDBOX_BOT_TOKEN,
                user_api_prefix="/api",
                public_base_url=telegram_url,
                first_update_id=first_update_id,
            )
            # The admins' chats exist from the start, as a real admin's would: support
            # messages and receipts reach them before they have opened the page.
            for admin_id in settings.admin_telegram_ids or (SANDBOX_ADMIN_ID,):
                telegram.add_user(admin_id, "Админ", language_code="ru")
            telegram.start(serve=False)
            running.callback(telegram.stop)
            # One front door: the chat page at /, the Bot API and the user API under /tg.
            front_server, _ = serve_wsgi(
                DispatcherMiddleware(chat_page, {"/tg": telegram.wsgi_app}), port
            )
            running.callback(front_server.shutdown)

        # --- the queue (keep-alive: functions enqueue over it), the functions, the scheduler --
        queue = LocalTaskQueue(functions_url, workers=8, min_backoff_s=0.5, max_backoff_s=30)
        queue_server, _ = serve_queue(queue, port + 3)
        running.callback(queue.close)
        running.callback(queue_server.server_close)
        running.callback(queue_server.shutdown)
        wait_listening(f"{functions_url}/", functions, timeout_s=120)
        set_commands(api_base, bot_token)
        if real_bot:
            # getUpdates → the webhook's own handling, in a process of its own (aiogram).
            polling = subprocess.Popen(
                [sys.executable, "-m", "scripts.telegram_polling"], cwd=ROOT, env=env
            )
            running.callback(polling.wait, 10)
            running.callback(polling.terminate)
        else:
            httpx.post(
                f"{telegram_url}/bot{SANDBOX_BOT_TOKEN}/setWebhook",
                json={"url": f"{functions_url}/telegram_webhook", "secret_token": webhook_secret},
                timeout=10,
            ).raise_for_status()
        sweeper = threading.Thread(
            target=sweep_every, args=(f"{functions_url}/sweeper", SWEEP_EVERY_S, stop), daemon=True
        )
        sweeper.start()

        print(f"functions: {functions_url}/<name>; task queue: {queue_url}")
        if real_bot:
            print(f"\n  Telegram: your bot, by long polling through {api_base}")
            print("  (its webhook, if it had one, was removed: use a bot of your own here)\n")
        else:
            print(f"\n  Open the chat: {front}/\n")
            print(
                f"  The admin's chat (approves bank transfers): {front}/?user={SANDBOX_ADMIN_ID}\n"
            )
            print("Real services: set TELEGRAM_BOT_TOKEN for a real bot (long polling),")
        print("KIE_API_KEY for real KIE. DATABASE_URL for your own Postgres.")
        print(
            f"ready in {time.monotonic() - started_at:.1f} s — Ctrl-C stops everything", flush=True
        )
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
