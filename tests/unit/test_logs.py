"""Log lines are Cloud Logging's JSON, carry the request's trace and fields, and never secrets."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from shared.observability import metrics
from shared.observability.logs import CloudJsonFormatter, configure_logging, redact, set_trace


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(CloudJsonFormatter())
    logger = logging.getLogger("kie_studio")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    set_trace(None, None)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_is_cloud_logging_json_with_its_fields(captured: io.StringIO) -> None:
    set_trace("0123456789abcdef0123456789abcdef/42;o=1", "studio-prod")
    logging.getLogger("kie_studio.jobs").critical(
        "KIE account out of credits", extra={"alert": True, "job_id": "j-1", "user_id": 7}
    )
    [entry] = lines(captured)
    assert entry["severity"] == "CRITICAL"
    assert entry["message"] == "KIE account out of credits"
    assert (entry["alert"], entry["job_id"], entry["user_id"]) == (True, "j-1", 7)
    assert entry["logging.googleapis.com/trace"] == (
        "projects/studio-prod/traces/0123456789abcdef0123456789abcdef"
    )


def test_a_malformed_trace_header_is_not_logged(captured: io.StringIO) -> None:
    set_trace("not-a-trace", "studio-prod")
    logging.getLogger("kie_studio.jobs").info("hello")
    assert "logging.googleapis.com/trace" not in lines(captured)[0]


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (
            "calling https://api.telegram.org/bot7903518264:AAHxQ9c2-vZ1kP0rT4m8Yb3nW6sLe5dUf7g/sendMessage",
            "AAHxQ9c2-vZ1kP0rT4m8Yb3nW6sLe5dUf7g",
        ),
        ("Authorization: Bearer sk-live-0123456789abcdef", "sk-live-0123456789abcdef"),
        (
            "POST /fn/kie_callback?job=j-1&sig=d14ae3cdd32c98d721fbb2e41f",
            "d14ae3cdd32c98d721fbb2e41f",
        ),
    ],
)
def test_secrets_are_masked_in_messages_and_fields(
    captured: io.StringIO, text: str, secret: str
) -> None:
    assert secret not in redact(text)
    logging.getLogger("kie_studio.jobs").warning(text, extra={"url": text})
    raw = captured.getvalue()
    assert secret not in raw
    assert "kie_callback" in raw or "Bearer" in raw or "sendMessage" in raw


def test_metrics_are_log_lines_a_log_based_metric_can_count(captured: io.StringIO) -> None:
    metrics.emit(metrics.KIE_ERROR, kie_code=429, operation="create")
    [entry] = lines(captured)
    assert (entry["metric"], entry["value"], entry["kie_code"], entry["operation"]) == (
        "kie_error",
        1,
        429,
        "create",
    )


@pytest.fixture
def fresh_logging() -> Iterator[logging.Logger]:
    """The root logger with no handlers; its handlers and every level put back after,
    through setLevel, which also empties logging's per-logger cache of enabled levels."""
    root, chatty = logging.getLogger(), logging.getLogger("httpx")
    handlers, root_level, chatty_level = root.handlers[:], root.level, chatty.level
    root.handlers[:] = []
    try:
        yield root
    finally:
        root.handlers[:] = handlers
        chatty.setLevel(chatty_level)
        root.setLevel(root_level)


def test_logging_set_up_per_request_follows_a_changed_level(
    fresh_logging: logging.Logger,
) -> None:
    root = fresh_logging
    configure_logging("INFO")
    configure_logging("INFO")  # the next request: nothing to change
    assert len(root.handlers) == 1 and root.level == logging.INFO
    child = logging.getLogger("configure_logging_test")
    assert not child.isEnabledFor(logging.DEBUG)  # cached by logging
    configure_logging("DEBUG")
    assert root.level == logging.DEBUG and child.isEnabledFor(logging.DEBUG)


def test_httpx_request_lines_are_logged_at_debug_only(fresh_logging: logging.Logger) -> None:
    chatty = logging.getLogger("httpx")
    configure_logging("INFO")
    assert not chatty.isEnabledFor(logging.INFO)  # a line per outgoing request
    assert chatty.isEnabledFor(logging.WARNING)
    configure_logging("DEBUG")
    assert chatty.isEnabledFor(logging.INFO)
    configure_logging("ERROR")  # quieter than WARNING: httpx too
    assert not chatty.isEnabledFor(logging.WARNING)
    assert chatty.isEnabledFor(logging.ERROR)
