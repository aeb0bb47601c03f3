"""KIE's answers as typed errors, decided in one place (`error_for_code`).

Each error says what the job should do next: retry later through the queue,
fail for good with a reason a marketer can read, or stop and alert ops.
"""

from __future__ import annotations


class KieError(Exception):
    """Base of every KIE failure; `code` is KIE's envelope code (or the HTTP status)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"KIE {code}: {message}")
        self.code = code
        self.message = message


class KieRetryable(KieError):
    """429, 455 (maintenance), 5xx, timeouts, connection errors: try again later."""

    def __init__(self, code: int, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(code, message)
        self.retry_after_s = retry_after_s


class KieConfigError(KieError):
    """401 (bad key) or 433 (key over its cap): ops must act; retrying as is cannot help."""


class KieOutOfCredits(KieError):
    """402: our KIE account has no credits left. The job fails, ops are alerted."""


class KieRejected(KieError):
    """400/422, content policy and the like: the request itself will never succeed."""


RETRYABLE_CODES = frozenset({408, 429, 455, 500, 502, 503, 504})
# 505: the feature is disabled at KIE; a retry in a minute will not find it enabled.
FINAL_SERVER_CODES = frozenset({501, 505})
CONFIG_CODES = frozenset({401, 403, 433})


def error_for_code(code: int, message: str, retry_after_s: float | None = None) -> KieError:
    if code == 402:
        return KieOutOfCredits(code, message)
    if code in CONFIG_CODES:
        return KieConfigError(code, message)
    if code in FINAL_SERVER_CODES:
        return KieRejected(code, message)
    if code in RETRYABLE_CODES or code >= 500:
        return KieRetryable(code, message, retry_after_s)
    return KieRejected(code, message)
