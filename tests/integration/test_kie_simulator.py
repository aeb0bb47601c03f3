"""The KIE simulator over real HTTP on 127.0.0.1: every family, the faults, the files."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from scripts.kie_simulator import KieSimulator
from scripts.kie_simulator.catalogue import Catalogue, Route, UnsupportedFamilyError
from shared.registry import Registry, build_request, load_registry, quote_credits
from shared.registry.samples import sample_inputs

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kie" / "callbacks"
ROUTES = sorted(Catalogue().create_routes.values(), key=lambda r: r.create_path)
DELAY_S = 0.15
WAIT_S = 5.0
# One client for the module: a new httpx client per call builds an SSL context (~20 ms) each time.
HTTP = httpx.Client(timeout=10)

# The example callback each family's callback must match (keys, recursively).
EXAMPLE_CALLBACKS = {
    "market": "market_success.json",
    "veo": "veo_success.json",
    "runway": "runway_success.json",
    "runway_aleph": "runway_aleph_success.json",
    "flux_kontext": "flux_kontext_success.json",
    "gpt4o_image": "gpt4o_image_success.json",
    "midjourney": "midjourney_success.json",
    "suno": "suno_complete.json",
    "suno_lyrics": "suno_lyrics_complete.json",
}


@dataclass
class Received:
    at: float
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Receiver:
    """A tiny callback endpoint that remembers every POST."""

    url: str
    status: list[int] = field(default_factory=lambda: [200])
    calls: list[Received] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(
        self, predicate: Callable[[list[Received]], bool], timeout: float = WAIT_S
    ) -> None:
        with self.changed:
            if not self.changed.wait_for(lambda: predicate(self.calls), timeout=timeout):
                raise AssertionError(f"callbacks never matched; got {[c.body for c in self.calls]}")

    def for_task(self, task_id: str) -> list[Received]:
        return [c for c in list(self.calls) if task_id_of(c.body) == task_id]


def task_id_of(body: dict[str, Any]) -> str | None:
    data = body.get("data") or {}
    found = body.get("taskId") or data.get("taskId") or data.get("task_id")
    return str(found) if found else None


@pytest.fixture(scope="module", autouse=True)
def _close_http_client() -> Iterator[None]:
    yield
    HTTP.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            with state.changed:
                state.calls.append(Received(time.time(), self.path, dict(self.headers), body))
                state.changed.notify_all()
            self.send_response(state.status[0])
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"code":200,"msg":"success"}')

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_port}/kie/callback"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def sim() -> Iterator[KieSimulator]:
    simulator = KieSimulator(delay_s=DELAY_S, seed=1)
    simulator.start()
    yield simulator
    simulator.stop()


def auth(simulator: KieSimulator) -> dict[str, str]:
    return {"Authorization": f"Bearer {simulator.api_key}"}


def request_for(route: Route, callback_url: str) -> tuple[str | None, dict[str, Any]]:
    """A valid body for the route, built by the registry exactly as production will."""
    if not route.entries:  # a family with no enabled model (Midjourney)
        return None, {
            "taskType": "mj_txt2img",
            "prompt": "a red sneaker",
            "callBackUrl": callback_url,
        }
    entry = route.entries[0]
    request = build_request(entry.id, sample_inputs(entry), callback_url)
    assert request.endpoint.path == route.create_path
    assert request.endpoint.status_path == route.status_path
    return entry.id, dict(request.body)


def create(simulator: KieSimulator, route: Route, body: dict[str, Any]) -> httpx.Response:
    return HTTP.post(
        simulator.base_url + route.create_path, json=body, headers=auth(simulator), timeout=10
    )


def query(simulator: KieSimulator, route: Route, task_id: str) -> dict[str, Any]:
    assert route.status_path is not None
    response = HTTP.get(
        simulator.base_url + route.status_path, params={"taskId": task_id}, headers=auth(simulator)
    )
    assert response.status_code == 200
    envelope = response.json()
    assert envelope["code"] == 200, envelope
    data: dict[str, Any] = envelope["data"]
    return data


def route_of(handler: str) -> Route:
    return next(r for r in ROUTES if r.handler == handler)


def shape(value: Any) -> Any:
    """Keys of dicts, recursively; a list's first item stands for all."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return None


def assert_has_shape(actual: Any, example: Any, where: str = "body") -> None:
    if isinstance(example, dict):
        assert isinstance(actual, dict), f"{where} is not an object"
        missing = set(example) - set(actual)
        assert not missing, f"{where} lacks {sorted(missing)}"
        for key, item in example.items():
            assert_has_shape(actual[key], item, f"{where}.{key}")
    elif isinstance(example, list):
        assert isinstance(actual, list), f"{where} is not a list"
        if example and isinstance(example[0], dict):  # a list of objects must show one
            assert actual, f"{where} is empty"
            assert_has_shape(actual[0], example[0], f"{where}[0]")


def example(name: str) -> Any:
    return shape(json.loads((FIXTURES / name).read_text()))


def fetch(url: str) -> httpx.Response:
    response = HTTP.get(url)
    assert response.status_code == 200, url
    assert response.headers["Content-Length"] == str(len(response.content))
    return response


MAGIC = {"mp4": b"ftyp", "png": b"\x89PNG", "mp3": b"\xff\xfb", "txt": b"Simulated"}


def assert_real_file(url: str) -> None:
    response = fetch(url)
    extension = url.rsplit(".", 1)[-1]
    if extension == "mp4":
        assert response.content[4:8] == MAGIC["mp4"]
        assert response.headers["Content-Type"] == "video/mp4"
    else:
        assert response.content.startswith(MAGIC[extension]), url


# --- every family ---------------------------------------------------------------------------


def final_urls(handler: str, body: dict[str, Any]) -> list[str]:
    data = body["data"]
    if handler == "market":
        urls: list[str] = json.loads(data["resultJson"])["resultUrls"]
        return urls
    if handler == "veo":
        return list(data["info"]["resultUrls"])
    if handler in ("runway", "runway_aleph"):
        return [data["video_url"], data["image_url"]]
    if handler == "flux_kontext":
        return [data["info"]["resultImageUrl"]]
    if handler == "gpt4o_image":
        return list(data["info"]["result_urls"])
    if handler == "midjourney":
        return list(data["resultUrls"])
    if handler == "suno":
        return [track["audio_url"] for track in data["data"]]
    return []


def query_urls(handler: str, record: dict[str, Any]) -> list[str]:
    if handler == "market":
        assert record["state"] == "success"
        urls: list[str] = json.loads(record["resultJson"])["resultUrls"]
        return urls
    if handler == "veo":
        assert record["successFlag"] == 1
        return list(record["response"]["resultUrls"])
    if handler == "runway":
        assert record["state"] == "success"
        return [record["videoInfo"]["videoUrl"], record["videoInfo"]["imageUrl"]]
    if handler == "runway_aleph":
        assert record["successFlag"] == 1
        return [record["response"]["resultVideoUrl"], record["response"]["resultImageUrl"]]
    if handler == "flux_kontext":
        assert record["successFlag"] == 1
        return [record["response"]["resultImageUrl"]]
    if handler == "gpt4o_image":
        assert (record["successFlag"], record["status"]) == (1, "SUCCESS")
        return list(record["response"]["resultUrls"])
    if handler == "midjourney":
        assert record["successFlag"] == 1
        return [item["resultUrl"] for item in record["resultInfoJson"]["resultUrls"]]
    if handler == "suno":
        assert record["status"] == "SUCCESS"
        return [track["audioUrl"] for track in record["response"]["sunoData"]]
    assert record["status"] == "SUCCESS"  # suno_lyrics
    return []


ASYNC_ROUTES = [r for r in ROUTES if not r.synchronous]


@pytest.mark.parametrize("route", ASYNC_ROUTES, ids=[r.create_path for r in ASYNC_ROUTES])
def test_family_create_callback_and_query_agree(
    sim: KieSimulator, receiver: Receiver, route: Route
) -> None:
    model_id, body = request_for(route, receiver.url)
    created = create(sim, route, body)
    assert created.status_code == 200
    envelope = created.json()
    assert (envelope["code"], envelope["msg"]) == (200, "success")
    task_id = envelope["data"]["taskId"]

    receiver.wait_for(lambda calls: any(c.body["code"] == 200 and is_final(c.body) for c in calls))
    final = next(c.body for c in receiver.for_task(task_id) if is_final(c.body))
    assert_has_shape(final, example(EXAMPLE_CALLBACKS[route.handler]))
    assert task_id_of(final) == task_id
    if route.handler == "suno":
        stages = [c.body["data"]["callbackType"] for c in receiver.for_task(task_id)]
        assert stages == ["text", "first", "complete"]

    record = query(sim, route, task_id)
    assert record["taskId"] == task_id
    urls = query_urls(route.handler, record)
    assert urls == final_urls(route.handler, final)
    for url in urls:
        assert url.startswith(sim.base_url + "/files/")
        assert_real_file(url)
    if route.handler == "market":
        assert model_id is not None
        expected = quote_credits(model_id, body["input"])
        assert Decimal(str(final["data"]["creditsConsumed"])) == expected
        assert record["creditsConsumed"] == final["data"]["creditsConsumed"]
        assert json.loads(record["param"]) == body
    if route.handler == "suno_lyrics":
        texts = [item["text"] for item in final["data"]["data"]]
        assert texts == [item["text"] for item in record["response"]["data"]]


def is_final(body: dict[str, Any]) -> bool:
    data = body.get("data") or {}
    return data.get("callbackType") not in ("text", "first")


def test_every_registry_family_is_served() -> None:
    from shared.registry import enabled_models

    paths = {
        build_request(m.id, sample_inputs(m), "https://cb").endpoint.path for m in enabled_models()
    }
    assert paths <= {r.create_path for r in ROUTES}
    assert {"market", "veo", "runway", "runway_aleph", "suno", "chat"} <= {r.family for r in ROUTES}


def test_chat_answers_at_once_with_the_quoted_credits(sim: KieSimulator) -> None:
    route = next(r for r in ROUTES if r.synchronous)
    model_id, body = request_for(route, "unused")
    response = create(sim, route, body)
    assert response.status_code == 200
    answer = response.json()
    assert answer["type"] == "message" and answer["role"] == "assistant"
    assert answer["content"][0]["type"] == "text" and answer["content"][0]["text"]
    assert answer["usage"]["input_tokens"] > 0 and answer["usage"]["output_tokens"] > 0
    assert model_id is not None
    inputs = {k: v for k, v in body.items() if k != "stream"}
    assert Decimal(str(answer["credits_consumed"])) == quote_credits(model_id, inputs)


# --- auth, credits, create faults -----------------------------------------------------------


def test_missing_or_wrong_key_gets_401(sim: KieSimulator, receiver: Receiver) -> None:
    route = route_of("market")
    _, body = request_for(route, receiver.url)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": sim.api_key}):
        response = HTTP.post(sim.base_url + route.create_path, json=body, headers=headers)
        assert response.status_code == 200  # KIE puts the outcome in the body
        assert response.json() == {
            "code": 401,
            "msg": "You do not have access permissions",
            "data": None,
        }
    credit = HTTP.get(sim.base_url + "/api/v1/chat/credit", headers={"Authorization": "Bearer x"})
    assert credit.json()["code"] == 401
    chat = next(r for r in ROUTES if r.synchronous)
    assert HTTP.post(sim.base_url + chat.create_path, json={}).status_code == 401
    upload = HTTP.post(sim.base_url + "/api/file-base64-upload", json={})
    assert upload.json()["success"] is False and upload.json()["code"] == 401
    assert sim.store.all() == []


def test_out_of_credits_gets_402_and_tasks_spend_the_balance(
    sim: KieSimulator, receiver: Receiver
) -> None:
    route = route_of("market")
    model_id, body = request_for(route, receiver.url)
    assert model_id is not None
    price = quote_credits(model_id, body["input"])
    sim.configure(balance=price * 2 - Decimal("0.5"))
    assert create(sim, route, body).json()["code"] == 200
    assert sim.balance == price - Decimal("0.5")
    refused = create(sim, route, body).json()
    assert refused["code"] == 402 and refused["data"] is None
    assert len(sim.store.all()) == 1
    credit = HTTP.get(sim.base_url + "/api/v1/chat/credit", headers=auth(sim)).json()
    assert credit == {"code": 200, "msg": "success", "data": int(price - Decimal("0.5"))}


def test_configured_429_455_500_and_gateway_502(sim: KieSimulator, receiver: Receiver) -> None:
    route = route_of("veo")
    _, body = request_for(route, receiver.url)
    control = sim.base_url + "/_sim/config"
    assert HTTP.post(control, json={"create_429_rate": 1.0}).status_code == 200
    limited = create(sim, route, body)
    assert (limited.status_code, limited.json()["code"]) == (200, 429)
    changes = {"create_429_rate": 0, "create_5xx_rate": 1, "create_5xx_codes": [455]}
    HTTP.post(control, json=changes).raise_for_status()
    maintenance = create(sim, route, body)
    assert (maintenance.status_code, maintenance.json()["code"]) == (200, 455)
    HTTP.post(control, json={"create_5xx_codes": [500]}).raise_for_status()
    server_error = create(sim, route, body)
    assert (server_error.status_code, server_error.json()["code"]) == (500, 500)
    HTTP.post(control, json={"create_5xx_codes": [502]}).raise_for_status()
    gateway = create(sim, route, body)
    assert gateway.status_code == 502 and gateway.headers["Content-Type"].startswith("text/html")
    assert sim.store.all() == []  # a refused create makes no task
    HTTP.post(control, json={"create_5xx_rate": 0}).raise_for_status()
    assert create(sim, route, body).json()["code"] == 200


def test_bad_knob_is_refused_and_changes_nothing(sim: KieSimulator) -> None:
    response = HTTP.post(
        sim.base_url + "/_sim/config", json={"failure_rate": 0.5, "duplicate_rate": 2}
    )
    assert response.status_code == 400 and "duplicate_rate" in response.json()["error"]
    assert sim.failure_rate == 0.0
    assert HTTP.post(sim.base_url + "/_sim/config", json={"nope": 1}).status_code == 400


# --- callback faults ------------------------------------------------------------------------


def test_failure_rate_one_sends_failure_callbacks_that_the_query_confirms(
    sim: KieSimulator, receiver: Receiver
) -> None:
    sim.configure(failure_rate=1.0)
    balance = sim.balance
    market, veo, suno = route_of("market"), route_of("veo"), route_of("suno")
    ids = {}
    for route in (market, veo, suno):
        ids[route.handler] = create(sim, route, request_for(route, receiver.url)[1]).json()["data"][
            "taskId"
        ]
    receiver.wait_for(lambda calls: len(calls) >= 3)
    market_cb = receiver.for_task(ids["market"])[0].body
    assert_has_shape(market_cb, example("market_fail.json"))
    assert market_cb["code"] == 501 and market_cb["msg"] == "Playground task failed."
    data = market_cb["data"]
    assert data["state"] == "fail" and data["resultJson"] is None
    assert data["failCode"] and data["failMsg"] and data["creditsConsumed"] == 0
    record = query(sim, market, ids["market"])
    assert (record["state"], record["failCode"]) == ("fail", data["failCode"])

    veo_cb = receiver.for_task(ids["veo"])[0].body
    assert veo_cb["code"] in (400, 500, 501) and veo_cb["data"]["info"] is None
    assert query(sim, veo, ids["veo"])["successFlag"] in (2, 3)

    suno_cb = receiver.for_task(ids["suno"])[0].body
    assert suno_cb["code"] != 200 and suno_cb["data"]["callbackType"] == "error"
    assert query(sim, suno, ids["suno"])["status"] in (
        "SENSITIVE_WORD_ERROR",
        "GENERATE_AUDIO_FAILED",
    )
    assert sim.balance == balance  # failures are not charged


def test_failures_include_content_policy_ones(sim: KieSimulator, receiver: Receiver) -> None:
    sim.configure(failure_rate=1.0, delay_s=0)
    route = route_of("market")
    _, body = request_for(route, receiver.url)
    body.pop("callBackUrl")
    for _ in range(12):
        create(sim, route, body)
    reasons = [t.outcome.failure for t in sim.store.all()]
    assert all(r is not None for r in reasons)
    assert any(r.content_policy for r in reasons if r) and not all(
        r.content_policy for r in reasons if r
    )
    assert receiver.calls == []  # no callBackUrl, no callback


def recorded_callbacks(sim: KieSimulator, task_id: str, count: int) -> list[dict[str, Any]]:
    """The simulator's own log of deliveries; it is written just after the receiver answers."""
    deadline = time.time() + WAIT_S
    while True:
        tasks = HTTP.get(sim.base_url + "/_sim/tasks").json()["tasks"]
        callbacks: list[dict[str, Any]] = next(t for t in tasks if t["taskId"] == task_id)[
            "callbacks"
        ]
        if len(callbacks) >= count or time.time() > deadline:
            return callbacks
        time.sleep(0.02)


def test_duplicate_rate_one_sends_the_same_callback_twice(
    sim: KieSimulator, receiver: Receiver
) -> None:
    sim.configure(duplicate_rate=1.0)
    route = route_of("runway")
    task_id = create(sim, route, request_for(route, receiver.url)[1]).json()["data"]["taskId"]
    receiver.wait_for(lambda calls: len(calls) >= 2)
    first, second = receiver.for_task(task_id)
    assert first.body == second.body and first.body["code"] == 200
    labels = [c["label"] for c in recorded_callbacks(sim, task_id, 2)]
    assert sorted(labels) == ["duplicate", "final"]


def test_lost_callback_is_never_sent_but_the_query_knows(
    sim: KieSimulator, receiver: Receiver
) -> None:
    sim.configure(lost_rate=1.0)
    route = route_of("market")
    task_id = create(sim, route, request_for(route, receiver.url)[1]).json()["data"]["taskId"]
    time.sleep(DELAY_S + 0.4)
    assert receiver.calls == []
    assert query(sim, route, task_id)["state"] == "success"
    tasks = HTTP.get(sim.base_url + "/_sim/tasks").json()["tasks"]
    assert [(t["taskId"], t["state"], t["outcome"]["lost"]) for t in tasks] == [
        (task_id, "success", True)
    ]


def test_out_of_order_suno_sends_a_stale_stage_after_complete(
    sim: KieSimulator, receiver: Receiver
) -> None:
    sim.configure(out_of_order_rate=1.0)
    route = route_of("suno")
    task_id = create(sim, route, request_for(route, receiver.url)[1]).json()["data"]["taskId"]
    receiver.wait_for(lambda calls: len(calls) >= 4)
    stages = [c.body["data"]["callbackType"] for c in receiver.for_task(task_id)]
    assert stages == ["text", "first", "complete", "first"]
    assert query(sim, route, task_id)["status"] == "SUCCESS"  # the late stage changes nothing


def test_out_of_order_market_callback_arrives_before_the_create_reply(
    sim: KieSimulator, receiver: Receiver
) -> None:
    sim.configure(out_of_order_rate=1.0, delay_s=5.0)
    route = route_of("market")
    created = create(sim, route, request_for(route, receiver.url)[1])
    replied_at = time.time()
    task_id = created.json()["data"]["taskId"]
    calls = receiver.for_task(task_id)
    assert len(calls) == 1 and calls[0].at < replied_at
    assert calls[0].body["data"]["state"] == "success"
    assert query(sim, route, task_id)["state"] == "success"


def test_query_reports_progress_before_the_delay(sim: KieSimulator, receiver: Receiver) -> None:
    sim.configure(delay_s=30.0)
    expected = {"market": "state", "runway": "state", "veo": "successFlag", "suno": "status"}
    pending: dict[str, set[object]] = {
        "market": {"waiting"},
        "runway": {"wait"},
        "veo": {0},
        "suno": {"PENDING"},
    }
    for handler, key in expected.items():
        route = route_of(handler)
        task_id = create(sim, route, request_for(route, receiver.url)[1]).json()["data"]["taskId"]
        assert query(sim, route, task_id)[key] in pending[handler]
    assert receiver.calls == []
    unknown = HTTP.get(
        sim.base_url + "/api/v1/jobs/recordInfo", params={"taskId": "nope"}, headers=auth(sim)
    )
    assert unknown.json()["code"] == 422


def test_non_2xx_callback_is_recorded_and_retried_when_asked(
    sim: KieSimulator, receiver: Receiver
) -> None:
    receiver.status[0] = 500
    sim.configure(callback_retries=1, callback_retry_delay_s=0.05)
    route = route_of("gpt4o_image")
    task_id = create(sim, route, request_for(route, receiver.url)[1]).json()["data"]["taskId"]
    receiver.wait_for(lambda calls: len(calls) >= 2)
    records = recorded_callbacks(sim, task_id, 2)
    attempts = [(c["attempt"], c["statusCode"], c["ok"]) for c in records]
    assert attempts == [(1, 500, False), (2, 500, False)]


def test_webhook_signature_verifies_with_the_configured_key(
    sim: KieSimulator, receiver: Receiver
) -> None:
    key = "whk-test-secret"
    sim.configure(webhook_hmac_key=key)
    market, runway = route_of("market"), route_of("runway")
    ids = [
        create(sim, route, request_for(route, receiver.url)[1]).json()["data"]["taskId"]
        for route in (market, runway)
    ]
    receiver.wait_for(lambda calls: len(calls) >= 2)
    for task_id in ids:
        (call,) = receiver.for_task(task_id)
        timestamp = call.headers["X-Webhook-Timestamp"]
        assert abs(int(timestamp) - time.time()) < 10
        expected = base64.b64encode(
            hmac.new(key.encode(), f"{task_id}.{timestamp}".encode(), hashlib.sha256).digest()
        ).decode()
        assert hmac.compare_digest(call.headers["X-Webhook-Signature"], expected)
        forged = base64.b64encode(
            hmac.new(b"other", f"{task_id}.{timestamp}".encode(), hashlib.sha256).digest()
        ).decode()
        assert call.headers["X-Webhook-Signature"] != forged


def test_no_signature_headers_without_a_key(sim: KieSimulator, receiver: Receiver) -> None:
    route = route_of("market")
    create(sim, route, request_for(route, receiver.url)[1])
    receiver.wait_for(lambda calls: len(calls) >= 1)
    assert "X-Webhook-Signature" not in receiver.calls[0].headers


# --- reproducibility ------------------------------------------------------------------------


def run_seeded(seed: int, receiver: Receiver) -> list[tuple[Any, ...]]:
    simulator = KieSimulator(
        delay_s=0,
        seed=seed,
        failure_rate=0.5,
        duplicate_rate=0.5,
        lost_rate=0.3,
        create_429_rate=0.2,
    )
    simulator.start()
    try:
        route = route_of("market")
        _, body = request_for(route, receiver.url)
        body.pop("callBackUrl")
        codes = [create(simulator, route, body).json()["code"] for _ in range(12)]
        tasks = HTTP.get(simulator.base_url + "/_sim/tasks").json()["tasks"]
        outcomes = [
            (
                t["taskId"],
                t["state"],
                t["outcome"]["failCode"],
                t["outcome"]["duplicate"],
                t["outcome"]["lost"],
            )
            for t in tasks
        ]
        return [tuple(codes), *outcomes]
    finally:
        simulator.stop()


def test_same_seed_reproduces_the_same_outcomes(receiver: Receiver) -> None:
    first, again, other = (
        run_seeded(42, receiver),
        run_seeded(42, receiver),
        run_seeded(43, receiver),
    )
    assert first == again
    assert first != other
    states = {row[1] for row in first[1:]}
    assert states == {"success", "fail"}  # the rates really bite
    assert 429 in first[0]


# --- files, uploads, download links ---------------------------------------------------------


def boxes(data: bytes, start: int = 0, end: int | None = None) -> dict[bytes, tuple[int, int]]:
    """ISO BMFF boxes at one level: type -> (payload start, payload end)."""
    end = len(data) if end is None else end
    found: dict[bytes, tuple[int, int]] = {}
    offset = start
    while offset < end:
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        assert size >= 8 and offset + size <= end, f"bad box {kind!r} at {offset}"
        found[kind] = (offset + 8, offset + size)
        offset += size
    assert offset == end
    return found


def test_served_mp4_is_a_well_formed_h264_movie(sim: KieSimulator) -> None:
    data = fetch(sim.base_url + "/files/any-task/result.mp4").content
    top = boxes(data)
    assert list(top) == [b"ftyp", b"moov", b"mdat"]
    assert data[top[b"ftyp"][0] : top[b"ftyp"][0] + 4] == b"isom"
    moov = boxes(data, *top[b"moov"])
    assert set(moov) == {b"mvhd", b"trak"}
    trak = boxes(data, *moov[b"trak"])
    mdia = boxes(data, *boxes(data, *trak[b"mdia"])[b"minf"])
    stbl = boxes(data, *mdia[b"stbl"])
    assert {b"stsd", b"stts", b"stsc", b"stsz", b"stco"} <= set(stbl)
    handler = boxes(data, *trak[b"mdia"])[b"hdlr"]
    assert data[handler[0] + 8 : handler[0] + 12] == b"vide"
    stsd_start = stbl[b"stsd"][0] + 8  # version/flags and entry count
    avc1 = boxes(data, stsd_start, stbl[b"stsd"][1])[b"avc1"]
    width, height = struct.unpack(">HH", data[avc1[0] + 24 : avc1[0] + 28])
    assert (width, height) == (64, 48)
    avcc = boxes(data, avc1[0] + 78, avc1[1])[b"avcC"]
    assert data[avcc[0]] == 1 and data[avcc[0] + 1] == 66  # version 1, Baseline profile
    sample_count = struct.unpack(">I", data[stbl[b"stsz"][0] + 8 : stbl[b"stsz"][0] + 12])[0]
    sizes = struct.unpack(
        f">{sample_count}I", data[stbl[b"stsz"][0] + 12 : stbl[b"stsz"][0] + 12 + 4 * sample_count]
    )
    (chunk_offset,) = struct.unpack(">I", data[stbl[b"stco"][0] + 8 : stbl[b"stco"][0] + 12])
    mdat_start, mdat_end = top[b"mdat"]
    assert chunk_offset == mdat_start and sum(sizes) == mdat_end - mdat_start
    offset = mdat_start
    for size in sizes:
        (nal_length,) = struct.unpack(">I", data[offset : offset + 4])
        assert nal_length == size - 4
        assert data[offset + 4] & 0x1F == 5  # an IDR slice
        offset += size


def test_served_png_and_mp3_are_real(sim: KieSimulator) -> None:
    png = fetch(sim.base_url + "/files/t/cover.png")
    assert png.headers["Content-Type"] == "image/png"
    data = png.content
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, chunks, idat = 8, [], b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind, payload = data[offset + 4 : offset + 8], data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert crc == zlib.crc32(kind + payload)
        chunks.append(kind)
        idat += payload if kind == b"IDAT" else b""
        offset += 12 + length
    assert chunks == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert len(zlib.decompress(idat)) == height * (1 + width * 3) and (depth, colour) == (8, 2)

    mp3 = fetch(sim.base_url + "/files/t/track-0.mp3")
    assert mp3.headers["Content-Type"] == "audio/mpeg"
    frames = mp3.content
    frame_bytes = 144 * 128_000 // 44_100
    assert len(frames) % frame_bytes == 0 and len(frames) // frame_bytes > 30
    for start in range(0, len(frames), frame_bytes):
        assert frames[start : start + 4] == b"\xff\xfb\x90\xc4"  # MPEG-1 Layer III, 128k, 44.1k


def test_upload_api_serves_what_was_uploaded_and_download_url(sim: KieSimulator) -> None:
    payload = b"\x89PNG\r\n\x1a\nnot-really-an-image"
    response = HTTP.post(
        sim.base_url + "/api/file-base64-upload",
        json={
            "base64Data": "data:image/png;base64," + base64.b64encode(payload).decode(),
            "uploadPath": "images/user-uploads",
            "fileName": "photo.png",
        },
        headers=auth(sim),
    ).json()
    assert response["success"] is True and response["code"] == 200
    data = response["data"]
    assert (data["fileName"], data["filePath"], data["fileSize"], data["mimeType"]) == (
        "photo.png",
        "images/user-uploads/photo.png",
        len(payload),
        "image/png",
    )
    assert fetch(data["downloadUrl"]).content == payload

    streamed = HTTP.post(
        sim.base_url + "/api/file-stream-upload",
        files={"file": ("voice.mp3", b"ID3-bytes", "audio/mpeg")},
        data={"uploadPath": "audio"},
        headers=auth(sim),
    ).json()["data"]
    assert fetch(streamed["downloadUrl"]).content == b"ID3-bytes"

    by_url = HTTP.post(
        sim.base_url + "/api/file-url-upload",
        json={"fileUrl": data["downloadUrl"], "uploadPath": "copies"},
        headers=auth(sim),
    ).json()["data"]
    assert fetch(by_url["downloadUrl"]).content == payload

    link = HTTP.post(
        sim.base_url + "/api/v1/common/download-url",
        json={"url": sim.base_url + "/files/t/result.mp4"},
        headers=auth(sim),
    ).json()
    assert link["code"] == 200 and fetch(link["data"]).content[4:8] == b"ftyp"
    external = HTTP.post(
        sim.base_url + "/api/v1/common/download-url",
        json={"url": "https://example.com/a.mp4"},
        headers=auth(sim),
    ).json()
    assert external["code"] == 422


def test_command_line_starts_a_working_simulator() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scripts.kie_simulator",
            "--port",
            "0",
            "--api-key",
            "k1",
            "--balance",
            "77",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("kie simulator listening on http://127.0.0.1:")
        base_url = line.rsplit(" ", 1)[-1].strip()
        credit = HTTP.get(base_url + "/api/v1/chat/credit", headers={"Authorization": "Bearer k1"})
        assert credit.json() == {"code": 200, "msg": "success", "data": 77}
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


def test_suno_stages_keep_their_order_even_with_no_delay(
    sim: KieSimulator, receiver: Receiver
) -> None:
    sim.configure(delay_s=0, duplicate_rate=1.0)
    route = route_of("suno")
    ids = [
        create(sim, route, request_for(route, receiver.url)[1]).json()["data"]["taskId"]
        for _ in range(3)
    ]
    receiver.wait_for(lambda calls: len(calls) >= 12)
    for task_id in ids:
        stages = [c.body["data"]["callbackType"] for c in receiver.for_task(task_id)]
        assert stages == ["text", "first", "complete", "complete"]


def test_a_registry_family_the_simulator_lacks_stops_it_at_start() -> None:
    registry = load_registry()
    raw = copy.deepcopy(dict(registry.raw))
    raw["families"]["sora"] = dict(raw["families"]["veo"], path="/api/v1/sora/generate")
    model = next(m for m in raw["models"] if m["family"] == "veo" and m["enabled"])
    model["family"] = "sora"
    with pytest.raises(UnsupportedFamilyError, match="sora"):
        Catalogue(Registry(raw, registry.source))


def failure_seen_by_query(handler: str, record: dict[str, Any]) -> object:
    """The failure code the family's query record reports (asserting it is a failure)."""
    if handler == "market":
        assert record["state"] == "fail" and record["resultJson"] is None
        return record["failCode"]
    if handler == "runway":
        assert record["state"] == "fail" and record["videoInfo"] is None
        return record["failCode"]
    if handler in ("veo", "flux_kontext"):
        assert record["successFlag"] in (2, 3) and record["response"] is None
    elif handler == "runway_aleph":
        assert record["successFlag"] == 2 and record["response"] is None
    elif handler == "gpt4o_image":
        assert record["successFlag"] == 2
        assert record["status"] in ("GENERATE_FAILED", "CREATE_TASK_FAILED")
    elif handler == "midjourney":
        assert record["successFlag"] == 3 and record["resultInfoJson"] is None
    elif handler == "suno":
        assert record["status"] in ("SENSITIVE_WORD_ERROR", "GENERATE_AUDIO_FAILED")
    else:
        assert record["status"] in ("SENSITIVE_WORD_ERROR", "GENERATE_LYRICS_FAILED")
    assert record["errorMessage"]
    return record["errorCode"]


@pytest.mark.parametrize("route", ASYNC_ROUTES, ids=[r.create_path for r in ASYNC_ROUTES])
def test_family_failure_callback_and_query_agree(
    sim: KieSimulator, receiver: Receiver, route: Route
) -> None:
    sim.configure(failure_rate=1.0)
    _, body = request_for(route, receiver.url)
    task_id = create(sim, route, body).json()["data"]["taskId"]
    receiver.wait_for(lambda calls: len(calls) >= 1)
    (call,) = receiver.for_task(task_id)
    assert call.body["code"] != 200 and call.body["msg"]
    code = failure_seen_by_query(route.handler, query(sim, route, task_id))
    if route.handler == "market":
        assert call.body["code"] == 501 and code == call.body["data"]["failCode"]
    else:
        assert code == call.body["code"]


def test_public_base_url_is_the_base_of_result_urls(sim: KieSimulator, receiver: Receiver) -> None:
    sim.configure(public_base_url="https://kie-sim.example.test/")
    route = route_of("veo")
    task_id = create(sim, route, request_for(route, receiver.url)[1]).json()["data"]["taskId"]
    receiver.wait_for(lambda calls: len(calls) >= 1)
    (url,) = receiver.calls[0].body["data"]["info"]["resultUrls"]
    assert url == f"https://kie-sim.example.test/files/{task_id}/result.mp4"
