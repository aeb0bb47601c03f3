"""HttpTaskQueue: the TaskQueue functions use in the sandbox, a client of the local queue's app."""

from __future__ import annotations

import json
import ssl
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
    # httpx and tenacity load on the first enqueue (see _http): functions build their
    # queue on a cold start that may never enqueue.
    import httpx

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
        self._client: httpx.Client | None = None
        self._client_lock = threading.Lock()

    def _http(self) -> httpx.Client:
        """The client, built on the first enqueue (a cold start that enqueues nothing pays
        nothing) and kept: its connections stay open between tasks."""
        with self._client_lock:
            if self._client is None:
                import httpx

                # Plain http needs no CA bundle, whose loading costs ~50 ms of CPU; an
                # https URL gets httpx's verifying default.
                verify: ssl.SSLContext | bool = (
                    ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                    if self._enqueue_url.startswith("http://")
                    else True
                )
                self._client = httpx.Client(timeout=self._timeout_s, trust_env=False, verify=verify)
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
        import httpx
        from tenacity import (
            Retrying,
            retry_if_exception_type,
            stop_after_attempt,
            wait_exponential,
        )

        # Only a refused connection is retried: the request never left, so a resend
        # cannot create an unnamed task twice.
        retrying = Retrying(
            retry=retry_if_exception_type(httpx.ConnectError),
            stop=stop_after_attempt(self._connect_attempts),
            wait=wait_exponential(multiplier=0.05, max=0.5),
            reraise=True,
        )
        try:
            response = retrying(self._http().post, self._enqueue_url, json=request)
        except httpx.HTTPError as error:
            raise EnqueueFailed(
                f"local queue at {self._enqueue_url} unreachable: {error!r}", retryable=True
            ) from error
        return self._created_from(response)

    def close(self) -> None:
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _created_from(self, response: httpx.Response) -> bool:
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code == 200 and isinstance(body, dict):
            created = body.get("created")
            if isinstance(created, bool):
                return created
        error_name = body.get("error") if isinstance(body, dict) else None
        message = body.get("message") if isinstance(body, dict) else None
        error_type = ERRORS_BY_NAME.get(error_name) if isinstance(error_name, str) else None
        if error_type is not None:
            raise error_type(str(message))
        raise EnqueueFailed(
            f"local queue answered {response.status_code}: {response.text[:200]}",
            retryable=response.status_code >= 500,
        )
