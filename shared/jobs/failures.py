"""Why a job failed, as a code the bot turns into plain words in the user's language."""

from __future__ import annotations

from enum import StrEnum


class FailureCode(StrEnum):
    CONTENT_POLICY = "content_policy"  # the prompt or image was refused by moderation
    BAD_INPUT = "bad_input"  # KIE could not use an input (a file it cannot fetch, …)
    GENERATION_FAILED = "generation_failed"  # the model itself failed
    SERVICE_UNAVAILABLE = "service_unavailable"  # our KIE account or KIE itself cannot serve
    TIMEOUT = "timeout"  # no result before the job's deadline


_POLICY_WORDS = (
    "flagged",
    "moderat",
    "nsfw",
    "policy",
    "sensitive",
    "inappropriate",
    "unsafe",
    "copyright",
    "prohibited",
    "violat",
)
_INPUT_WORDS = ("fetch", "download", "invalid", "format", "unsupported", "too large", "ratio")


def classify_kie_failure(code: str | None, message: str | None) -> FailureCode:
    text = (message or "").lower()
    if any(word in text for word in _POLICY_WORDS):
        return FailureCode.CONTENT_POLICY
    if code in {"400", "422", "451"} or any(word in text for word in _INPUT_WORDS):
        return FailureCode.BAD_INPUT
    if code in {"408"} or "timeout" in text:
        return FailureCode.TIMEOUT
    return FailureCode.GENERATION_FAILED
