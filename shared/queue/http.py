"""HttpTaskQueue: the TaskQueue functions use in the sandbox, a client of the local queue's app."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

from shared.queue.port import (
    ERRORS_BY_NAME,
    EnqueueFailed,
    JsonValue,
    QueueNotConfigured,
    prepare_task,
)

if TYPE_CHECKING:
    # urllib3 loads on the first enqueue (see _http): functions build their queue on a cold
    # start that may never enqueue.
    import urllib3

    from shared.config import Settings


class HttpTaskQueue:
    """POSTs each task to `{queue_url}/enqueue` of a LocalQueueApp."""

    def __init__(
        self, queue_url: str, *, timeout_s: float = 5.0, connect_attempts: int = 3
    ) -> None:
        if not queue_url.startswith(("http://", "https://")):
            raise QueueNotConfigured(f"local queue URL must be http(s), got {queue_url!r}")
        if connect_attempts < 1:
            raise ValueError("connect_attempts must be at least 1")
        self._enqueue_url = f"{queue_url.rstrip('/')}/enqueue"
        self._connect_attempts = connect_attempts
        self._timeout_s = timeout_s
        self._client: urllib3.PoolManager | None = None
        self._client_lock = threading.Lock()

    def _http(self) -> urllib3.PoolManager:
        """The client, built on the first enqueue (a cold start that enqueues nothing pays
        nothing) and kept: its connections stay open between tasks.

        urllib3, not httpx: this queue exists only in the sandbox, where it stands in for
        the Cloud Tasks client, and a request costs about half of httpx's CPU. Only a
        failed connection is retried: the request never left, so a resend cannot create an
        unnamed task twice. It reads no proxy from the environment."""
        with self._client_lock:
            if self._client is None:
                import urllib3

                retries = urllib3.Retry(
                    total=None,
                    connect=self._connect_attempts - 1,
                    read=0,
                    status=0,
                    other=0,
                    redirect=False,
                    backoff_factor=0.1,  # the first retry at once, then 0.2 s, 0.4 s, 0.5 s at most
                    backoff_max=0.5,
                )
                # Plain http needs no TLS context; for https urllib3 builds its own. Room
                # for every thread of a busy local host (gunicorn runs 8, werkzeug more):
                # a full pool drops the extra connection with a warning after each use.
                self._client = urllib3.PoolManager(
                    maxsize=32, retries=retries, timeout=self._timeout_s
                )
            return self._client

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpTaskQueue:
        return cls(settings.local_queue_url)

    def enqueue(
        self,
        target: str,
        payload: Mapping[str, JsonValue],
        *,
        name: str | None = None,
        delay_s: float = 0.0,
    ) -> bool:
        # Checked here too, so misuse raises the same typed error without a round trip.
        prepared = prepare_task(target, payload, name=name, delay_s=delay_s)
        request = {
            "target": prepared.target,
            "payload": json.loads(prepared.body),  # plain dicts and lists, whatever came in
            "name": name,  # the server derives the same task id from it
            "delay_s": prepared.delay_s,
        }
        import urllib3

        try:
            response = self._http().request(
                "POST",
                self._enqueue_url,
                body=json.dumps(request).encode(),
                headers={"Content-Type": "application/json"},
            )
        except urllib3.exceptions.HTTPError as error:
            raise EnqueueFailed(
                f"local queue at {self._enqueue_url} unreachable: {error!r}", retryable=True
            ) from error
        return self._created_from(response)

    def close(self) -> None:
        with self._client_lock:
            if self._client is not None:
                self._client.clear()
                self._client = None

    def _created_from(self, response: urllib3.BaseHTTPResponse) -> bool:
        try:
            body = json.loads(response.data)
        except ValueError:
            body = None
        if response.status == 200 and isinstance(body, dict):
            created = body.get("created")
            if isinstance(created, bool):
                return created
        error_name = body.get("error") if isinstance(body, dict) else None
        message = body.get("message") if isinstance(body, dict) else None
        error_type = ERRORS_BY_NAME.get(error_name) if isinstance(error_name, str) else None
        if error_type is not None:
            raise error_type(str(message))
        raise EnqueueFailed(
            f"local queue answered {response.status}: {response.data[:200]!r}",
            retryable=response.status >= 500,
        )
