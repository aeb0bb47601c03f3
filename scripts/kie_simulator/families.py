"""Each KIE API family's own shapes: its query record, its callback bodies, its failure reasons.

Shapes follow KIE's OpenAPI and callback examples (docs/KIE_SIMULATOR.md lists them and says
where a shape had to be inferred). A handler is pure: it turns a Task, a moment and the
simulator's base URL into JSON; it never sends anything.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar

from scripts.kie_simulator.catalogue import MediaKind
from scripts.kie_simulator.state import FailureReason, Task

# A callback body plus when (as a fraction of the task's delay) and under which label it goes.
StageCallback = tuple[float, str, dict[str, Any]]


def _ms(moment: float) -> int:
    return int(moment * 1000)


def _clock(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _stable_id(task: Task, salt: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"kie-sim:{task.task_id}:{salt}"))


@dataclass(frozen=True)
class Links:
    """Result URLs on the simulator itself; the task id in the path keeps them unique per task."""

    base_url: str
    task_id: str

    def file(self, name: str) -> str:
        return f"{self.base_url}/files/{self.task_id}/{name}"

    def for_kind(self, kind: MediaKind) -> str:
        names = {
            "video": "result.mp4",
            "image": "result.png",
            "audio": "result.mp3",
            "text": "result.txt",
        }
        return self.file(names[kind])


class Family:
    name = "base"
    staged = False  # sends stage callbacks before the final one (Suno)
    reasons: tuple[FailureReason, ...] = (
        FailureReason("500", "Internal Error, Please try again later.", False),
    )

    def record(self, task: Task, now: float, links: Links, kind: MediaKind) -> dict[str, Any]:
        raise NotImplementedError

    def final_callback(self, task: Task, links: Links, kind: MediaKind) -> dict[str, Any]:
        raise NotImplementedError

    def stage_callbacks(self, task: Task, links: Links, kind: MediaKind) -> list[StageCallback]:
        """Callbacks KIE sends before the final one (only Suno has them)."""
        return []

    def stale_callbacks(self, task: Task, links: Links, kind: MediaKind) -> list[StageCallback]:
        """What arrives late when delivery is out of order (Suno: an earlier stage)."""
        return []

    @staticmethod
    def failure(task: Task) -> FailureReason:
        if task.outcome.failure is None:
            raise ValueError(f"{task.task_id} did not fail")
        return task.outcome.failure


class MarketFamily(Family):
    name = "market"
    reasons = (
        FailureReason("500", "Internal server error", False),
        FailureReason("GENERATION_FAILED", "Generation failed, please try again later.", False),
        FailureReason(
            "400",
            "Your prompt was flagged by the content moderation system as violating "
            "content policies. Please modify your prompt and try again.",
            True,
        ),
    )

    def _result_json(self, links: Links, kind: MediaKind) -> str:
        if kind == "text":
            return json.dumps({"resultObject": {"text": "Simulated KIE text result."}})
        return json.dumps({"resultUrls": [links.for_kind(kind)]})

    def _data(
        self, task: Task, now: float, links: Links, kind: MediaKind, *, callback: bool
    ) -> dict[str, Any]:
        phase = task.phase(now)
        done = phase == "done"
        success = done and task.outcome.success
        failed = done and not task.outcome.success
        reason = task.outcome.failure if failed else None
        # recordInfo says failCode/failMsg are "" on success; the callback example has null.
        empty: str | None = None if callback else ""
        return {
            "taskId": task.task_id,
            "model": task.model_id or task.body.get("model"),
            "state": ("success" if success else "fail") if done else phase,
            "param": json.dumps(task.body),
            "resultJson": self._result_json(links, kind) if success else None,
            "failCode": reason.code if reason else empty,
            "failMsg": reason.message if reason else empty,
            "costTime": _ms(task.finish_at - task.created_at) if done else 0,
            "completeTime": _ms(task.finish_at) if done else None,
            "createTime": _ms(task.created_at),
            "updateTime": _ms(task.finish_at if done else now),
            "creditsConsumed": _number(task.credits) if success else 0,
        }

    def record(self, task: Task, now: float, links: Links, kind: MediaKind) -> dict[str, Any]:
        return self._data(task, now, links, kind, callback=False)

    def final_callback(self, task: Task, links: Links, kind: MediaKind) -> dict[str, Any]:
        success = task.outcome.success
        return {
            "code": 200 if success else 501,
            "msg": "Playground task completed successfully."
            if success
            else "Playground task failed.",
            "data": self._data(task, task.finish_at, links, kind, callback=True),
        }


class VeoFamily(Family):
    name = "veo"
    reasons = (
        FailureReason(
            "400", "Your prompt was flagged by Website as violating content policies.", True
        ),
        FailureReason("500", "Internal Error, Please try again later.", False),
        FailureReason("501", "Failed - Video generation task failed", False),
    )

    def _info(self, task: Task, links: Links) -> dict[str, Any]:
        video = links.file("result.mp4")
        ratio = task.body.get("aspect_ratio") or task.body.get("aspectRatio") or "16:9"
        return {
            "resultUrls": [video],
            # "Only has value when aspect_ratio is not 16:9" (Veo callback docs).
            "originUrls": [] if ratio == "16:9" else [links.file("origin.mp4")],
            "resolution": str(task.body.get("resolution") or "1080p"),
        }

    def record(self, task: Task, now: float, links: Links, kind: MediaKind) -> dict[str, Any]:
        done = task.phase(now) == "done"
        success = done and task.outcome.success
        reason = task.outcome.failure if done and not success else None
        response = None
        if success:
            response = {"taskId": task.task_id, **self._info(task, links)}
            response["fullResultUrls"] = list(response["resultUrls"])
        flag = 0
        if success:
            flag = 1
        elif reason is not None:
            # 2: refused before generation (policy); 3: created but generation failed upstream.
            flag = 2 if reason.content_policy else 3
        return {
            "taskId": task.task_id,
            "paramJson": json.dumps(task.body),
            "completeTime": _clock(task.finish_at) if done else None,
            "response": response,
            "successFlag": flag,
            "errorCode": int(reason.code) if reason else None,
            "errorMessage": reason.message if reason else "",
            "createTime": _clock(task.created_at),
            "fallbackFlag": False,
        }

    def final_callback(self, task: Task, links: Links, kind: MediaKind) -> dict[str, Any]:
        if task.outcome.success:
            return {
                "code": 200,
                "msg": "Veo3.1 video generated successfully.",
                "data": {
                    "taskId": task.task_id,
                    "info": self._info(task, links),
                    "fallbackFlag": False,
                },
            }
        reason = self.failure(task)
        return {
            "code": int(reason.code),
            "msg": reason.message,
            "data": {"taskId": task.task_id, "info": None, "fallbackFlag": False},
        }


RUNWAY_REASONS = (
    FailureReason(
        "400", "Your prompt was caught by our AI moderator. Please adjust it and try again!", True
    ),
    FailureReason("400", "Reached the limit for concurrent generations.", False),
    FailureReason("500", "Generation failed, please try again later", False),
)


def _runway_callback(task: Task, links: Links) -> dict[str, Any]:
    if task.outcome.success:
        return {
            "code": 200,
            "msg": "All generated successfully.",
            "data": {
                "image_url": links.file("result.png"),
                "task_id": task.task_id,
                "video_id": _stable_id(task, "video"),
                "video_url": links.file("result.mp4"),
            },
        }
    reason = Family.failure(task)
    # The failure body is not documented; the success keys are kept, empty, beside the code.
    return {
        "code": int(reason.code),
        "msg": reason.message,
        "data": {"image_url": "", "task_id": task.task_id, "video_id": "", "video_url": ""},
    }


class RunwayFamily(Family):
    name = "runway"
    reasons = RUNWAY_REASONS
    _states: ClassVar[dict[str, str]] = {
        "waiting": "wait",
        "queuing": "queueing",
        "generating": "generating",
    }

    def record(self, task: Task, now: float, links: Links, kind: MediaKind) -> dict[str, Any]:
        phase = task.phase(now)
        done = phase == "done"
        success = done and task.outcome.success
        reason = task.outcome.failure if done and not success else None
        return {
            "taskId": task.task_id,
            "parentTaskId": "",
            "generateParam": {
                "prompt": task.body.get("prompt", ""),
                "imageUrl": task.body.get("imageUrl", ""),
                "expandPrompt": False,
            },
            "state": ("success" if success else "fail") if done else self._states[phase],
            "generateTime": _clock(task.finish_at) if done else "",
            "videoInfo": (
                {
                    "videoId": _stable_id(task, "video"),
                    "taskId": task.task_id,
                    "videoUrl": links.file("result.mp4"),
                    "imageUrl": links.file("result.png"),
                }
                if success
                else None
            ),
            "failCode": int(reason.code) if reason else None,
            "failMsg": reason.message if reason else "",
            "expireFlag": 0,
        }

    def final_callback(self, task: Task, links: Links, kind: MediaKind) -> dict[str, Any]:
        return _runway_callback(task, links)


class RunwayAlephFamily(Family):
    name = "runway_aleph"
    reasons = RUNWAY_REASONS

    def record(self, task: Task, now: float, links: Links, kind: MediaKind) -> dict[str, Any]:
        done = task.phase(now) == "done"
        success = done and task.outcome.success
        reason = task.outcome.failure if done and not success else None
        return {
            "taskId": task.task_id,
            "paramJson": json.dumps(task.body),
            "response": (
                {
                    "taskId": task.task_id,
                    "resultVideoUrl": links.file("result.mp4"),
                    "resultImageUrl": links.file("result.png"),
                }
                if success
                else None
            ),
            "completeTime": _iso(task.finish_at) if done else None,
            "createTime": _iso(task.created_at),
            # The docs list only 0/1; a failure is reported as 2 with its error code, as in Veo.
            "successFlag": 1 if success else (2 if reason else 0),
            "errorCode": int(reason.code) if reason else 0,
            "errorMessage": reason.message if reason else "",
        }

    def final_callback(self, task: Task, links: Links, kind: MediaKind) -> dict[str, Any]:
        return _runway_callback(task, links)


class FluxKontextFamily(Family):
    name = "flux_kontext"
    reasons = (
        FailureReason(
            "400", "Your prompt was flagged by Website as violating content policies.", True
        ),
        FailureReason("500", "Internal Error, Please try again later.", False),
        FailureReason("501", "Image generation task failed", False),
    )

    def _info(self, task: Task, links: Links) -> dict[str, Any]:
        origin = task.body.get("inputImage") or links.file("origin.png")
        return {"originImageUrl": origin, "resultImageUrl": links.file("result.png")}

    def record(self, task: Task, now: float, links: Links, kind: MediaKind) -> dict[str, Any]:
        done = task.phase(now) == "done"
        success = done and task.outcome.success
        reason = task.outcome.failure if done and not success else None
        flag = 1 if success else 0
        if reason is not None:
            flag = 2 if reason.content_policy else 3
        return {
            "taskId": task.task_id,
            "paramJson": json.dumps(task.body),
            "completeTime": _iso(task.finish_at) if done else None,
            "response": self._info(task, links) if success else None,
            "successFlag": flag,
            "errorCode": int(reason.code) if reason else None,
            "errorMessage": reason.message if reason else "",
            "createTime": _iso(task.created_at),
        }

    def final_callback(self, task: Task, links: Links, kind: MediaKind) -> dict[str, Any]:
        if task.outcome.success:
            return {
                "code": 200,
                "msg": "BFL image generated successfully.",
                "data": {"taskId": task.task_id, "info": self._info(task, links)},
            }
        reason = self.failure(task)
        return {
            "code": int(reason.code),
            "msg": reason.message,
            "data": {"taskId": task.task_id, "info": None},
        }


class Gpt4oImageFamily(Family):
    name = "gpt4o_image"
    reasons = (
        FailureReason(
            "400",
            "Your content was flagged by OpenAI as violating content policies",
            True,
            "GENERATE_FAILED",
        ),
        FailureReason("500", "Failed to generate image", False, "GENERATE_FAILED"),
        FailureReason(
            "451",
            "Unable to download image from the provided filesUrl",
            False,
            "CREATE_TASK_FAILED",
        ),
    )

    def record(self, task: Task, now: float, links: Links, kind: MediaKind) -> dict[str, Any]:
        done = task.phase(now) == "done"
        success = done and task.outcome.success
        reason = task.outcome.failure if done and not success else None
        status = "GENERATING"
        if success:
            status = "SUCCESS"
        elif reason is not None:
            status = reason.status
        return {
            "taskId": task.task_id,
            "paramJson": json.dumps(task.body),
            "completeTime": _ms(task.finish_at) if done else None,
            "response": {"resultUrls": [links.file("result.png")]} if success else None,
            "successFlag": 1 if success else (2 if reason else 0),
            "status": status,
            "errorCode": int(reason.code) if reason else None,
            "errorMessage": reason.message if reason else "",
            "createTime": _ms(task.created_at),
            "progress": f"{task.progress(now):.2f}" if not reason else "0.00",
        }

    def final_callback(self, task: Task, links: Links, kind: MediaKind) -> dict[str, Any]:
        if task.outcome.success:
            return {
                "code": 200,
                "msg": "success",
                "data": {
                    "taskId": task.task_id,
                    "info": {"result_urls": [links.file("result.png")]},
                },
            }
        reason = self.failure(task)
        return {
            "code": int(reason.code),
            "msg": reason.message,
            "data": {"taskId": task.task_id, "info": None},
        }


class MidjourneyFamily(Family):
    name = "midjourney"
    reasons = (
        FailureReason(
            "400", "Your prompt was flagged by Website as violating content policies.", True
        ),
        FailureReason("500", "Internal Error, Please try again later.", False),
    )

    def _urls(self, links: Links) -> list[str]:
        return [links.file(f"result-{index}.png") for index in range(1, 5)]

    def record(self, task: Task, now: float, links: Links, kind: MediaKind) -> dict[str, Any]:
        done = task.phase(now) == "done"
        success = done and task.outcome.success
        reason = task.outcome.failure if done and not success else None
        return {
            "taskId": task.task_id,
            "taskType": task.body.get("taskType", "mj_txt2img"),
            "paramJson": json.dumps(task.body),
            "completeTime": _ms(task.finish_at) if done else None,
            "resultInfoJson": {"resultUrls": [{"resultUrl": u} for u in self._urls(links)]}
            if success
            else None,
            "successFlag": 1 if success else (3 if reason else 0),
            "errorCode": int(reason.code) if reason else None,
            "errorMessage": reason.message if reason else "",
            "createTime": _ms(task.created_at),
        }

    def final_callback(self, task: Task, links: Links, kind: MediaKind) -> dict[str, Any]:
        prompt_json = json.dumps({"prompt": task.body.get("prompt", ""), "model": "midjourney"})
        if task.outcome.success:
            data = {
                "taskId": task.task_id,
                "promptJson": prompt_json,
                "resultUrls": self._urls(links),
            }
            return {"code": 200, "msg": "success", "data": data}
        reason = self.failure(task)
        data = {"taskId": task.task_id, "promptJson": prompt_json, "resultUrls": []}
        return {"code": int(reason.code), "msg": reason.message, "data": data}


# Suno's stages, as fractions of the task's delay: text first, then the first track, then all.
SUNO_TEXT_AT = 1 / 3
SUNO_FIRST_AT = 2 / 3
SUNO_TRACK_SECONDS = 2.0


class SunoFamily(Family):
    name = "suno"
    staged = True
    reasons = (
        FailureReason(
            "400", "Lyrics contained copyrighted material.", True, "SENSITIVE_WORD_ERROR"
        ),
        FailureReason("501", "Audio generation failed.", False, "GENERATE_AUDIO_FAILED"),
        FailureReason(
            "531",
            "Sorry, the generation failed due to an issue. Your credits have been refunded. "
            "Please try again.",
            False,
            "GENERATE_AUDIO_FAILED",
        ),
    )

    def _model_name(self, task: Task) -> str:
        return "chirp-" + str(task.body.get("model") or "V4_5ALL").lower().replace("_", "-")

    def _tracks(self, task: Task, links: Links, stage: str) -> list[dict[str, Any]]:
        """Two tracks in snake_case; before `complete` the audio is not all there yet."""
        tracks = []
        for index in range(2):
            has_audio = stage == "complete" or (stage == "first" and index == 0)
            tracks.append(
                {
                    "id": _stable_id(task, f"track-{index}"),
                    "audio_url": links.file(f"track-{index}.mp3") if has_audio else "",
                    "stream_audio_url": links.file(f"track-{index}-stream.mp3")
                    if stage != "text"
                    else "",
                    "image_url": links.file(f"cover-{index}.png"),
                    "prompt": str(task.body.get("prompt", "")),
                    "model_name": self._model_name(task),
                    "title": str(task.body.get("title") or "Simulated track"),
                    "tags": str(task.body.get("style") or "simulated"),
                    "createTime": _ms(task.created_at),
                    "duration": SUNO_TRACK_SECONDS if has_audio else None,
                }
            )
        return tracks

    def _camel(self, track: dict[str, Any], created: float) -> dict[str, Any]:
        return {
            "id": track["id"],
            "audioUrl": track["audio_url"],
            "streamAudioUrl": track["stream_audio_url"],
            "imageUrl": track["image_url"],
            "prompt": track["prompt"],
            "modelName": track["model_name"],
            "title": track["title"],
            "tags": track["tags"],
            "createTime": _clock(created),
            "duration": track["duration"],
        }

    def _stage_body(self, task: Task, links: Links, stage: str) -> dict[str, Any]:
        messages = {
            "text": "Text generation completed.",
            "first": "First track generation completed.",
            "complete": "All generated successfully.",
        }
        return {
            "code": 200,
            "msg": messages[stage],
            "data": {
                "callbackType": stage,
                "task_id": task.task_id,
                "data": self._tracks(task, links, stage),
            },
        }

    def record(self, task: Task, now: float, links: Links, kind: MediaKind) -> dict[str, Any]:
        done = task.phase(now) == "done"
        progress = task.progress(now)
        reason = task.outcome.failure if done and not task.outcome.success else None
        stage: str | None = None
        status = "PENDING"
        if done and task.outcome.success:
            stage, status = "complete", "SUCCESS"
        elif reason is not None:
            status = reason.status
        elif progress >= SUNO_FIRST_AT:
            stage, status = "first", "FIRST_SUCCESS"
        elif progress >= SUNO_TEXT_AT:
            stage, status = "text", "TEXT_SUCCESS"
        response = None
        if stage is not None:
            tracks = [self._camel(t, task.created_at) for t in self._tracks(task, links, stage)]
            response = {"taskId": task.task_id, "sunoData": tracks}
        return {
            "taskId": task.task_id,
            "parentMusicId": str(task.body.get("audioId") or ""),
            "param": json.dumps(task.body),
            "response": response,
            "status": status,
            "type": self._model_name(task),
            "operationType": "extend" if "audioId" in task.body else "generate",
            "errorCode": int(reason.code) if reason else None,
            "errorMessage": reason.message if reason else None,
        }

    def final_callback(self, task: Task, links: Links, kind: MediaKind) -> dict[str, Any]:
        if task.outcome.success:
            return self._stage_body(task, links, "complete")
        reason = self.failure(task)
        return {
            "code": int(reason.code),
            "msg": reason.message,
            "data": {"callbackType": "error", "task_id": task.task_id, "data": None},
        }

    def stage_callbacks(self, task: Task, links: Links, kind: MediaKind) -> list[StageCallback]:
        if not task.outcome.success:
            return []
        return [
            (SUNO_TEXT_AT, "stage:text", self._stage_body(task, links, "text")),
            (SUNO_FIRST_AT, "stage:first", self._stage_body(task, links, "first")),
        ]

    def stale_callbacks(self, task: Task, links: Links, kind: MediaKind) -> list[StageCallback]:
        # Late delivery of an earlier stage: `first` (or `text` for a failed task) after the end.
        stage = "first" if task.outcome.success else "text"
        return [(1.0, f"stale:{stage}", self._stage_body(task, links, stage))]


class SunoLyricsFamily(Family):
    name = "suno_lyrics"
    reasons = (
        FailureReason(
            "400", "Song Description flagged for moderation", True, "SENSITIVE_WORD_ERROR"
        ),
        FailureReason(
            "500", "Internal Error - Please try again later.", False, "GENERATE_LYRICS_FAILED"
        ),
    )

    def _lyrics(self, task: Task) -> list[tuple[str, str]]:
        prompt = str(task.body.get("prompt", ""))
        return [
            (f"[Verse]\nSimulated lyrics about {prompt}\n\n[Chorus]\nLa la la", "Simulated song"),
            (f"[Verse]\nAnother take on {prompt}\n\n[Chorus]\nNa na na", "Simulated song II"),
        ]

    def record(self, task: Task, now: float, links: Links, kind: MediaKind) -> dict[str, Any]:
        done = task.phase(now) == "done"
        success = done and task.outcome.success
        reason = task.outcome.failure if done and not success else None
        response = None
        if success:
            items = [
                {"text": text, "title": title, "status": "complete", "errorMessage": ""}
                for text, title in self._lyrics(task)
            ]
            response = {"taskId": task.task_id, "data": items}
        return {
            "taskId": task.task_id,
            "param": json.dumps(task.body),
            "response": response,
            "status": "SUCCESS" if success else (reason.status if reason else "PENDING"),
            "errorCode": int(reason.code) if reason else None,
            "errorMessage": reason.message if reason else None,
        }

    def final_callback(self, task: Task, links: Links, kind: MediaKind) -> dict[str, Any]:
        if task.outcome.success:
            items = [
                {"text": text, "title": title, "status": "complete", "error_message": ""}
                for text, title in self._lyrics(task)
            ]
            return {
                "code": 200,
                "msg": "All generated successfully.",
                "data": {"callbackType": "complete", "task_id": task.task_id, "data": items},
            }
        reason = self.failure(task)
        failed = [{"text": "", "title": "", "status": "failed", "error_message": reason.message}]
        return {
            "code": int(reason.code),
            "msg": reason.message,
            "data": {"callbackType": "complete", "task_id": task.task_id, "data": failed},
        }


ASYNC_FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        MarketFamily(),
        VeoFamily(),
        RunwayFamily(),
        RunwayAlephFamily(),
        FluxKontextFamily(),
        Gpt4oImageFamily(),
        MidjourneyFamily(),
        SunoFamily(),
        SunoLyricsFamily(),
    )
}

CHAT_REPLY = "Simulated reply from the KIE simulator."


def chat_response(
    path: str, body: dict[str, Any], credits: Decimal, message_id: str
) -> dict[str, Any]:
    """A synchronous chat answer in the shape of the endpoint's API (Anthropic or OpenAI)."""
    input_tokens = max(len(json.dumps(body.get("messages") or body.get("input") or "")) // 4, 1)
    output_tokens = max(len(CHAT_REPLY) // 4, 1)
    model = str(body.get("model") or path.strip("/").split("/")[0])
    consumed = _number(credits)
    if path.endswith("/messages"):
        return {
            "id": f"msg_{message_id}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": CHAT_REPLY}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "service_tier": "standard",
            },
            "credits_consumed": consumed,
        }
    if path.endswith("/responses"):
        return {
            "id": f"resp_{message_id}",
            "object": "response",
            "created_at": int(time.time()),
            "model": model,
            "status": "completed",
            "output": [
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": CHAT_REPLY}],
                }
            ],
            "usage": {
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "total_tokens": input_tokens + output_tokens,
            },
            "credits_consumed": consumed,
        }
    return {
        "id": f"chatcmpl-{message_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": CHAT_REPLY},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": input_tokens,
            "completion_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
        },
        "credits_consumed": consumed,
    }
