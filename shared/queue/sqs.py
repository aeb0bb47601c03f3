"""TaskQueue on Amazon SQS, and the Lambda side of it (partial batch failures).

One standard queue per target (submit_job, deliver_result, optionally ocr_receipt). SQS delivers at
least once and has no named-task dedupe for standard queues, so the task name
travels in the message and the handlers stay idempotent (they are: every job
transition is conditional, every money move keyed). A delay above SQS's 15
minutes is refused, not silently shortened.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.queue.backoff import backoff_s
from shared.queue.port import (
    EnqueueFailed,
    InvalidDelay,
    JsonValue,
    QueueNotConfigured,
    UnknownTarget,
    prepare_task,
)

if TYPE_CHECKING:
    from shared.config import Settings

SQS_MAX_DELAY_S = 900
SQS_MAX_VISIBILITY_S = 43_200
# A shortened wait is never shorter than this schedule by the record's receive count: 10 s,
# doubling to 15 min. The queues' maxReceiveCount (20-30) was sized for retries at their
# visibility timeout; without a floor a string of short waits (Retry-After: 0, a held lease)
# would send a record to the dead-letter queue within minutes instead of hours.
RETRY_FLOOR_MIN_S = 10.0
RETRY_FLOOR_MAX_S = 900.0
log = logging.getLogger("kie_studio.queue.sqs")


@dataclass(frozen=True)
class RetryAfter:
    """A task to try again after `seconds` (Telegram's retry_after, a peer's Retry-After)
    rather than after its queue's whole visibility timeout."""

    seconds: float

    def visibility_timeout(self) -> int:
        return min(SQS_MAX_VISIBILITY_S, max(1, math.ceil(self.seconds)))

    def after_receives(self, receives: int) -> RetryAfter:
        """This wait, or longer when the record has been received many times already."""
        floor = backoff_s(
            max(1, receives),
            min_s=RETRY_FLOOR_MIN_S,
            max_s=RETRY_FLOOR_MAX_S,
            max_doublings=16,
        )
        return RetryAfter(max(self.seconds, floor))


class SqsTaskQueue:
    def __init__(
        self,
        queue_urls: Mapping[str, str],
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        client: Any = None,
    ) -> None:
        self._queue_urls = dict(queue_urls)
        if client is None:
            import boto3  # here, not at import: ~0.3 s of cold start

            client = boto3.client("sqs", region_name=region, endpoint_url=endpoint_url)
        self._sqs = client

    @classmethod
    def from_settings(cls, settings: Settings) -> SqsTaskQueue:
        urls = {
            "submit_job": settings.sqs_queue_url_submit,
            "deliver_result": settings.sqs_queue_url_deliver,
        }
        missing = [target for target, url in urls.items() if not url]
        if missing:
            raise QueueNotConfigured(f"SQS queue URL missing for {', '.join(missing)}")
        if settings.sqs_queue_url_ocr:  # optional: only manual transfers need receipt OCR
            urls["ocr_receipt"] = settings.sqs_queue_url_ocr
        return cls(
            {t: u for t, u in urls.items() if u},
            region=settings.aws_region,
            endpoint_url=settings.aws_endpoint_url,
        )

    def enqueue(
        self,
        target: str,
        payload: Mapping[str, JsonValue],
        *,
        name: str | None = None,
        delay_s: float = 0.0,
    ) -> bool:
        task = prepare_task(target, payload, name=name, delay_s=delay_s)
        url = self._queue_urls.get(task.target)
        if url is None:
            raise UnknownTarget(f"no SQS queue for target {task.target!r}")
        if task.delay_s > SQS_MAX_DELAY_S:
            raise InvalidDelay(f"SQS delays at most {SQS_MAX_DELAY_S} s, asked {task.delay_s}")
        from botocore.exceptions import BotoCoreError, ClientError

        attributes = {"target": {"DataType": "String", "StringValue": task.target}}
        if task.task_id:
            attributes["task_name"] = {"DataType": "String", "StringValue": task.task_id}
        try:
            self._sqs.send_message(
                QueueUrl=url,
                MessageBody=task.body.decode(),
                DelaySeconds=int(task.delay_s),
                MessageAttributes=attributes,
            )
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            raise EnqueueFailed(f"SQS {code}: {error}", retryable="Throttl" in code) from None
        except BotoCoreError as error:
            raise EnqueueFailed(f"SQS unreachable: {error}", retryable=True) from None
        return True

    def postpone(self, target: str, receipt_handle: str, retry: RetryAfter) -> None:
        """Bring a received message back after `retry` instead of its visibility timeout
        (the Lambda answer then lists it as failed: SQS keeps it and shows it again)."""
        url = self._queue_urls.get(target)
        if url is None:
            raise UnknownTarget(f"no SQS queue for target {target!r}")
        self._sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=receipt_handle, VisibilityTimeout=retry.visibility_timeout()
        )


def handle_sqs_batch(
    event: Mapping[str, Any],
    handle: Callable[[dict[str, Any]], bool | RetryAfter],
    *,
    postpone: Callable[[str, RetryAfter], None] | None = None,
) -> dict[str, list[dict[str, str]]]:
    """Run `handle(payload)` for each SQS record of a Lambda event.

    `handle` returns True when the task is done (or can never be done), False to have
    it retried after the queue's visibility timeout, or RetryAfter to have it retried
    sooner: `postpone(receipt_handle, retry)` shortens that record's wait, never below a
    schedule that grows with the record's receive count (RETRY_FLOOR_*). A record whose
    body is not a JSON object is dropped with an error log (retrying cannot fix it). The
    answer is Lambda's partial batch response: only the failed records return to the queue.
    """
    failures: list[dict[str, str]] = []
    for record in event.get("Records", []):
        message_id = str(record.get("messageId", ""))
        try:
            payload = json.loads(record.get("body") or "")
        except json.JSONDecodeError:
            payload = None
        if not isinstance(payload, dict):
            log.error("dropped an SQS message that is not a JSON object", extra={"id": message_id})
            continue
        try:
            outcome = handle(payload)
        except Exception:
            # Any failure of one task must not fail its batch-mates: retry only this record.
            log.exception("task failed", extra={"sqs_message_id": message_id})
            outcome = False
        if outcome is True:
            continue
        if isinstance(outcome, RetryAfter) and postpone is not None:
            try:
                retry = outcome.after_receives(_receive_count(record))
                postpone(str(record.get("receiptHandle", "")), retry)
            except Exception:
                # The record still comes back, only after the whole visibility timeout.
                log.warning(
                    "could not shorten a retried message's wait",
                    exc_info=True,
                    extra={"sqs_message_id": message_id},
                )
        failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}


def _receive_count(record: Mapping[str, Any]) -> int:
    """How many times SQS has handed this record out, this time included (1 when unknown)."""
    attributes = record.get("attributes")
    raw = attributes.get("ApproximateReceiveCount") if isinstance(attributes, Mapping) else None
    try:
        return max(1, int(str(raw)))
    except ValueError:
        return 1
