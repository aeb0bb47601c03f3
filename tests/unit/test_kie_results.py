"""Every family's callback and query shape, as KIE's docs record them, read into TaskStatus."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from shared.kie.errors import (
    KieConfigError,
    KieOutOfCredits,
    KieRejected,
    KieRetryable,
    error_for_code,
)
from shared.kie.results import MalformedResult, TaskState, parse_callback, parse_record
from shared.kie.signing import (
    SignatureError,
    callback_url,
    job_signature,
    kie_webhook_signature,
    verify_job_signature,
    verify_kie_webhook,
)

MARKET_SUCCESS = {
    "code": 200,
    "msg": "Playground task completed successfully.",
    "data": {
        "taskId": "e989621f54392584b05867f87b160672",
        "model": "kling-2.6/text-to-video",
        "state": "success",
        "param": "{}",
        "resultJson": '{"resultUrls":["https://tempfile.aiquickdraw.com/v.mp4"]}',
        "failCode": None,
        "failMsg": None,
        "costTime": 12,
        "creditsConsumed": 55,
    },
}
MARKET_FAIL_2025 = {
    "code": 501,
    "msg": "Playground task failed.",
    "data": {
        "consumeCredits": 0,
        "failCode": "500",
        "failMsg": "Internal server error",
        "state": "fail",
        "taskId": "bd3a37c523149e4adf45a3ddb5faf1a8",
        "resultJson": None,
    },
}

CALLBACKS: list[tuple[str, dict[str, Any], TaskState, tuple[str, ...]]] = [
    ("market", MARKET_SUCCESS, TaskState.SUCCESS, ("https://tempfile.aiquickdraw.com/v.mp4",)),
    ("market", MARKET_FAIL_2025, TaskState.FAILED, ()),
    (
        "veo",
        {
            "code": 200,
            "msg": "Veo3.1 video generated successfully.",
            "data": {
                "taskId": "veo_1",
                "info": {"resultUrls": ["https://f.example/v.mp4"], "resolution": "1080p"},
                "fallbackFlag": False,
            },
        },
        TaskState.SUCCESS,
        ("https://f.example/v.mp4",),
    ),
    (
        "veo",
        {"code": 400, "msg": "Your prompt was flagged by Website", "data": {"taskId": "veo_2"}},
        TaskState.FAILED,
        (),
    ),
    (
        "runway",
        {
            "code": 200,
            "msg": "All generated successfully.",
            "data": {
                "image_url": "https://file.com/m/x.png",
                "task_id": "ee60",
                "video_id": "485d",
                "video_url": "https://file.com/k/x.mp4",
            },
        },
        TaskState.SUCCESS,
        ("https://file.com/k/x.mp4",),
    ),
    (
        "flux_kontext",
        {
            "code": 200,
            "msg": "BFL image generated successfully.",
            "data": {
                "taskId": "task12345",
                "info": {
                    "originImageUrl": "https://example.com/original.jpg",
                    "resultImageUrl": "https://example.com/result.jpg",
                },
            },
        },
        TaskState.SUCCESS,
        ("https://example.com/result.jpg",),
    ),
    (
        "gpt4o_image",
        {
            "code": 200,
            "msg": "success",
            "data": {"taskId": "t", "info": {"result_urls": ["https://e.com/1.png"]}},
        },
        TaskState.SUCCESS,
        ("https://e.com/1.png",),
    ),
    (
        "midjourney",
        {
            "code": 200,
            "msg": "success",
            "data": {"taskId": "mj", "resultUrls": ["https://e.com/a.png", "https://e.com/b.png"]},
        },
        TaskState.SUCCESS,
        ("https://e.com/a.png", "https://e.com/b.png"),
    ),
    (
        "suno",
        {
            "code": 200,
            "msg": "All generated successfully.",
            "data": {
                "callbackType": "complete",
                "task_id": "2fac",
                "data": [
                    {"audio_url": "https://e.cn/1.mp3", "title": "Iron Man"},
                    {"audio_url": "https://e.cn/2.mp3", "title": "Iron Man"},
                ],
            },
        },
        TaskState.SUCCESS,
        ("https://e.cn/1.mp3", "https://e.cn/2.mp3"),
    ),
    (
        "suno",
        {"code": 200, "msg": "text done", "data": {"callbackType": "text", "task_id": "2fac"}},
        TaskState.RUNNING,
        (),
    ),
]


@pytest.mark.parametrize(("family", "body", "state", "urls"), CALLBACKS)
def test_callback_bodies_of_every_family(
    family: str, body: dict[str, Any], state: TaskState, urls: tuple[str, ...]
) -> None:
    status = parse_callback(family, body)
    assert (status.state, status.result_urls) == (state, urls)
    assert status.task_id


def test_market_credits_come_from_either_spelling() -> None:
    assert parse_callback("market", MARKET_SUCCESS).credits_consumed == Decimal(55)
    failed = parse_callback("market", MARKET_FAIL_2025)
    assert (failed.credits_consumed, failed.fail_code, failed.fail_message) == (
        Decimal(0),
        "500",
        "Internal server error",
    )


def test_suno_lyrics_arrive_as_text() -> None:
    body = {
        "code": 200,
        "msg": "All generated successfully",
        "data": {
            "callbackType": "complete",
            "task_id": "11dc",
            "data": [{"text": "[Verse]\nLa la", "title": "Example", "status": "complete"}],
        },
    }
    assert parse_callback("suno", body).text == "[Verse]\nLa la"


def test_message_may_be_spelled_message() -> None:
    body = {"code": 422, "message": "Ratio error", "data": {"taskId": "v"}}
    assert parse_callback("veo", body).fail_message == "Ratio error"


@pytest.mark.parametrize(
    ("family", "body"),
    [
        ("market", {"code": 200, "data": {"taskId": "x", "state": "exploded"}}),
        ("market", {"code": 200, "data": {"taskId": "x", "state": "success", "resultJson": "{"}}),
        ("market", {"code": 200, "data": {"taskId": "x", "state": "success", "resultJson": "{}"}}),
        ("veo", {"code": 200, "data": {"taskId": "x", "info": {}}}),  # success without a URL
        ("market", {"code": 200, "data": "nope"}),
        ("chat", {"code": 200}),
    ],
)
def test_shapes_no_family_sends_are_refused(family: str, body: dict[str, Any]) -> None:
    with pytest.raises(MalformedResult):
        parse_callback(family, body)


@pytest.mark.parametrize(
    ("family", "data", "state"),
    [
        ("market", {"taskId": "t", "state": "generating"}, TaskState.RUNNING),
        ("market", {"taskId": "t", "state": "queuing"}, TaskState.PENDING),
        ("veo", {"taskId": "t", "successFlag": 0}, TaskState.RUNNING),
        (
            "veo",
            {"taskId": "t", "successFlag": 1, "response": {"resultUrls": ["https://a/v"]}},
            TaskState.SUCCESS,
        ),
        ("veo", {"taskId": "t", "successFlag": 3, "errorMessage": "boom"}, TaskState.FAILED),
        ("runway", {"taskId": "t", "state": "wait"}, TaskState.PENDING),
        (
            "runway",
            {"taskId": "t", "state": "success", "videoInfo": {"videoUrl": "https://a/r"}},
            TaskState.SUCCESS,
        ),
        ("suno", {"taskId": "t", "status": "FIRST_SUCCESS"}, TaskState.RUNNING),
        ("suno", {"taskId": "t", "status": "SENSITIVE_WORD_ERROR"}, TaskState.FAILED),
        ("suno", {"taskId": "t", "status": "GENERATE_AUDIO_FAILED"}, TaskState.FAILED),
        # KIE could not call us back: the tracks it made are still a success; none yet,
        # still running.
        (
            "suno",
            {
                "taskId": "t",
                "status": "CALLBACK_EXCEPTION",
                "response": {"sunoData": [{"audioUrl": "https://a/s.mp3"}]},
            },
            TaskState.SUCCESS,
        ),
        ("suno", {"taskId": "t", "status": "CALLBACK_EXCEPTION"}, TaskState.RUNNING),
        (
            "suno",
            {
                "taskId": "t",
                "status": "SUCCESS",
                "response": {"sunoData": [{"audioUrl": "https://a/s.mp3"}]},
            },
            TaskState.SUCCESS,
        ),
        (
            "midjourney",
            {
                "taskId": "t",
                "successFlag": 1,
                "resultInfoJson": {"resultUrls": [{"resultUrl": "https://a/m.png"}]},
            },
            TaskState.SUCCESS,
        ),
    ],
)
def test_query_records_of_every_family(family: str, data: dict[str, Any], state: TaskState) -> None:
    status = parse_record(family, data)
    assert status.state is state
    if state is TaskState.SUCCESS:
        assert status.result_urls and all(u.startswith("https://") for u in status.result_urls)


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (401, KieConfigError),
        (433, KieConfigError),
        (402, KieOutOfCredits),
        (429, KieRetryable),
        (455, KieRetryable),
        (500, KieRetryable),
        (422, KieRejected),
        (400, KieRejected),
        (501, KieRejected),
        (505, KieRejected),
    ],
)
def test_kie_codes_map_to_what_the_job_does_next(code: int, kind: type[Exception]) -> None:
    assert type(error_for_code(code, "x")) is kind


def test_callback_url_signature_round_trip() -> None:
    url = callback_url("https://fn.example/kie_callback", "job-1", "secret")
    assert url.startswith("https://fn.example/kie_callback?job=job-1&sig=")
    assert verify_job_signature("job-1", job_signature("job-1", "secret"), "secret") == "job-1"
    with pytest.raises(SignatureError) as forged:
        verify_job_signature("job-2", job_signature("job-1", "secret"), "secret")
    assert forged.value.status == 403
    with pytest.raises(SignatureError) as missing:
        verify_job_signature("job-1", None, "secret")
    assert missing.value.status == 401


def test_kie_webhook_signature_as_documented() -> None:
    signature = kie_webhook_signature("ee9c2715375b7837f8bb51d641ff5863", "1769670760", "k")
    verify_kie_webhook(
        "ee9c2715375b7837f8bb51d641ff5863",
        "1769670760",
        signature,
        "k",
        now_s=1769670800,
        window_s=300,
    )
    with pytest.raises(SignatureError, match="window"):
        verify_kie_webhook(
            "ee9c2715375b7837f8bb51d641ff5863",
            "1769670760",
            signature,
            "k",
            now_s=1769670760 + 301,
            window_s=300,
        )
    with pytest.raises(SignatureError, match="does not match"):
        verify_kie_webhook(
            "another-task", "1769670760", signature, "k", now_s=1769670760, window_s=300
        )


def test_results_survive_a_json_round_trip() -> None:
    # Bodies arrive as JSON text: parsing what json.loads gives must give the same status.
    again = json.loads(json.dumps(MARKET_SUCCESS))
    assert parse_callback("market", again) == parse_callback("market", MARKET_SUCCESS)


@pytest.mark.parametrize("status", [None, "SOMETHING_NEW"])
def test_a_suno_status_we_do_not_know_is_no_verdict(status: str | None) -> None:
    """Read as a failure, it would refund a user whose tracks may exist: asked again."""
    with pytest.raises(MalformedResult):
        parse_record("suno", {"taskId": "t", "status": status})
