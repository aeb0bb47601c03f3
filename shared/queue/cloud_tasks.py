"""CloudTasksQueue: the TaskQueue in production, over google-cloud-tasks.

Each target has a queue of its own; a named task gets a deterministic task id,
so a repeated enqueue is refused by Cloud Tasks with ALREADY_EXISTS, which
counts as success. google's modules are imported on first enqueue, not at
import: they cost a cold start more than a second.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from shared.queue.port import (
    EnqueueFailed,
    JsonValue,
    PreparedTask,
    QueueNotConfigured,
    UnknownTarget,
    prepare_task,
    target_url,
)

if TYPE_CHECKING:
    from google.cloud.tasks_v2 import CloudTasksClient, CreateTaskRequest

    from shared.config import Settings

# Cloud Tasks accepts a dispatch deadline of 15 s to 30 min for HTTP targets.
MIN_DISPATCH_DEADLINE_S = 15.0
MAX_DISPATCH_DEADLINE_S = 1800.0


class CloudTasksQueue:
    """Creates HTTP tasks in Cloud Tasks (or its emulator) for the targets it has queues for."""

    def __init__(
        self,
        *,
        project: str,
        location: str,
        functions_base_url: str,
        queues: Mapping[str, str],
        invoker_email: str | None = None,
        emulator_host: str | None = None,
        dispatch_deadline_s: float | None = None,
        timeout_s: float = 10.0,
        target_urls: Mapping[str, str] | None = None,
    ) -> None:
        if not project or not location:
            raise QueueNotConfigured("Cloud Tasks needs GCP_PROJECT and GCP_LOCATION")
        if not queues:
            raise QueueNotConfigured("Cloud Tasks needs at least one target → queue mapping")
        if dispatch_deadline_s is not None and not (
            MIN_DISPATCH_DEADLINE_S <= dispatch_deadline_s <= MAX_DISPATCH_DEADLINE_S
        ):
            raise ValueError(
                f"dispatch_deadline_s must be within [{MIN_DISPATCH_DEADLINE_S}, "
                f"{MAX_DISPATCH_DEADLINE_S}], got {dispatch_deadline_s}"
            )
        self._queue_paths = {
            target: f"projects/{project}/locations/{location}/queues/{queue}"
            for target, queue in queues.items()
        }
        self._functions_base_url = functions_base_url
        # A target served elsewhere than FUNCTIONS_BASE_URL/<target> (OCR on Cloud Run).
        self._target_urls = dict(target_urls or {})
        self._invoker_email = invoker_email
        self._emulator_host = emulator_host
        self._dispatch_deadline_s = dispatch_deadline_s
        self._timeout_s = timeout_s
        self._client: CloudTasksClient | None = None
        self._client_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> CloudTasksQueue:
        if not settings.gcp_project or not settings.gcp_location:
            raise QueueNotConfigured(
                "TASK_QUEUE_BACKEND=cloud_tasks needs GCP_PROJECT and GCP_LOCATION"
            )
        return cls(
            project=settings.gcp_project,
            location=settings.gcp_location,
            functions_base_url=settings.functions_base_url,
            queues={
                "submit_job": settings.cloud_tasks_queue_submit,
                "deliver_result": settings.cloud_tasks_queue_deliver,
                "ocr_receipt": settings.cloud_tasks_queue_ocr,
            },
            invoker_email=settings.cloud_tasks_invoker_email,
            emulator_host=settings.cloud_tasks_emulator_host,
            # Longer than any function's timeout (600 s at most): Cloud Tasks never gives up
            # on, and retries, an attempt that is still running (its default is 600 s).
            dispatch_deadline_s=MAX_DISPATCH_DEADLINE_S,
            target_urls=(
                {"ocr_receipt": settings.ocr_receipt_url} if settings.ocr_receipt_url else None
            ),
        )

    def queue_path(self, target: str) -> str:
        """projects/P/locations/L/queues/Q of the queue that carries `target`'s tasks."""
        try:
            return self._queue_paths[target]
        except KeyError:
            raise UnknownTarget(
                f"no Cloud Tasks queue for target {target!r}; known: {sorted(self._queue_paths)}"
            ) from None

    def enqueue(
        self,
        target: str,
        payload: Mapping[str, JsonValue],
        *,
        name: str | None = None,
        delay_s: float = 0.0,
    ) -> bool:
        prepared = prepare_task(target, payload, name=name, delay_s=delay_s)
        request = self.create_task_request(prepared)
        from google.api_core import exceptions

        try:
            self._get_client().create_task(request=request, timeout=self._timeout_s)
        except exceptions.AlreadyExists:
            return False
        except exceptions.GoogleAPICallError as error:
            raise EnqueueFailed(
                f"Cloud Tasks refused a task for {target!r}: {error}",
                retryable=isinstance(error, _retryable_errors()),
            ) from error
        return True

    def create_task_request(self, prepared: PreparedTask) -> CreateTaskRequest:
        """The CreateTaskRequest for a checked task (public so its shape can be inspected)."""
        from google.cloud import tasks_v2

        parent = self.queue_path(prepared.target)
        url = self._target_urls.get(prepared.target) or target_url(
            self._functions_base_url, prepared.target
        )
        http_request = tasks_v2.HttpRequest(
            http_method=tasks_v2.HttpMethod.POST,
            url=url,
            headers={"Content-Type": "application/json"},
            body=prepared.body,
        )
        if self._invoker_email:
            http_request.oidc_token = tasks_v2.OidcToken(
                service_account_email=self._invoker_email, audience=url
            )
        # proto-plus marshals datetime → Timestamp and timedelta → Duration.
        fields: dict[str, object] = {"http_request": http_request}
        if prepared.task_id is not None:
            fields["name"] = f"{parent}/tasks/{prepared.task_id}"
        if prepared.delay_s > 0:
            fields["schedule_time"] = datetime.now(UTC) + timedelta(seconds=prepared.delay_s)
        if self._dispatch_deadline_s is not None:
            fields["dispatch_deadline"] = timedelta(seconds=self._dispatch_deadline_s)
        task = tasks_v2.Task(**fields)
        return tasks_v2.CreateTaskRequest(parent=parent, task=task)

    def _get_client(self) -> CloudTasksClient:
        with self._client_lock:
            if self._client is None:
                self._client = self._build_client()
            return self._client

    def _build_client(self) -> CloudTasksClient:
        from google.cloud import tasks_v2

        if self._emulator_host is None:
            return tasks_v2.CloudTasksClient()
        import grpc  # type: ignore[import-untyped]
        from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

        channel = grpc.insecure_channel(self._emulator_host)
        return tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))


def _retryable_errors() -> tuple[type[Exception], ...]:
    from google.api_core import exceptions

    return (
        exceptions.ServiceUnavailable,
        exceptions.DeadlineExceeded,
        exceptions.InternalServerError,
        exceptions.TooManyRequests,
        exceptions.ResourceExhausted,
        exceptions.Aborted,
    )
