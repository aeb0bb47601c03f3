"""`python -m scripts.kie_simulator --port 8089 --delay-s 2 --failure-rate 0.05 ...`"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from scripts.kie_simulator.config import DEFAULT_API_KEY, ConfigError
from scripts.kie_simulator.server import KieSimulator


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m scripts.kie_simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089, help="0 picks a free port")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    parser.add_argument("--balance", default="1000000", help="credits on the account")
    parser.add_argument("--delay-s", type=float, default=0.5, help="seconds until a task finishes")
    parser.add_argument("--failure-rate", type=float, default=0.0)
    parser.add_argument("--duplicate-rate", type=float, default=0.0)
    parser.add_argument("--out-of-order-rate", type=float, default=0.0)
    parser.add_argument("--lost-rate", type=float, default=0.0)
    parser.add_argument("--create-429-rate", type=float, default=0.0)
    parser.add_argument("--create-5xx-rate", type=float, default=0.0)
    parser.add_argument(
        "--create-5xx-codes", default="455,500,502", help="comma-separated codes to pick from"
    )
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--webhook-hmac-key", default=None)
    parser.add_argument("--callback-timeout-s", type=float, default=15.0)
    parser.add_argument("--callback-retries", type=int, default=0)
    parser.add_argument("--callback-retry-delay-s", type=float, default=1.0)
    parser.add_argument("--callback-workers", type=int, default=8)
    parser.add_argument("--default-credits", default="10", help="price when the registry has none")
    parser.add_argument("--public-base-url", default=None, help="base of result URLs")
    parser.add_argument("--log-requests", action="store_true", help="print an access log")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        simulator = KieSimulator(
            host=args.host,
            port=args.port,
            api_key=args.api_key,
            balance=args.balance,
            delay_s=args.delay_s,
            failure_rate=args.failure_rate,
            duplicate_rate=args.duplicate_rate,
            out_of_order_rate=args.out_of_order_rate,
            lost_rate=args.lost_rate,
            create_429_rate=args.create_429_rate,
            create_5xx_rate=args.create_5xx_rate,
            create_5xx_codes=tuple(int(c) for c in args.create_5xx_codes.split(",") if c),
            seed=args.seed,
            webhook_hmac_key=args.webhook_hmac_key,
            callback_timeout_s=args.callback_timeout_s,
            callback_retries=args.callback_retries,
            callback_retry_delay_s=args.callback_retry_delay_s,
            callback_workers=args.callback_workers,
            default_credits=args.default_credits,
            public_base_url=args.public_base_url,
            log_requests=args.log_requests,
        )
    except (ConfigError, ValueError) as error:
        print(f"kie simulator: {error}", file=sys.stderr)
        return 2
    stopped = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    base_url = simulator.start()
    print(f"kie simulator listening on {base_url}", flush=True)
    stopped.wait()
    simulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
