"""The task queue port and its backends (docs/QUEUE.md).

Importing this package costs the standard library only: the backends (httpx,
google-cloud-tasks) load when `task_queue_from_settings` picks one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.queue.port import (
    MAX_DELAY_S,
    MAX_TASK_BYTES,
    EnqueueFailed,
    InvalidDelay,
    InvalidPayload,
    InvalidTarget,
    InvalidTaskName,
    JsonValue,
    QueueClosed,
    QueueNotConfigured,
    TaskQueue,
    TaskQueueError,
    UnknownTarget,
    task_id_for,
)

if TYPE_CHECKING:
    from shared.config import Settings

__all__ = [
    "MAX_DELAY_S",
    "MAX_TASK_BYTES",
    "EnqueueFailed",
    "InvalidDelay",
    "InvalidPayload",
    "InvalidTarget",
    "InvalidTaskName",
    "JsonValue",
    "QueueClosed",
    "QueueNotConfigured",
    "TaskQueue",
    "TaskQueueError",
    "UnknownTarget",
    "task_id_for",
    "task_queue_from_settings",
]


def task_queue_from_settings(settings: Settings) -> TaskQueue:
    """The queue functions enqueue into: the sandbox's local queue, Cloud Tasks or SQS."""
    if settings.task_queue_backend == "cloud_tasks":
        from shared.queue.cloud_tasks import CloudTasksQueue

        return CloudTasksQueue.from_settings(settings)
    if settings.task_queue_backend == "sqs":
        from shared.queue.sqs import SqsTaskQueue

        return SqsTaskQueue.from_settings(settings)
    from shared.queue.http import HttpTaskQueue

    return HttpTaskQueue.from_settings(settings)
