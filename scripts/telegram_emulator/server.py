"""TelegramEmulator: the knobs, the state and the lifecycle of the HTTP server."""

from __future__ import annotations

import re
import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from scripts.telegram_emulator.actions import ProfileChanges, UserActions
from scripts.telegram_emulator.delivery import RetryPolicy, UpdateBus
from scripts.telegram_emulator.files import FileStore, IncomingFile
from scripts.telegram_emulator.methods import BotApi
from scripts.telegram_emulator.router import EmulatorApp
from scripts.telegram_emulator.state import CallRecord, EmulatorState
from shared.keep_alive_server import KeepAliveServer

DEFAULT_TOKEN = "7903518264:AAEmulatorTokenForLocalTestsOnly-x1"  # noqa: S105 (a fake token)
DEFAULT_PREFIX = "/tg/api"
_TOKEN_SHAPE = re.compile(r"^(\d+):[A-Za-z0-9_-]+$")


# A real bot's update ids are large numbers, not 1, 2, 3.
FIRST_UPDATE_ID = 571_800_001


class TelegramEmulator:
    """A local Bot API server that also plays the users: construct, `start()` (returns the
    base URL for TELEGRAM_API_BASE), act through the user API or the methods below, `stop()`.

    Knobs are plain attributes read at the moment they matter, so a test may change them
    between calls (`emulator.flood_per_chat_per_s = 1`).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = DEFAULT_TOKEN,
        bot_first_name: str = "Emulated Bot",
        bot_username: str = "emulated_bot",
        user_api_prefix: str = DEFAULT_PREFIX,
        flood_per_chat_per_s: float | None = None,
        webhook_max_attempts: int = 3,
        webhook_retry_delay_s: float = 0.5,
        webhook_timeout_s: float = 60.0,
        callback_query_ttl_s: float = 15.0,
        pre_checkout_timeout_s: float = 10.0,
        first_update_id: int | None = None,  # None: FIRST_UPDATE_ID
        public_base_url: str | None = None,
        log_requests: bool = False,
    ) -> None:
        match = _TOKEN_SHAPE.match(token)
        if match is None:
            raise ValueError("token must look like <bot id>:<secret>, e.g. 123:ABC-def")
        if webhook_max_attempts < 1:
            raise ValueError("webhook_max_attempts must be at least 1")
        if not user_api_prefix.startswith("/") or user_api_prefix.endswith("/"):
            raise ValueError("user_api_prefix must start with / and not end with one")
        self.host = host
        self.port = port
        self.token = token
        self.bot_id = int(match.group(1))
        self.bot_first_name = bot_first_name
        self.bot_username = bot_username
        self.user_api_prefix = user_api_prefix
        self.flood_per_chat_per_s = flood_per_chat_per_s
        self.webhook_max_attempts = webhook_max_attempts
        self.webhook_retry_delay_s = webhook_retry_delay_s
        self.webhook_timeout_s = webhook_timeout_s
        self.callback_query_ttl_s = callback_query_ttl_s
        self.pre_checkout_timeout_s = pre_checkout_timeout_s
        self.public_base_url = public_base_url
        self.log_requests = log_requests
        self.state = EmulatorState()
        self.files = FileStore()
        self.bus = UpdateBus(self._retry_policy, first_update_id or FIRST_UPDATE_ID)
        self.api = BotApi(self, self.state, self.files, self.bus)
        self.actions = UserActions(self, self.state, self.files, self.bus, self.api)
        # The WSGI app, for a host that mounts the emulator in its own server (start(serve=False)).
        self.wsgi_app = EmulatorApp(self)
        self._server: BaseWSGIServer | KeepAliveServer | None = None
        self._thread: threading.Thread | None = None
        self._delivering = False

    # --- identity and knobs ---------------------------------------------------------------

    def bot_user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    def bot_info(self) -> dict[str, Any]:
        """getMe's answer: the bot-only flags appear only here."""
        return {
            **self.bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.webhook_max_attempts,
            first_delay_s=self.webhook_retry_delay_s,
            timeout_s=self.webhook_timeout_s,
        )

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Where the emulator listens: TELEGRAM_API_BASE (what start() returns)."""
        return f"http://{self.host}:{self.port}"

    @property
    def user_api_url(self) -> str:
        """The user API as clients reach it: under public_base_url when set."""
        return (self.public_base_url or self.base_url) + self.user_api_prefix

    def start(self, *, serve: bool = True) -> str:
        """Start webhook delivery and, unless serve=False (a host mounts `wsgi_app` itself),
        the HTTP server. Returns the base URL."""
        if not self._delivering:
            self.bus.start()
            self._delivering = True
        if not serve or self._server is not None:
            return self.public_base_url or self.base_url
        if self.log_requests:
            self._server = make_server(self.host, self.port, self.wsgi_app, threaded=True)
        else:
            # HTTP/1.1 keep-alive, as api.telegram.org: a bot's session reuses its connections
            # (Werkzeug's server closes each one and starts a thread per request).
            self._server = KeepAliveServer((self.host, self.port), self.wsgi_app)
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="tg-emulator-http", daemon=True
        )
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        self.bus.stop()
        self._delivering = False
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> TelegramEmulator:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # --- the user side, for Python callers (the user API wraps the same calls) -------------

    def add_user(
        self,
        user_id: int,
        first_name: str | None = None,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
        is_premium: bool | None = None,
    ) -> None:
        """A user whose chat exists without an update, so the bot can write first."""
        self.actions.user(
            user_id,
            ProfileChanges(first_name, last_name, username, language_code, is_premium),
        )

    def send_text(self, user_id: int, text: str) -> dict[str, Any]:
        return self.actions.send_text(user_id, text)

    def send_file(
        self,
        user_id: int,
        data: bytes,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
        kind: str | None = None,
        caption: str | None = None,
    ) -> dict[str, Any]:
        return self.actions.send_file(
            user_id, IncomingFile(data, file_name, mime_type), kind=kind, caption=caption
        )

    def press(
        self, user_id: int, message_id: int, button: str, *, inaccessible: bool = False
    ) -> dict[str, Any]:
        return self.actions.press(user_id, message_id, button, inaccessible=inaccessible)

    def pay(self, user_id: int, message_id: int, email: str | None = None) -> dict[str, Any]:
        return self.actions.pay(user_id, message_id, email)

    def block(self, user_id: int) -> dict[str, Any]:
        return self.actions.block(user_id)

    def chat(self, user_id: int, *, after: int | None = None, wait_s: float = 0) -> dict[str, Any]:
        """The chat as the user API shows it; with `after` (a revision it returned), first
        waits up to `wait_s` for a new, edited or deleted message."""
        return self.actions.chat_view(
            user_id, f"{self.user_api_url}/files", after=after, wait_s=wait_s
        )

    def calls(self, method: str | None = None) -> list[CallRecord]:
        """Every Bot API call received, in order; only those of `method` (any case) if given."""
        with self.state.lock:
            calls = list(self.state.calls)
        if method is None:
            return calls
        return [call for call in calls if call.method.lower() == method.lower()]
