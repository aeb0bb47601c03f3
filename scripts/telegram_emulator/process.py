"""The emulator in a process of its own, as Telegram is another machine: benchmarks use it so
that the fake's work does not share their own GIL."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from scripts.listening import wait_listening
from scripts.telegram_emulator.client import UserApiClient
from scripts.telegram_emulator.server import DEFAULT_PREFIX

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def emulator_process(token: str, port: int, timeout_s: float = 30) -> Iterator[UserApiClient]:
    """`python -m scripts.telegram_emulator` on 127.0.0.1:`port`; yields a user API client.
    The Bot API base (TELEGRAM_API_BASE) is http://127.0.0.1:`port`."""
    process = subprocess.Popen(
        [sys.executable, "-m", "scripts.telegram_emulator", "--port", str(port), "--token", token],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    user_api = f"http://127.0.0.1:{port}{DEFAULT_PREFIX}"
    client = UserApiClient(user_api)
    try:
        wait_listening(f"{user_api}/users", process, timeout_s)
        yield client
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)
