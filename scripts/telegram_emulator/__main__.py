"""`python -m scripts.telegram_emulator --port 8090 --token 123:ABC ...`"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from scripts.telegram_emulator.server import DEFAULT_PREFIX, DEFAULT_TOKEN, TelegramEmulator


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.telegram_emulator", description=__doc__
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090, help="0 picks a free port")
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="the only token accepted")
    parser.add_argument("--bot-first-name", default="Emulated Bot")
    parser.add_argument("--bot-username", default="emulated_bot")
    parser.add_argument("--user-api-prefix", default=DEFAULT_PREFIX)
    parser.add_argument(
        "--flood-per-chat-per-s", type=float, default=None, help="sends per chat per second"
    )
    parser.add_argument("--webhook-max-attempts", type=int, default=3)
    parser.add_argument("--webhook-retry-delay-s", type=float, default=0.5)
    parser.add_argument("--webhook-timeout-s", type=float, default=60.0)
    parser.add_argument("--callback-query-ttl-s", type=float, default=15.0)
    parser.add_argument("--pre-checkout-timeout-s", type=float, default=10.0)
    parser.add_argument("--log-requests", action="store_true", help="print an access log")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        emulator = TelegramEmulator(
            host=args.host,
            port=args.port,
            token=args.token,
            bot_first_name=args.bot_first_name,
            bot_username=args.bot_username,
            user_api_prefix=args.user_api_prefix,
            flood_per_chat_per_s=args.flood_per_chat_per_s,
            webhook_max_attempts=args.webhook_max_attempts,
            webhook_retry_delay_s=args.webhook_retry_delay_s,
            webhook_timeout_s=args.webhook_timeout_s,
            callback_query_ttl_s=args.callback_query_ttl_s,
            pre_checkout_timeout_s=args.pre_checkout_timeout_s,
            log_requests=args.log_requests,
        )
    except ValueError as error:
        print(f"telegram emulator: {error}", file=sys.stderr)
        return 2
    stopped = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    base_url = emulator.start()
    print(
        f"telegram emulator listening on {base_url} (user API {emulator.user_api_url})", flush=True
    )
    stopped.wait()
    emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
