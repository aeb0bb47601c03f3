"""Every KIE family's callback and query shapes, read into one `TaskStatus`.

The families disagree on almost everything (taskId vs task_id, msg vs message,
creditsConsumed vs consumeCredits, state strings vs successFlag numbers, where
the URLs live), so each has its own small reader and they share the tolerant
helpers below. Unknown shapes raise `MalformedResult`, never guess success.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any


class TaskState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        return self in (TaskState.SUCCESS, TaskState.FAILED)


@dataclass(frozen=True)
class TaskStatus:
    state: TaskState
    task_id: str | None = None
    result_urls: tuple[str, ...] = ()
    text: str | None = None
    credits_consumed: Decimal | None = None
    fail_code: str | None = None
    fail_message: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


class MalformedResult(ValueError):
    """The body is not a shape this family ever sends."""


def _sub(container: Mapping[str, Any], key: str) -> dict[str, Any]:
    """A nested object, or {} when absent or not an object."""
    value = container.get(key)
    return value if isinstance(value, dict) else {}


def _obj(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedResult(f"{what} must be an object")
    return value


def message_of(body: Mapping[str, Any]) -> str:
    return str(body.get("msg") or body.get("message") or "")


def task_id_of(body: Mapping[str, Any]) -> str | None:
    """The signed-callback rule: body.taskId, else data.taskId, else data.task_id."""
    data = _sub(body, "data")
    for candidate in (body.get("taskId"), data.get("taskId"), data.get("task_id")):
        if isinstance(candidate, str) and candidate:
            return candidate
    return None


def _credits(data: Mapping[str, Any]) -> Decimal | None:
    for key in ("creditsConsumed", "consumeCredits"):
        value = data.get(key)
        if value is None or isinstance(value, bool):
            continue
        try:
            return Decimal(str(value))
        except InvalidOperation:
            raise MalformedResult(f"{key} is not a number: {value!r}") from None
    return None


def _urls(*values: object) -> tuple[str, ...]:
    found: list[str] = []
    for value in values:
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, dict):
                item = item.get("resultUrl") or item.get("url")
            if isinstance(item, str) and item.startswith(("http://", "https://")):
                found.append(item)
    return tuple(found)


def _success_or_fail(
    ok: bool, task_id: str | None, urls: tuple[str, ...], code: object, message: str, **more: Any
) -> TaskStatus:
    if ok:
        if not urls and more.get("text") is None:
            raise MalformedResult("a success without any result")
        return TaskStatus(TaskState.SUCCESS, task_id, urls, **more)
    return TaskStatus(
        TaskState.FAILED,
        task_id,
        fail_code=None if code is None else str(code),
        fail_message=message or "generation failed",
        credits_consumed=more.get("credits_consumed"),
    )


# --- market (jobs API): the callback's data is the recordInfo object ----------------------
_MARKET_STATES = {
    "waiting": TaskState.PENDING,
    "queuing": TaskState.PENDING,
    "generating": TaskState.RUNNING,
    "success": TaskState.SUCCESS,
    "fail": TaskState.FAILED,
}


def _market_record(data: Mapping[str, Any]) -> TaskStatus:
    state = _MARKET_STATES.get(str(data.get("state")))
    if state is None:
        raise MalformedResult(f"unknown market state {data.get('state')!r}")
    task_id = task_id_of({"data": data})
    credits = _credits(data)
    if not state.final:
        return TaskStatus(state, task_id)
    if state is TaskState.FAILED:
        return _success_or_fail(
            False,
            task_id,
            (),
            data.get("failCode"),
            str(data.get("failMsg") or ""),
            credits_consumed=credits,
        )
    raw = data.get("resultJson")
    try:
        result = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:
        raise MalformedResult("resultJson is not JSON") from None
    result = _obj(result, "resultJson")
    text = None
    if "resultObject" in result:
        text = json.dumps(result["resultObject"], ensure_ascii=False)
    elif isinstance(result.get("resultText"), str):
        text = result["resultText"]
    urls = _urls(result.get("resultUrls"), result.get("firstFrameUrl"), result.get("lastFrameUrl"))
    return _success_or_fail(True, task_id, urls, None, "", text=text, credits_consumed=credits)


def _market_callback(body: Mapping[str, Any]) -> TaskStatus:
    return _market_record(_obj(body.get("data"), "data"))


# --- families whose outcome is the envelope code, with URLs in data ----------------------
def _coded_callback(
    urls_of: Callable[[dict[str, Any]], tuple[str, ...]],
) -> Callable[[Mapping[str, Any]], TaskStatus]:
    def parse(body: Mapping[str, Any]) -> TaskStatus:
        data = _sub(body, "data")
        code = body.get("code")
        return _success_or_fail(
            code == 200,
            task_id_of(body),
            urls_of(data),
            code,
            message_of(body),
            credits_consumed=_credits(data),
        )

    return parse


def _info(data: dict[str, Any]) -> dict[str, Any]:
    info = data.get("info")
    return info if isinstance(info, dict) else {}


_CALLBACKS: dict[str, Callable[[Mapping[str, Any]], TaskStatus]] = {
    "market": _market_callback,
    "veo": _coded_callback(lambda d: _urls(_info(d).get("resultUrls"))),
    "runway": _coded_callback(lambda d: _urls(d.get("video_url"))),
    "runway_aleph": _coded_callback(lambda d: _urls(d.get("video_url"))),
    "flux_kontext": _coded_callback(lambda d: _urls(_info(d).get("resultImageUrl"))),
    "gpt4o_image": _coded_callback(lambda d: _urls(_info(d).get("result_urls"))),
    "midjourney": _coded_callback(lambda d: _urls(d.get("resultUrls"))),
}


def _suno_callback(body: Mapping[str, Any]) -> TaskStatus:
    data = _obj(body.get("data"), "data")
    stage = str(data.get("callbackType") or "")
    task_id = task_id_of(body)
    code = body.get("code")
    if code != 200 or stage == "error":
        return _success_or_fail(False, task_id, (), code, message_of(body))
    if stage in ("text", "first"):
        return TaskStatus(TaskState.RUNNING, task_id, extra={"stage": stage})
    if stage != "complete":
        raise MalformedResult(f"unknown suno callbackType {stage!r}")
    items = [item for item in data.get("data") or [] if isinstance(item, dict)]
    urls = _urls(*(item.get("audio_url") for item in items))
    lyrics = [str(item["text"]) for item in items if isinstance(item.get("text"), str)]
    text = "\n\n".join(lyrics) if lyrics else None
    return _success_or_fail(True, task_id, urls, None, "", text=text)


_CALLBACKS["suno"] = _suno_callback


def parse_callback(family: str, body: object) -> TaskStatus:
    """A callback body as KIE posts it for this family."""
    parser = _CALLBACKS.get(family)
    if parser is None:
        raise MalformedResult(f"family {family!r} sends no callbacks")
    return parser(_obj(body, "callback body"))


# --- query endpoints (recordInfo / record-info / record-detail) --------------------------
def _flagged_record(
    urls_of: Callable[[dict[str, Any]], tuple[str, ...]],
) -> Callable[[Mapping[str, Any]], TaskStatus]:
    """successFlag 0 generating, 1 success, 2/3 failed (veo, flux, 4o, aleph, mj)."""

    def parse(data: Mapping[str, Any]) -> TaskStatus:
        flag = data.get("successFlag")
        task_id = task_id_of({"data": data})
        if flag in (0, "0", None):
            return TaskStatus(TaskState.RUNNING, task_id)
        response = _sub(data, "response")
        ok = flag in (1, "1")
        message = str(data.get("errorMessage") or data.get("failMsg") or "")
        code = data.get("errorCode") or data.get("failCode")
        return _success_or_fail(
            ok,
            task_id,
            urls_of({**data, **response}) if ok else (),
            code,
            message,
            credits_consumed=_credits(data),
        )

    return parse


_RUNWAY_STATES = {
    "wait": TaskState.PENDING,
    "queueing": TaskState.PENDING,
    "generating": TaskState.RUNNING,
    "success": TaskState.SUCCESS,
    "fail": TaskState.FAILED,
}


def _runway_record(data: Mapping[str, Any]) -> TaskStatus:
    state = _RUNWAY_STATES.get(str(data.get("state")))
    if state is None:
        raise MalformedResult(f"unknown runway state {data.get('state')!r}")
    task_id = task_id_of({"data": data})
    if not state.final:
        return TaskStatus(state, task_id)
    info = _sub(data, "videoInfo")
    return _success_or_fail(
        state is TaskState.SUCCESS,
        task_id,
        _urls(info.get("videoUrl")),
        data.get("failCode"),
        str(data.get("failMsg") or ""),
        credits_consumed=_credits(data),
    )


_SUNO_RUNNING = {"PENDING", "TEXT_SUCCESS", "FIRST_SUCCESS"}
_SUNO_FAILED = {
    "CREATE_TASK_FAILED",
    "GENERATE_AUDIO_FAILED",
    "GENERATE_LYRICS_FAILED",
    "SENSITIVE_WORD_ERROR",
}


def _suno_record(data: Mapping[str, Any]) -> TaskStatus:
    status = str(data.get("status"))
    task_id = task_id_of({"data": data})
    response = _sub(data, "response")
    items = [
        i for i in response.get("sunoData") or response.get("data") or [] if isinstance(i, dict)
    ]
    urls = _urls(*(item.get("audioUrl") or item.get("audio_url") for item in items))
    if status == "CALLBACK_EXCEPTION":
        # KIE failed to call us back, not to make the music: tracks there are a success,
        # none yet means asking again (the job's deadline bounds the asking).
        status = "SUCCESS" if urls else "PENDING"
    if status in _SUNO_RUNNING:
        return TaskStatus(TaskState.RUNNING, task_id)
    if status in _SUNO_FAILED:
        return _success_or_fail(
            False,
            task_id,
            (),
            data.get("errorCode") or status,
            str(data.get("errorMessage") or status),
        )
    if status not in ("SUCCESS", "complete"):
        # A status we do not know is no verdict: refunding a user whose tracks exist would be
        # wrong, so the record is unreadable and asked for again.
        raise MalformedResult(f"unknown suno status {status!r}")
    lyrics = [str(item["text"]) for item in items if isinstance(item.get("text"), str)]
    return _success_or_fail(
        True,
        task_id,
        urls,
        None,
        "",
        text="\n\n".join(lyrics) if lyrics else None,
        credits_consumed=_credits(data),
    )


_RECORDS: dict[str, Callable[[Mapping[str, Any]], TaskStatus]] = {
    "market": _market_record,
    "veo": _flagged_record(lambda d: _urls(d.get("resultUrls"))),
    "runway": _runway_record,
    "runway_aleph": _flagged_record(lambda d: _urls(d.get("resultVideoUrl"))),
    "flux_kontext": _flagged_record(lambda d: _urls(d.get("resultImageUrl"))),
    "gpt4o_image": _flagged_record(lambda d: _urls(d.get("resultUrls"))),
    "midjourney": _flagged_record(
        lambda d: _urls(
            (d.get("resultInfoJson") or {}).get("resultUrls")
            if isinstance(d.get("resultInfoJson"), dict)
            else d.get("resultUrls")
        )
    ),
    "suno": _suno_record,
}


def parse_record(family: str, data: object) -> TaskStatus:
    """The `data` of a successful query envelope for this family."""
    parser = _RECORDS.get(family)
    if parser is None:
        raise MalformedResult(f"family {family!r} has no query endpoint")
    return parser(_obj(data, "record"))
