"""The whole job path on loopback: real Postgres, the KIE simulator, the local task queue
(Cloud Tasks semantics) and every function served by functions-framework in its own process.

Used by the jobs tests (tests/e2e/test_jobs.py) and by scripts/bench_jobs.py.
"""

from __future__ import annotations

import functools
import os
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from werkzeug.serving import BaseWSGIServer, make_server

from scripts.functions_host import SERVER_KEEP_ALIVE_S
from scripts.kie_simulator import KieSimulator
from scripts.listening import wait_listening
from scripts.telegram_emulator import TelegramEmulator
from scripts.telegram_emulator.client import TelegramUsers
from scripts.telegram_emulator.process import emulator_process
from shared.adapters.db import Database
from shared.config import load_settings
from shared.jobs.repository import Job
from shared.jobs.service import JobPolicy, JobService
from shared.keep_alive_server import KeepAliveServer
from shared.kie.client import KieClient
from shared.local_ports import free_port
from shared.queue.local import LocalTaskQueue
from shared.queue.local_app import LocalQueueApp
from shared.services.ledger import Ledger
from shared.services.users import open_account

ROOT = Path(__file__).resolve().parents[1]
CALLBACK_SECRET = "e2e-callback-secret"  # noqa: S105 - local test stack only
KIE_KEY = "sim-kie-key"
WEBHOOK_KEY = "e2e-kie-webhook-hmac-key"
TELEGRAM_SECRET = "e2e-telegram-webhook-secret"  # noqa: S105 - local test stack only
BENCH_FUNCTION_WORKERS = 4
BOT_TOKEN = "7903518264:AAHxQ9c2-vZ1kP0rT4m8Yb3nW6sLe5dUf7g"  # noqa: S105 - the emulator's


@dataclass
class Stack:
    db: Database
    database_url: str
    sim: KieSimulator | None  # None when the simulator runs in its own process
    sim_url: str
    queue: LocalTaskQueue
    queue_url: str
    functions_url: str
    service: JobService
    ledger: Ledger
    kie: KieClient
    users: TelegramUsers  # play users, wherever the emulator runs
    hosted_telegram: TelegramEmulator | None  # None when the emulator has its own process

    @property
    def telegram(self) -> TelegramEmulator:
        """The emulator itself, for tests that look inside it (calls, state)."""
        if self.hosted_telegram is None:
            raise RuntimeError("the Telegram emulator runs in its own process: use stack.users")
        return self.hosted_telegram

    def fn(self, name: str) -> str:
        return f"{self.functions_url}/{name}"

    def new_wallet(self, telegram_id: int, kopecks: int) -> tuple[int, int]:
        account = open_account(self.db, telegram_id)
        self.users.add_user(telegram_id, "Анна", language_code="ru")
        if kopecks:
            self.ledger.topup(account.wallet_id, kopecks, f"e2e-funds:{telegram_id}")
        return account.user_id, account.wallet_id

    def run_job(
        self, user_id: int, model_id: str, inputs: Mapping[str, Any], *, client_ref: str
    ) -> Job:
        job = self.service.create(user_id, model_id, inputs, client_ref=client_ref)
        return self.service.confirm(job.id)

    def wait_final(self, job_id: str, timeout_s: float = 20.0) -> Job:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            job = self.service.get(job_id)
            if job.state.final:
                return job
            time.sleep(0.05)
        raise AssertionError(f"job {job_id} still {self.service.get(job_id).state}")

    def sweep(self) -> dict[str, Any]:
        response = local_http().post(self.fn("sweeper"), timeout=30)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def set_sim(self, **knobs: Any) -> None:
        response = local_http().post(f"{self.sim_url}/_sim/config", json=knobs, timeout=5)
        assert response.status_code == 200, response.text


def function_env(
    database_url: str,
    sim_url: str,
    queue_url: str,
    functions_url: str,
    telegram_url: str,
    **extra: str,
) -> dict[str, str]:
    """The functions' environment for the test stack: everything points at loopback peers."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KIE_", "DATABASE_", "TELEGRAM_", "OBJECT_STORE_"))
    }
    env.update(
        DATABASE_URL=database_url,
        DB_POOL_MAX="4",
        TASK_QUEUE_BACKEND="local",
        LOCAL_QUEUE_URL=queue_url,
        FUNCTIONS_BASE_URL=functions_url,
        KIE_BASE_URL=sim_url,
        KIE_UPLOAD_BASE_URL=sim_url,
        KIE_API_KEY=KIE_KEY,
        KIE_CALLBACK_URL=f"{functions_url}/kie_callback",
        CALLBACK_SECRET=CALLBACK_SECRET,
        JOB_FIRST_POLL_S="1",
        KIE_WEBHOOK_HMAC_KEY=WEBHOOK_KEY,
        KIE_TIMEOUT_S="5",
        TELEGRAM_BOT_TOKEN=BOT_TOKEN,
        TELEGRAM_API_BASE=telegram_url,
        TELEGRAM_WEBHOOK_SECRET=TELEGRAM_SECRET,
    )
    env.update(extra)
    return env


@functools.lru_cache(maxsize=1)
def local_http() -> httpx.Client:
    """One keep-alive client for calls to loopback peers (http only: no CA bundle to load,
    which a new httpx client per call would pay every time)."""
    return httpx.Client(verify=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), trust_env=False)


def serve_queue(queue: LocalTaskQueue, port: int = 0) -> tuple[KeepAliveServer, str]:
    """The local queue's HTTP app on 127.0.0.1 with keep-alive (functions enqueue over it)."""
    server = KeepAliveServer(("127.0.0.1", port), LocalQueueApp(queue))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.url


def serve_wsgi(app: Any, port: int = 0) -> tuple[BaseWSGIServer, str]:
    """Serve a WSGI app on 127.0.0.1 from a daemon thread; the server and its base URL."""
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


@contextmanager
def job_stack(
    db: Database,
    database_url: str,
    *,
    queue_workers: int = 8,
    queue_max_attempts: int = 6,
    function_workers: int = 1,
    sim_in_process: bool = True,
    telegram_in_process: bool = True,
    function_env_extra: Mapping[str, str] | None = None,
    **sim_knobs: Any,
) -> Iterator[Stack]:
    sim: KieSimulator | None = None
    sim_process: subprocess.Popen[bytes] | None = None
    if sim_in_process:
        sim = KieSimulator(api_key=KIE_KEY, webhook_hmac_key=WEBHOOK_KEY, **sim_knobs)
        sim_url = sim.start()
    else:
        # Its own process and GIL, as KIE is another machine: our processes' share stays ours.
        sim_port = free_port()
        sim_url = f"http://127.0.0.1:{sim_port}"
        knobs = {"api_key": KIE_KEY, "webhook_hmac_key": WEBHOOK_KEY, **sim_knobs}
        arguments = ", ".join([repr(sim_url), *(f"{k}={v!r}" for k, v in knobs.items())])
        factory = f"scripts.kie_simulator.server:gunicorn_app({arguments})"
        sim_process = subprocess.Popen(
            [
                sys.executable,
                *("-m", "gunicorn", "--bind", f"127.0.0.1:{sim_port}"),
                *("--workers", "1", "--threads", "16"),
                *("--keep-alive", str(SERVER_KEEP_ALIVE_S), factory),
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_listening(f"{sim_url}/_sim/config", sim_process)
    port = free_port()
    functions_url = f"http://127.0.0.1:{port}/fn"
    queue = LocalTaskQueue(
        functions_url,
        workers=queue_workers,
        min_backoff_s=0.05,
        max_backoff_s=1.0,
        max_attempts=queue_max_attempts,
        attempt_timeout_s=30,
    )
    queue_server, queue_url = serve_queue(queue)
    telegram: TelegramEmulator | None = None
    exits = ExitStack()
    if telegram_in_process:
        telegram = TelegramEmulator(token=BOT_TOKEN)
        telegram_url = telegram.start()
        users: TelegramUsers = telegram
    else:
        # Telegram is another machine too: its own process and GIL, reached by the user API.
        telegram_port = free_port()
        telegram_url = f"http://127.0.0.1:{telegram_port}"
        users = exits.enter_context(emulator_process(BOT_TOKEN, telegram_port))
    process = subprocess.Popen(
        [
            sys.executable,
            *("-m", "scripts.functions_host", "--port", str(port)),
            *("--workers", str(function_workers)),
        ],
        cwd=ROOT,
        env=function_env(
            database_url,
            sim_url,
            queue_url,
            functions_url,
            telegram_url,
            **dict(function_env_extra or {}),
        ),
        stdout=subprocess.DEVNULL,
    )
    settings = load_settings(_env_file=None)
    kie = KieClient(base_url=sim_url, upload_base_url=sim_url, api_key=KIE_KEY, timeout_s=5)
    ledger = Ledger(db, default_hold_ttl_s=3600)
    policy = JobPolicy(
        callback_secret=CALLBACK_SECRET,
        callback_base_url=f"{functions_url}/kie_callback",
        kie_webhook_key=WEBHOOK_KEY,
        first_poll_s=1,
    )
    service = JobService(db, ledger, queue, lambda: kie, settings, policy)
    try:
        wait_listening(f"{functions_url}/", process)
        httpx.post(
            f"{telegram_url}/bot{BOT_TOKEN}/setWebhook",
            json={"url": f"{functions_url}/telegram_webhook", "secret_token": TELEGRAM_SECRET},
            timeout=10,
        ).raise_for_status()
        yield Stack(
            db=db,
            database_url=database_url,
            sim=sim,
            sim_url=sim_url,
            queue=queue,
            queue_url=queue_url,
            functions_url=functions_url,
            service=service,
            ledger=ledger,
            kie=kie,
            users=users,
            hosted_telegram=telegram,
        )
    finally:
        # The queue first: with the functions gone, its pending tasks would only fail.
        queue.close()
        process.terminate()
        process.wait(timeout=10)
        queue_server.shutdown()
        queue_server.server_close()
        if telegram is not None:
            telegram.stop()
        exits.close()
        if sim is not None:
            sim.stop()
        if sim_process is not None:
            sim_process.terminate()
            sim_process.wait(timeout=10)
        kie.close()


@contextmanager
def benchmark_stack(**options: Any) -> Iterator[Stack]:
    """A job stack on a fresh embedded Postgres with production durability (fsync on), its
    functions under gunicorn and the simulator in processes of their own: what the
    benchmarks measure. `options` go to job_stack."""
    import tempfile

    from shared.adapters.db import parse_database_url
    from shared.adapters.embedded_pg import EmbeddedPostgres
    from shared.adapters.migrate import migrate

    with tempfile.TemporaryDirectory(prefix="kie-bench-") as tmp:
        server = EmbeddedPostgres(Path(tmp) / "data", free_port())
        with server.running():
            db = Database(parse_database_url(server.url), max_size=10)
            migrate(db)
            options = {
                "queue_workers": 16,
                # One process per core is not enough: threads of one process contend for its
                # GIL while another process could run. Four measured best on two cores
                # (bench_jobs before deliveries joined the path: 2 → ~30 jobs/s, 3 → ~40,
                # 4 → ~55, 5-6 no better; with deliveries, four give 28-37).
                "function_workers": BENCH_FUNCTION_WORKERS,
                "sim_in_process": False,
                "telegram_in_process": False,
                "delay_s": 0.0,
                **options,
            }
            with job_stack(db, server.url, **options) as stack:
                yield stack
