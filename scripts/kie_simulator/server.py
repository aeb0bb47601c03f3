"""KieSimulator: the knobs, the tasks and the lifecycle of the HTTP server and callback senders."""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from scripts.kie_simulator.callbacks import CallbackDispatcher, Delivery, DeliverySettings
from scripts.kie_simulator.catalogue import Catalogue, Route, media_kind
from scripts.kie_simulator.config import DEFAULT_5XX_CODES, DEFAULT_API_KEY, Knobs, coerce
from scripts.kie_simulator.families import ASYNC_FAMILIES, Links
from scripts.kie_simulator.media import MediaStore
from scripts.kie_simulator.router import SimulatorApp
from scripts.kie_simulator.state import Dice, Draws, Outcome, Task, TaskStore, pick
from shared.registry import ModelEntry, Registry

# Gap between a callback and its duplicate or its stale sibling, so they arrive in that order.
FOLLOW_UP_GAP_S = 0.05


class _QuietRequestHandler(WSGIRequestHandler):
    """No access log: a chaos run makes thousands of requests."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


class KieSimulator:
    """A local KIE: construct, `start()` (returns the base URL), change knobs, `stop()`.

    Every knob is a plain attribute; `configure(**changes)` checks and applies several at once
    (POST /_sim/config goes through it). Reading a knob is lock-free: each request reads the
    value current at that moment.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str = DEFAULT_API_KEY,
        balance: Decimal | int | float | str = 1_000_000,
        delay_s: float = 0.5,
        failure_rate: float = 0.0,
        duplicate_rate: float = 0.0,
        out_of_order_rate: float = 0.0,
        lost_rate: float = 0.0,
        create_429_rate: float = 0.0,
        create_5xx_rate: float = 0.0,
        create_5xx_codes: tuple[int, ...] = DEFAULT_5XX_CODES,
        seed: int | None = None,
        webhook_hmac_key: str | None = None,
        callback_timeout_s: float = 15.0,
        callback_retries: int = 0,
        callback_retry_delay_s: float = 1.0,
        callback_workers: int = 8,
        default_credits: Decimal | int | float | str = 10,
        public_base_url: str | None = None,
        registry: Registry | None = None,
        log_requests: bool = False,
    ) -> None:
        self.host = host
        self.log_requests = log_requests
        self.port = port
        defaults = Knobs()
        self.api_key: str = defaults.api_key
        self.balance: Decimal = defaults.balance
        self.delay_s: float = defaults.delay_s
        self.failure_rate: float = defaults.failure_rate
        self.duplicate_rate: float = defaults.duplicate_rate
        self.out_of_order_rate: float = defaults.out_of_order_rate
        self.lost_rate: float = defaults.lost_rate
        self.create_429_rate: float = defaults.create_429_rate
        self.create_5xx_rate: float = defaults.create_5xx_rate
        self.create_5xx_codes: tuple[int, ...] = defaults.create_5xx_codes
        self.seed: int | None = defaults.seed
        self.webhook_hmac_key: str | None = defaults.webhook_hmac_key
        self.callback_timeout_s: float = defaults.callback_timeout_s
        self.callback_retries: int = defaults.callback_retries
        self.callback_retry_delay_s: float = defaults.callback_retry_delay_s
        self.default_credits: Decimal = defaults.default_credits
        self.public_base_url: str | None = defaults.public_base_url
        self._balance_lock = threading.Lock()
        self.dice = Dice(None)
        self.configure(
            api_key=api_key,
            balance=balance,
            delay_s=delay_s,
            failure_rate=failure_rate,
            duplicate_rate=duplicate_rate,
            out_of_order_rate=out_of_order_rate,
            lost_rate=lost_rate,
            create_429_rate=create_429_rate,
            create_5xx_rate=create_5xx_rate,
            create_5xx_codes=create_5xx_codes,
            seed=seed,
            webhook_hmac_key=webhook_hmac_key,
            callback_timeout_s=callback_timeout_s,
            callback_retries=callback_retries,
            callback_retry_delay_s=callback_retry_delay_s,
            default_credits=default_credits,
            public_base_url=public_base_url,
        )
        # Built here, not at import: reading the registry and drawing the media take ~0.1 s.
        self.catalogue = Catalogue(registry)
        self.media = MediaStore()
        self.store = TaskStore()
        self.dispatcher = CallbackDispatcher(
            self._delivery_settings, self.store.record_callback, workers=callback_workers
        )
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # --- knobs ----------------------------------------------------------------------------

    def configure(self, **changes: Any) -> None:
        """Apply knob changes atomically: all are checked before any is set (ConfigError)."""
        checked = {name: coerce(name, value) for name, value in changes.items()}
        for name, value in checked.items():
            if name == "balance":
                with self._balance_lock:
                    self.balance = value
            else:
                setattr(self, name, value)
        if "seed" in checked:
            # A new seed restarts the sequence, so "same seed, same outcomes" holds mid-run too.
            self.dice.reseed(checked["seed"])

    def knobs_json(self) -> dict[str, Any]:
        knobs = Knobs(
            api_key=self.api_key,
            balance=self.balance,
            delay_s=self.delay_s,
            failure_rate=self.failure_rate,
            duplicate_rate=self.duplicate_rate,
            out_of_order_rate=self.out_of_order_rate,
            lost_rate=self.lost_rate,
            create_429_rate=self.create_429_rate,
            create_5xx_rate=self.create_5xx_rate,
            create_5xx_codes=self.create_5xx_codes,
            seed=self.seed,
            webhook_hmac_key=self.webhook_hmac_key,
            callback_timeout_s=self.callback_timeout_s,
            callback_retries=self.callback_retries,
            callback_retry_delay_s=self.callback_retry_delay_s,
            default_credits=self.default_credits,
            public_base_url=self.public_base_url,
        )
        data = knobs.as_json()
        data["base_url"] = self.base_url if self._server is not None else None
        return data

    def _delivery_settings(self) -> DeliverySettings:
        return DeliverySettings(
            hmac_key=self.webhook_hmac_key,
            timeout_s=self.callback_timeout_s,
            retries=self.callback_retries,
            retry_delay_s=self.callback_retry_delay_s,
        )

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Where the simulator listens (what start() returns)."""
        return f"http://{self.host}:{self.port}"

    @property
    def files_base_url(self) -> str:
        """The base of result, upload and download URLs: public_base_url when set."""
        if self.public_base_url:
            return self.public_base_url.rstrip("/")
        return self.base_url

    def start(self) -> str:
        """Bind, serve on a background thread, start the callback senders; the base URL."""
        if self._server is not None:
            return self.base_url
        self._server = make_server(
            self.host,
            self.port,
            SimulatorApp(self),
            threaded=True,
            request_handler=None if self.log_requests else _QuietRequestHandler,
        )
        self.port = self._server.server_port
        self.dispatcher.start()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # so stop() returns at once
            name="kie-simulator",
            daemon=True,
        )
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.dispatcher.stop()
        self._server = None
        self._thread = None

    def __enter__(self) -> KieSimulator:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    # --- the core the router calls --------------------------------------------------------

    def create_fault(self, draws: Draws) -> int | None:
        """The code of an injected create failure, or None when the request goes through."""
        if draws.reject_429 < self.create_429_rate:
            return 429
        if draws.reject_5xx < self.create_5xx_rate:
            codes = self.create_5xx_codes
            return codes[min(int(draws.reject_5xx_pick * len(codes)), len(codes) - 1)]
        return None

    def charge(self, credits: Decimal) -> bool:
        """Take the task's credits from the balance; False (402) when they do not fit."""
        with self._balance_lock:
            if self.balance < credits:
                return False
            self.balance -= credits
            return True

    def refund(self, credits: Decimal) -> None:
        with self._balance_lock:
            self.balance += credits

    def start_task(
        self,
        route: Route,
        entry: ModelEntry | None,
        body: dict[str, Any],
        credits: Decimal,
        draws: Draws,
    ) -> Task:
        family = ASYNC_FAMILIES[route.handler]
        failed = draws.fail < self.failure_rate
        outcome = Outcome(
            success=not failed,
            failure=pick(family.reasons, draws.fail_pick) if failed else None,
            duplicate=draws.duplicate < self.duplicate_rate,
            out_of_order=draws.out_of_order < self.out_of_order_rate,
            lost=draws.lost < self.lost_rate,
        )
        now = time.time()
        callback_url = body.get(route.callback_field) if route.callback_field else None
        early = outcome.out_of_order and not family.staged and bool(callback_url)
        task = Task(
            task_id=f"{draws.task_bits:032x}",
            family=route.family,
            handler=route.handler,
            model_id=entry.id if entry else None,
            create_path=route.create_path,
            status_path=route.status_path,
            body=body,
            callback_url=callback_url if isinstance(callback_url, str) and callback_url else None,
            credits=credits,
            created_at=now,
            # Out of order without stages: the task is done before KIE even answers createTask.
            finish_at=now if early else now + self.delay_s,
            outcome=outcome,
        )
        if failed:
            self.refund(credits)  # KIE does not charge failed generations
        self.store.add(task)
        self._schedule_callbacks(task, send_final_now=early)
        return task

    def record_of(self, task: Task) -> dict[str, Any]:
        family = ASYNC_FAMILIES[task.handler]
        kind = media_kind(self._entry(task), task.handler)
        return family.record(task, time.time(), Links(self.files_base_url, task.task_id), kind)

    def _entry(self, task: Task) -> ModelEntry | None:
        if task.model_id is None:
            return None
        return self.catalogue.registry.model(task.model_id)

    def _schedule_callbacks(self, task: Task, *, send_final_now: bool) -> None:
        if task.callback_url is None:
            return
        family = ASYNC_FAMILIES[task.handler]
        links = Links(self.files_base_url, task.task_id)
        kind = media_kind(self._entry(task), task.handler)
        span = task.finish_at - task.created_at
        url = task.callback_url

        def at(fraction: float) -> float:
            return task.created_at + fraction * span

        for fraction, label, body in family.stage_callbacks(task, links, kind):
            self.dispatcher.schedule(at(fraction), Delivery(task.task_id, url, body, label))
        if task.outcome.lost:
            return  # the final callback never comes; the query endpoint still knows
        final = family.final_callback(task, links, kind)
        if send_final_now:
            self.dispatcher.deliver_now(Delivery(task.task_id, url, final, "final:early"))
        else:
            self.dispatcher.schedule(task.finish_at, Delivery(task.task_id, url, final, "final"))
        follow_up = task.finish_at + FOLLOW_UP_GAP_S
        if task.outcome.duplicate:
            self.dispatcher.schedule(follow_up, Delivery(task.task_id, url, final, "duplicate"))
        if task.outcome.out_of_order:
            for _, label, body in family.stale_callbacks(task, links, kind):
                self.dispatcher.schedule(
                    follow_up + FOLLOW_UP_GAP_S, Delivery(task.task_id, url, body, label)
                )


def gunicorn_app(public_base_url: str, **knobs: Any) -> SimulatorApp:
    """The simulator as a WSGI app for gunicorn (one worker, many threads): unlike Werkzeug's
    development server, gunicorn keeps connections alive, which a benchmark needs.

        gunicorn -w 1 --threads 16 -b 127.0.0.1:P \\
            "scripts.kie_simulator.server:gunicorn_app('http://127.0.0.1:P', delay_s=0)"
    """
    simulator = KieSimulator(public_base_url=public_base_url, **knobs)
    simulator.dispatcher.start()
    return SimulatorApp(simulator)
