"""Long polling for a bot without a public URL (`make run` with a real TELEGRAM_BOT_TOKEN).

Each update from getUpdates goes through the webhook's own `handle()`: the same
dispatcher, handlers, dedupe and poison-update rules as in production. An update whose
handling asks for a retry (5xx) is fetched again, as Telegram would resend it to a
webhook; the offset moves past an update only once it was handled or given up.

    .venv/bin/python -m scripts.telegram_polling          # until Ctrl-C
"""

from __future__ import annotations

import argparse
import json
import logging
import secrets
import signal
import sys
import threading
from collections.abc import Iterable
from typing import Any

import httpx

from scripts.set_webhook import ALLOWED_UPDATES
from shared.adapters.db import Database
from shared.config import ConfigError, Settings, load_settings

log = logging.getLogger("kie_studio.polling")
POLL_TIMEOUT_S = 25
RETRY_PAUSE_S = 2.0


class PollingError(RuntimeError):
    """Telegram refused polling in a way waiting will not fix (a wrong token)."""


class Poller:
    def __init__(
        self, settings: Settings, db: Database, *, poll_timeout_s: int = POLL_TIMEOUT_S
    ) -> None:
        from shared.bot.webhook import TelegramWebhook

        if settings.telegram_bot_token is None:
            raise ConfigError("TELEGRAM_BOT_TOKEN is not set")
        token = settings.telegram_bot_token.get_secret_value()
        # Updates never cross the network here, so a per-process secret will do.
        self._secret = secrets.token_urlsafe(24)
        self._webhook = TelegramWebhook(
            token=token,
            secret=self._secret,
            api_base=settings.telegram_api_base,
            db=db,
            fsm_ttl_s=settings.fsm_ttl_s,
            attempts_max=settings.update_attempts_max,
        )
        self._poll_timeout_s = poll_timeout_s
        self._api = httpx.Client(
            base_url=f"{settings.telegram_api_base.rstrip('/')}/bot{token}/",
            timeout=poll_timeout_s + 10,
        )
        self.offset: int | None = None

    def _call(self, method: str, **params: Any) -> Any:
        response = self._api.post(method, json=params)
        body = response.json()
        if body.get("ok"):
            return body["result"]
        if body.get("error_code") in (401, 404):
            raise PollingError(f"{method}: {body.get('description')} (check TELEGRAM_BOT_TOKEN)")
        raise httpx.HTTPStatusError(
            f"{method}: {body.get('description')}", request=response.request, response=response
        )

    def start(self) -> None:
        """getUpdates and a webhook exclude each other: the webhook goes, updates stay."""
        self._call("deleteWebhook", drop_pending_updates=False)

    def poll_once(self) -> int:
        """One getUpdates round; returns how many updates were handled for good."""
        updates: Iterable[dict[str, Any]] = self._call(
            "getUpdates",
            offset=self.offset,
            timeout=self._poll_timeout_s,
            allowed_updates=ALLOWED_UPDATES,
        )
        done = 0
        for update in updates:
            reply = self._webhook.handle(self._secret, json.dumps(update).encode())
            if reply.status >= 500:
                log.warning("update %s: %s; fetching it again", update["update_id"], reply.body)
                break  # the offset stays: the next round gets this update again
            self.offset = int(update["update_id"]) + 1
            done += 1
        return done

    def run(self, stop: threading.Event) -> None:
        self.start()
        while not stop.is_set():
            try:
                self.poll_once()
            except PollingError:
                raise
            except (httpx.HTTPError, ValueError) as error:
                log.warning("getUpdates failed (%s); again in %s s", error, RETRY_PAUSE_S)
                stop.wait(RETRY_PAUSE_S)

    def close(self) -> None:
        self._api.close()


def main() -> int:
    from shared.bootstrap import get_database

    # Before any side effect: --help must not start a database or a poll.
    argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    ).parse_args()
    logging.basicConfig(level=logging.INFO)
    try:
        poller = Poller(load_settings(), get_database())
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    # Stop at once, even inside a long poll: an update cut short keeps its claim's lease
    # and is handled again on the next run, as after a crashed webhook instance.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        poller.run(threading.Event())
    except PollingError as error:
        print(error, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        poller.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
