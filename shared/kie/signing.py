"""Who may call kie_callback.

1. Our own signature in the URL: the callback URL carries the job id and an
   HMAC of it under CALLBACK_SECRET, so only a URL we handed to KIE is accepted.
2. KIE's webhook signature, when KIE_WEBHOOK_HMAC_KEY is set: `X-Webhook-Signature`
   = base64(HMAC-SHA256(taskId + "." + X-Webhook-Timestamp)), within a time window.
KIE signs only the task id, so a success is re-read from KIE before money moves
(see JobService.handle_callback).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlencode


class SignatureError(Exception):
    """The request is not from whom it claims to be; `status` is the HTTP answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def job_signature(job_id: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), f"kie-callback:{job_id}".encode(), hashlib.sha256)
    return digest.hexdigest()


def callback_url(base_url: str, job_id: str, secret: str) -> str:
    separator = "&" if "?" in base_url else "?"
    query = urlencode({"job": job_id, "sig": job_signature(job_id, secret)})
    return f"{base_url}{separator}{query}"


def verify_job_signature(job_id: str | None, signature: str | None, secret: str) -> str:
    """The job id when the URL's signature is ours; SignatureError otherwise."""
    if not job_id or not signature:
        raise SignatureError(401, "the callback URL carries no job id or signature")
    if not _same(job_signature(job_id, secret), signature):
        raise SignatureError(403, "the callback URL's signature does not match")
    return job_id


def kie_webhook_signature(task_id: str, timestamp: str, key: str) -> str:
    digest = hmac.new(key.encode(), f"{task_id}.{timestamp}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_kie_webhook(
    task_id: str | None,
    timestamp: str | None,
    signature: str | None,
    key: str,
    *,
    now_s: float,
    window_s: int,
) -> None:
    if not task_id or not timestamp or not signature:
        raise SignatureError(401, "KIE webhook signature headers or task id missing")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise SignatureError(401, "X-Webhook-Timestamp is not a number") from None
    if abs(now_s - sent_at) > window_s:
        raise SignatureError(401, "X-Webhook-Timestamp is outside the accepted window")
    expected = kie_webhook_signature(task_id, timestamp, key)
    if not _same(expected, signature):
        raise SignatureError(403, "X-Webhook-Signature does not match")


def _same(expected: str, given: str) -> bool:
    """Constant-time equality that also takes what a forger sends: compare_digest refuses
    non-ASCII str (TypeError, a 500), so both sides are compared as bytes."""
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "surrogateescape"))
