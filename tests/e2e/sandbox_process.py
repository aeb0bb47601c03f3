"""`make run` (scripts.sandbox) as a child process on free ports, for the tests that use
the product the way a developer starts it."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from shared.local_ports import free_port

ROOT = Path(__file__).resolve().parents[2]
READY_WITHIN_S = 180


@dataclass
class RunningSandbox:
    url: str
    process: subprocess.Popen[str]
    local_dir: Path
    output: list[str] = field(default_factory=list)


@contextmanager
def run_sandbox(
    local_dir: Path, extra_env: Mapping[str, str] | None = None
) -> Iterator[RunningSandbox]:
    """Starts the sandbox, waits for "ready", yields it; Ctrl-C (SIGINT) on the way out."""
    port = free_port(block=4)  # the sandbox listens on PORT to PORT+3
    pg_port = free_port()
    while port <= pg_port <= port + 3:
        pg_port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "TEST_DATABASE_URL"}},
        "PORT": str(port),
        "LOCAL_DIR": str(local_dir),
        "LOCAL_PG_PORT": str(pg_port),
        **dict(extra_env or {}),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "scripts.sandbox"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    running = RunningSandbox(f"http://127.0.0.1:{port}", process, local_dir)
    lines: queue.Queue[str] = queue.Queue()
    stream = process.stdout
    assert stream is not None

    def pump() -> None:
        for line in stream:
            running.output.append(line)
            lines.put(line)

    pumping = threading.Thread(target=pump, daemon=True)
    pumping.start()
    failed = False
    try:
        deadline = time.monotonic() + READY_WITHIN_S
        while time.monotonic() < deadline:
            try:
                # The line's start, not its text: "Address already in use" holds "ready in".
                if lines.get(timeout=1).startswith("ready in "):
                    break
            except queue.Empty:
                if process.poll() is not None:
                    pumping.join(timeout=5)  # its last lines say why
                    output = "".join(running.output)
                    raise AssertionError("the sandbox exited: " + output) from None
        else:
            raise AssertionError(f"the sandbox was not ready within {READY_WITHIN_S} s")
        try:
            yield running
        except BaseException:
            failed = True
            raise
    finally:
        exit_code = process.poll()
        if exit_code is None:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=60)
        if failed:
            # What the sandbox printed tells a crash, a port taken or a slow start apart;
            # pytest shows it under the failed test's captured output.
            pumping.join(timeout=5)
            print(f"--- the sandbox's output (it had exited with {exit_code}, None: running) ---")
            print("".join(running.output))


def processes_of(local_dir: Path) -> list[int]:
    """Live processes started with this LOCAL_DIR in their environment (the sandbox's own)."""
    marker = f"LOCAL_DIR={local_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            found.append(int(entry.name))
    return found
