"""Fresh identifiers per test, so tests share one database without cleaning up."""

from __future__ import annotations

import itertools
import secrets

_counter = itertools.count(1)
_run = secrets.randbelow(10**6)


def new_telegram_id() -> int:
    return 10**9 + _run * 10**5 + next(_counter)


def new_ref(prefix: str = "t") -> str:
    return f"{prefix}:{secrets.token_hex(6)}"
