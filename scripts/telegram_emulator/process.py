"""The emulator in a process of its own, as Telegram is another machine: benchmarks use it so
that the fake's work does not share their own GIL."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

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
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the Telegram emulator exited with {process.returncode}")
            try:
                httpx.get(f"{user_api}/users", timeout=1, trust_env=False)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the Telegram emulator did not start listening") from None
                time.sleep(0.05)
        yield client
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)
