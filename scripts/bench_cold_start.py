"""Cold start of the job functions: process start → first response, as Cloud Functions sees it.

    python -m scripts.bench_cold_start [--runs 5]

Each run starts `functions-framework --target NAME` (the same CLI the platform
runs) in a fresh process and times it until its first real answer: submit_job
for a job that does not exist (a database round trip), kie_callback with a
valid URL signature for an unknown job (a database round trip). A bare echo
function under the same CLI is the floor. Goal: under 0.8 s.

Our code is compiled to bytecode first, as the platform's build does (Google Cloud's
Python buildpack runs `python3 -m compileall` on the source; the Lambda zip carries it,
deploy/lambda-bytecode.js): a cold start on either never compiles our modules.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import httpx

from shared.adapters.db import Database, parse_database_url
from shared.adapters.embedded_pg import EmbeddedPostgres
from shared.adapters.migrate import migrate
from shared.kie.signing import callback_url
from shared.local_ports import free_port

ROOT = Path(__file__).resolve().parents[1]
SECRET = "cold-start-secret"  # noqa: S105 - a throwaway value for a local run
ECHO = (
    "import functions_framework\n\n\n"
    "@functions_framework.http\ndef echo(request):\n    return 'ok'\n"
)


def spawn_function(
    target: str, source: Path, env: dict[str, str], port: int
) -> subprocess.Popen[bytes]:
    """A fresh functions-framework process serving `target` on 127.0.0.1:`port`."""
    return subprocess.Popen(
        [
            sys.executable,
            *("-m", "functions_framework", "--target", target, "--source", str(source)),
            *("--host", "127.0.0.1", "--port", str(port)),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def compile_like_the_build() -> None:
    """Bytecode for functions/ and shared/, as a deployed instance finds it (the machine
    may set PYTHONDONTWRITEBYTECODE, which would leave every cold start compiling)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "functions", "shared"],
        cwd=ROOT,
        env=env,
        check=True,
    )


class FirstResponse(NamedTuple):
    seconds: float  # wall clock, process start → first answer
    cpu_s: float  # CPU the process used by then: steadier than wall time on a busy machine
    status: int


def process_cpu_s(pid: int) -> float:
    """User + system CPU so far of a running process and its live children (Linux /proc):
    functions-framework's gunicorn imports in its master and answers in a forked worker."""
    total = 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        total += sum(process_cpu_s(int(child)) for child in children)
    return total


def first_response_s(
    target: str,
    source: Path,
    env: dict[str, str],
    request: Callable[[str], httpx.Response],
    timeout_s: float = 30,
) -> FirstResponse:
    """Wall and CPU seconds from starting a fresh process until its first answer."""
    port = free_port()
    began = time.monotonic()
    process = spawn_function(target, source, env, port)
    try:
        while time.monotonic() - began < timeout_s:
            try:
                response = request(f"http://127.0.0.1:{port}")
                seconds = time.monotonic() - began
                return FirstResponse(seconds, process_cpu_s(process.pid), response.status_code)
            except httpx.TransportError:
                time.sleep(0.01)
        raise RuntimeError(f"{target} did not answer within {timeout_s:.0f} s")
    finally:
        process.terminate()
        process.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    compile_like_the_build()
    with tempfile.TemporaryDirectory(prefix="kie-cold-") as tmp:
        server = EmbeddedPostgres(Path(tmp) / "data", free_port(), fast=True)
        with server.running():
            migrate(Database(parse_database_url(server.url)))
            echo = Path(tmp) / "echo.py"
            echo.write_text(ECHO)
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("KIE_")},
                "DATABASE_URL": server.url,
                "CALLBACK_SECRET": SECRET,
                "KIE_API_KEY": "unused",
                "LOCAL_QUEUE_URL": "http://127.0.0.1:9/queue",
            }
            unknown = str(uuid.uuid4())
            cases: dict[str, tuple[str, Path, Callable[[str], httpx.Response]]] = {
                "echo (floor)": ("echo", echo, lambda base: httpx.get(base, timeout=10)),
                "submit_job": (
                    "submit_job",
                    ROOT / "functions" / "submit_job.py",
                    lambda base: httpx.post(base, json={"job_id": unknown}, timeout=10),
                ),
                "kie_callback": (
                    "kie_callback",
                    ROOT / "functions" / "kie_callback.py",
                    lambda base: httpx.post(
                        callback_url(base, unknown, SECRET), json={"code": 200}, timeout=10
                    ),
                ),
            }
            results: dict[str, list[FirstResponse]] = {}
            for name, (target, source, request) in cases.items():
                for _ in range(options.runs):
                    results.setdefault(name, []).append(
                        first_response_s(target, source, env, request)
                    )
                runs = results[name]
                print(
                    f"{name:14s} first response (HTTP {runs[-1].status}): "
                    f"median {statistics.median(r.seconds for r in runs):.2f} s, "
                    f"max {max(r.seconds for r in runs):.2f} s; "
                    f"CPU median {statistics.median(r.cpu_s for r in runs):.2f} s "
                    f"over {options.runs} fresh processes",
                    flush=True,
                )
            floor = statistics.median(r.seconds for r in results["echo (floor)"])
            floor_cpu = statistics.median(r.cpu_s for r in results["echo (floor)"])
            for name in ("submit_job", "kie_callback"):
                ours = statistics.median(r.seconds for r in results[name])
                ours_cpu = statistics.median(r.cpu_s for r in results[name])
                verdict = "OK" if ours < 0.8 else "over"
                print(
                    f"{name}: {ours:.2f} s ({ours - floor:+.2f} s over the floor; CPU "
                    f"{ours_cpu:.2f} s, {ours_cpu - floor_cpu:+.2f} s); goal < 0.8 s: {verdict}"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
