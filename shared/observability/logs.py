"""One JSON object per line on stdout: Cloud Logging's structured format.

Cloud Logging (and CloudWatch, which simply stores the line) turns `severity`,
`message`, `logging.googleapis.com/trace` and every other key of the object
into a searchable entry. Fields such as job_id, user_id or kie_code come from
`extra=` on the logging call. Anything that looks like a secret is masked
before it is written: bot tokens, Bearer keys, signatures in callback URLs.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

# Attributes every LogRecord has; everything else came from `extra=` and is logged.
_STANDARD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys() | {"message", "asctime"}
)
_SECRETS = (
    (re.compile(r"(?<![0-9])\d{6,12}:[A-Za-z0-9_-]{30,}"), "<bot-token>"),
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1<redacted>"),
    (re.compile(r"(?i)([?&](?:sig|token|secret|key)=)[^&\s\"']+"), r"\1<redacted>"),
)
_trace: contextvars.ContextVar[str | None] = contextvars.ContextVar("trace", default=None)


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact(str(value))


class CloudJsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": record.levelname,
            "message": redact(record.getMessage()),
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "logger": record.name,
        }
        if record.exc_info:
            entry["message"] += "\n" + redact(self.formatException(record.exc_info))
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = _clean(value)
        trace = _trace.get()
        if trace:
            entry["logging.googleapis.com/trace"] = trace
        return json.dumps(entry, ensure_ascii=False, default=str)


# Libraries that log every call at INFO: httpx writes a line per outgoing request, which
# would double the log volume and cost ~0.1 ms of CPU each. Shown again at DEBUG.
CHATTY_LOGGERS = ("httpx",)


def configure_logging(level: str = "INFO") -> None:
    """Route every logger to stdout as JSON lines (once per process)."""
    root = logging.getLogger()
    if any(isinstance(h.formatter, CloudJsonFormatter) for h in root.handlers):
        # Called per request: setLevel empties every logger's level cache, even unchanged.
        if logging.getLevelName(root.level) != level.upper():
            _set_levels(root, level)
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(CloudJsonFormatter())
    root.handlers[:] = [handler]
    _set_levels(root, level)


def _set_levels(root: logging.Logger, level: str) -> None:
    root.setLevel(level)
    chatty_level = (
        logging.NOTSET if root.level <= logging.DEBUG else max(root.level, logging.WARNING)
    )
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(chatty_level)


def set_trace(header: str | None, project: str | None) -> None:
    """Link this request's log lines to its trace, from `X-Cloud-Trace-Context: TRACE/SPAN;o=1`."""
    trace_id = (header or "").split("/", 1)[0]
    _trace.set(
        f"projects/{project}/traces/{trace_id}"
        if project and re.fullmatch(r"[0-9a-f]{32}", trace_id)
        else None
    )
