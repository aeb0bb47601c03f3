"""The task queue port: what the application asks of a queue, and the checks every backend shares.

A task is an HTTP POST of a JSON payload to `{functions_base_url}/{target}`,
delivered at least once. This module is imported on every function's cold
start, so it uses the standard library only (no google, no httpx).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeAlias

JsonValue: TypeAlias = (
    "str | int | float | bool | Sequence[JsonValue] | Mapping[str, JsonValue] | None"
)

# Cloud Tasks' limits, kept by every backend so the sandbox refuses what production would.
MAX_DELAY_S = 30 * 24 * 3600  # schedule_time may be at most 30 days ahead
MAX_TASK_BYTES = 100 * 1024  # a task (body included) may be at most 100 KB
MAX_TASK_ID_CHARS = 500
TASK_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,500}")
# A target becomes a URL path segment and a function name: letters first, no slashes or dots.
TARGET_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,62}")
# A derived id keeps a readable prefix of the caller's name for logs; the hash makes it unique.
_READABLE_PREFIX_CHARS = 64


class TaskQueue(Protocol):
    def enqueue(
        self,
        target: str,
        payload: Mapping[str, JsonValue],
        *,
        name: str | None = None,
        delay_s: float = 0.0,
    ) -> bool:
        """Create a task POSTing `payload` to the function `target`, at least once.

        `name` makes the task deduplicated: a second enqueue with the same name
        (for the same target) while the first task exists, or for a while
        after it ran, creates nothing and returns False. That is success, not
        an error. Returns True when a task was created.
        """
        ...


class TaskQueueError(Exception):
    """Base of every error the queue port raises."""


class InvalidTarget(TaskQueueError, ValueError):
    """The target is not a function name we can route to."""


class UnknownTarget(InvalidTarget):
    """The target is well formed but this backend has no queue for it."""


class InvalidTaskName(TaskQueueError, ValueError):
    """The task name is empty or not a string."""


class InvalidDelay(TaskQueueError, ValueError):
    """The delay is not a finite number of seconds in [0, 30 days]."""


class InvalidPayload(TaskQueueError, ValueError):
    """The payload is not a JSON object, or it is larger than a task may be."""


class QueueNotConfigured(TaskQueueError):
    """The settings lack what the chosen backend needs (project, location, URL)."""


class QueueClosed(TaskQueueError):
    """The queue was closed; it accepts no more tasks."""


class EnqueueFailed(TaskQueueError):
    """The backend did not take the task. `retryable` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


# Errors a remote queue may report by name (the local queue's HTTP app does), mapped back.
ERRORS_BY_NAME: Mapping[str, type[TaskQueueError]] = {
    cls.__name__: cls
    for cls in (
        InvalidTarget,
        UnknownTarget,
        InvalidTaskName,
        InvalidDelay,
        InvalidPayload,
        QueueClosed,
    )
}


@dataclass(frozen=True)
class PreparedTask:
    """A task request that passed the port's checks, ready for any backend."""

    target: str
    body: bytes
    task_id: str | None
    delay_s: float


def check_target(target: object) -> str:
    if not isinstance(target, str) or TARGET_PATTERN.fullmatch(target) is None:
        raise InvalidTarget(
            f"target must be a function name matching {TARGET_PATTERN.pattern}, got {target!r}"
        )
    return target


def task_id_for(name: object) -> str:
    """The Cloud Tasks task id for a caller's name: itself when valid, else a hashed form.

    Deterministic, so a retried enqueue of the same name is deduplicated; two
    different names never map to the same derived id (the hash covers the
    whole original name).
    """
    if not isinstance(name, str) or not name:
        raise InvalidTaskName(f"task name must be a non-empty string, got {name!r}")
    if TASK_ID_PATTERN.fullmatch(name):
        return name
    readable = re.sub(r"[^A-Za-z0-9_-]+", "-", name)[:_READABLE_PREFIX_CHARS].strip("-")
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{readable}-h{digest}" if readable else f"h{digest}"


def check_delay(delay_s: object) -> float:
    if isinstance(delay_s, bool) or not isinstance(delay_s, int | float):
        raise InvalidDelay(f"delay_s must be a number of seconds, got {delay_s!r}")
    delay = float(delay_s)
    if not math.isfinite(delay) or not 0.0 <= delay <= MAX_DELAY_S:
        raise InvalidDelay(f"delay_s must be within [0, {MAX_DELAY_S}] seconds, got {delay_s!r}")
    return delay


def _as_json_container(value: object) -> object:
    # json.dumps knows dict, list and tuple only; the port promises any Mapping or Sequence.
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray | memoryview):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def encode_payload(payload: object) -> bytes:
    if not isinstance(payload, Mapping):
        raise InvalidPayload(f"payload must be a JSON object, got {type(payload).__name__}")
    try:
        body = json.dumps(
            payload,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
            default=_as_json_container,
        )
    except (TypeError, ValueError) as error:
        raise InvalidPayload(f"payload is not JSON: {error}") from None
    encoded = body.encode("utf-8")
    if len(encoded) > MAX_TASK_BYTES:
        raise InvalidPayload(f"payload is {len(encoded)} bytes; a task holds {MAX_TASK_BYTES}")
    return encoded


def prepare_task(
    target: object, payload: object, *, name: object = None, delay_s: object = 0.0
) -> PreparedTask:
    """Check and normalise one enqueue call; raises the port's typed errors on misuse."""
    return PreparedTask(
        target=check_target(target),
        body=encode_payload(payload),
        task_id=None if name is None else task_id_for(name),
        delay_s=check_delay(delay_s),
    )


def target_url(functions_base_url: str, target: str) -> str:
    return f"{functions_base_url.rstrip('/')}/{check_target(target)}"
