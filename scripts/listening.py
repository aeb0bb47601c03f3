"""Waiting for a child process's server to answer: the local stacks start several."""

from __future__ import annotations

import subprocess
import time

import httpx


def wait_listening(url: str, process: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    """Until `url` answers at all; fails as soon as the process exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1, trust_env=False)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"{process.args!r} did not start listening")
