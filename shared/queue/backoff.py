"""Cloud Tasks' retry schedule and the worker's Retry-After, as pure functions."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from shared.queue.port import MAX_DELAY_S


def backoff_s(retry_number: int, *, min_s: float, max_s: float, max_doublings: int) -> float:
    """The wait before retry `retry_number` (1 = the first retry), as RetryConfig defines it.

    The interval starts at min_backoff, doubles max_doublings times, then grows
    linearly by min_backoff * 2**max_doublings per retry, and never exceeds
    max_backoff. RetryConfig's own example: min 10 s, max 300 s, 3 doublings →
    10, 20, 40, 80, 160, 240, 300, 300 …
    """
    if retry_number < 1:
        raise ValueError(f"retry_number starts at 1, got {retry_number}")
    doublings = min(retry_number - 1, max_doublings)
    linear_steps = retry_number - 1 - doublings
    delay = math.ldexp(min_s, doublings) + math.ldexp(min_s, max_doublings) * linear_steps
    return min(delay, max_s)


def retry_after_s(header: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds a Retry-After header asks for (delta-seconds or an HTTP date); None if absent/bad."""
    if header is None:
        return None
    value = header.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:  # RFC 9110 dates are GMT
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), float(MAX_DELAY_S))
