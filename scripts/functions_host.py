"""Every function in one local process, each at /fn/<name>, as functions-framework builds it.

    python -m scripts.functions_host --port 8081 [--only submit_job,kie_callback]

Cloud Functions runs one function per service; locally one process serves them
all so the task queue can reach each at {FUNCTIONS_BASE_URL}/{name}. Each app is
functions-framework's own `create_app`, so requests meet the same Flask request
handling as in the cloud. (Werkzeug's DispatcherMiddleware answers 308 for these
paths, hence the small router.)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS = (
    "telegram_webhook",
    "submit_job",
    "kie_callback",
    "sweeper",
    "deliver_result",
    "ocr_receipt",
)
PREFIX = "/fn/"
# Idle keep-alive seconds for gunicorn: above httpx's default expiry of 5 s.
SERVER_KEEP_ALIVE_S = 75

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def warm_up() -> None:
    """Load what the functions otherwise load on their first requests (they defer it to keep
    a cold start short): the KIE client and httpx's transport, the sandbox queue's client,
    tenacity for retries, and the registry's catalogue, validated. Under gunicorn's
    --preload the master does it once before it forks, so each worker starts as a warm
    instance would be, instead of importing all this in the middle of its first jobs (13% of
    the functions' samples in bench_jobs' first 15 s). It opens no connection and starts no
    thread."""
    import httpcore  # noqa: F401  (httpx imports it on its first transport)
    import tenacity  # noqa: F401
    import urllib3  # noqa: F401

    import shared.kie.client
    import shared.queue.http  # noqa: F401
    from shared.registry import load_registry

    registry = load_registry()
    # Every entry and family validated, which each worker otherwise did on its first jobs
    # (pydantic builds the validators on first use: ~50 ms for the first entry alone).
    for entry in registry.models(enabled_only=False):
        registry.family(entry.family)


def build_app(names: Iterable[str] = FUNCTIONS) -> WsgiApp:
    from functions_framework import create_app

    apps: dict[str, WsgiApp] = {
        name: create_app(name, str(ROOT / "functions" / f"{name}.py"))  # type: ignore[no-untyped-call]
        for name in names
    }
    warm_up()

    def route(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO", "")
        name, _, rest = path.removeprefix(PREFIX).partition("/")
        app = apps.get(name) if path.startswith(PREFIX) else None
        if app is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [f"no function at {path}\n".encode()]
        environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + PREFIX + name
        environ["PATH_INFO"] = "/" + rest
        return app(environ, start_response)

    return route


def closing_thread_loops(app: WsgiApp) -> WsgiApp:
    """Werkzeug's threaded server runs each request on a thread of its own, which ends with
    it: the event loop and Bot API sessions a function kept on that thread are closed
    after the response, not left for the garbage collector to report as leaks. (Gunicorn
    and Cloud Functions reuse their threads, and with them the kept connections.)"""
    from werkzeug.wsgi import ClosingIterator

    from shared.bot.thread_loop import close_thread_loop

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            body = app(environ, start_response)
        except BaseException:
            close_thread_loop()
            raise
        return ClosingIterator(body, close_thread_loop)

    return wrapped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--only", help="comma-separated function names (default: all)")
    parser.add_argument(
        "--workers", type=int, default=1, help="processes (gunicorn) instead of one process"
    )
    options = parser.parse_args()
    names = options.only.split(",") if options.only else FUNCTIONS
    if options.workers > 1:
        # Several instances, as the cloud would run; gunicorn ships with functions-framework.
        factory = f"scripts.functions_host:build_app({tuple(names)!r})"
        bind = f"127.0.0.1:{options.port}"
        gunicorn = [sys.executable, "-m", "gunicorn", "--bind", bind, "--threads", "8"]
        # The master imports the functions (aiogram's seconds among them) once, before it
        # forks and listens: workers start warm, as warm cloud instances are, and a benchmark
        # starting at the first answer is not sharing the CPU with three workers' imports.
        gunicorn += ["--preload"]
        # gunicorn closes an idle connection after 2 s, httpx reuses one for 5 s: a request
        # sent on a connection the server is closing is reset (seen on the KIE simulator's
        # callbacks in bench_e2e). The server must wait longer than its clients.
        gunicorn += ["--keep-alive", str(SERVER_KEEP_ALIVE_S)]
        os.execv(sys.executable, [*gunicorn, "--workers", str(options.workers), factory])  # noqa: S606
    from werkzeug.serving import make_server

    server = make_server(
        "127.0.0.1", options.port, closing_thread_loops(build_app(names)), threaded=True
    )
    print(f"functions on http://127.0.0.1:{options.port}{PREFIX}{{{','.join(names)}}}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
