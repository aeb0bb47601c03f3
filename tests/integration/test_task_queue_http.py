"""Functions' path in the sandbox: HttpTaskQueue → LocalQueueApp (a real server) → delivery."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from shared.config import load_settings
from shared.local_ports import free_port
from shared.queue import (
    EnqueueFailed,
    InvalidDelay,
    InvalidTarget,
    QueueClosed,
    QueueNotConfigured,
    task_queue_from_settings,
)
from shared.queue.cloud_tasks import CloudTasksQueue
from shared.queue.http import HttpTaskQueue
from shared.queue.local import LocalTaskQueue
from shared.queue.local_app import LocalQueueApp
from tests.integration.queue_helpers import REPO, RecordingTarget, Reply, serve_wsgi


@pytest.fixture
def sandbox() -> Iterator[tuple[RecordingTarget, LocalTaskQueue, str]]:
    """A recording target, a local queue delivering to it, and the queue's app on HTTP."""
    recorder = RecordingTarget()
    with serve_wsgi(recorder) as target_url:
        queue = LocalTaskQueue(f"{target_url}/fn", min_backoff_s=0.02, max_attempts=3)
        with serve_wsgi(LocalQueueApp(queue)) as queue_url:
            yield recorder, queue, queue_url
        queue.close()


def test_enqueue_over_http_is_delivered_and_deduplicated(
    sandbox: tuple[RecordingTarget, LocalTaskQueue, str],
) -> None:
    recorder, queue, queue_url = sandbox
    recorder.script("/fn/deliver_result", Reply(500))
    client = HttpTaskQueue(queue_url)
    try:
        assert client.enqueue("deliver_result", {"job_id": 5}, name="deliver-5") is True
        assert client.enqueue("deliver_result", {"job_id": 5}, name="deliver-5") is False
        assert client.enqueue("submit_job", {"job_id": 6}, delay_s=0.1) is True
    finally:
        client.close()
    assert queue.wait_idle(5)
    delivered = recorder.deliveries("/fn/deliver_result")
    assert [d.json() for d in delivered] == [{"job_id": 5}, {"job_id": 5}]  # one 500, one retry
    assert delivered[1].headers["X-Cloudtasks-Taskname"] == "deliver-5"
    assert recorder.deliveries("/fn/submit_job")[0].json() == {"job_id": 6}
    stats = httpx.get(f"{queue_url}/stats", trust_env=False).json()
    assert stats == {
        "created": 2,
        "deduplicated": 1,
        "attempts": 3,
        "retries": 1,
        "succeeded": 2,
        "dead": 0,
        "pending": 0,
    }


def test_dead_letters_are_listed_over_http(
    sandbox: tuple[RecordingTarget, LocalTaskQueue, str],
) -> None:
    recorder, queue, queue_url = sandbox
    recorder.script("/fn/submit_job", *[Reply(500)] * 3)
    client = HttpTaskQueue(queue_url)
    client.enqueue("submit_job", {"job_id": 8}, name="submit-8")
    client.close()
    assert queue.wait_idle(5)
    dead = httpx.get(f"{queue_url}/dead", trust_env=False).json()
    assert dead == [
        {
            "target": "submit_job",
            "name": "submit-8",
            "payload": {"job_id": 8},
            "attempts": 3,
            "last_status": 500,
            "last_error": None,
        }
    ]


def test_server_side_refusals_come_back_as_typed_errors(
    sandbox: tuple[RecordingTarget, LocalTaskQueue, str],
) -> None:
    _, queue, queue_url = sandbox
    raw = httpx.post(
        f"{queue_url}/enqueue",
        json={"target": "submit_job", "payload": {}, "delay_s": "soon"},
        trust_env=False,
    )
    assert raw.status_code == 400
    assert raw.json()["error"] == InvalidDelay.__name__
    assert httpx.get(f"{queue_url}/enqueue", trust_env=False).status_code == 405
    client = HttpTaskQueue(queue_url)
    with pytest.raises(InvalidTarget):
        client.enqueue("no/such", {})  # refused before any request
    queue.close()
    with pytest.raises(QueueClosed):
        client.enqueue("submit_job", {})  # refused by the server, mapped back
    client.close()
    assert queue.stats().created == 0


def test_unreachable_local_queue_is_a_retryable_failure() -> None:
    client = HttpTaskQueue(f"http://127.0.0.1:{free_port()}", connect_attempts=2)
    with pytest.raises(EnqueueFailed) as failure:
        client.enqueue("submit_job", {})
    client.close()
    assert failure.value.retryable is True


def test_settings_choose_the_backend() -> None:
    local = task_queue_from_settings(load_settings(task_queue_backend="local"))
    assert isinstance(local, HttpTaskQueue)
    local.close()
    cloud = task_queue_from_settings(
        load_settings(task_queue_backend="cloud_tasks", gcp_project="p", gcp_location="l")
    )
    assert isinstance(cloud, CloudTasksQueue)
    assert cloud.queue_path("submit_job") == "projects/p/locations/l/queues/submit"
    assert cloud.queue_path("deliver_result") == "projects/p/locations/l/queues/deliver"
    with pytest.raises(QueueNotConfigured):
        task_queue_from_settings(load_settings(task_queue_backend="cloud_tasks"))


def test_the_port_imports_neither_google_nor_httpx() -> None:
    # Compared with the interpreter's own start: a .pth file of functions-framework
    # pre-imports the empty `google` and `google.cloud` namespace packages.
    probe = (
        "import sys; before = set(sys.modules); import shared.queue, shared.queue.port; "
        "new = set(sys.modules) - before; "
        "print(sorted(m for m in new if m.split('.')[0] in {'google', 'httpx', 'grpc'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_app_works_mounted_under_a_prefix_as_local_queue_url_expects() -> None:
    """The default LOCAL_QUEUE_URL is …/queue: the app must route under a mount point."""
    from werkzeug.middleware.dispatcher import DispatcherMiddleware
    from werkzeug.wrappers import Response

    recorder = RecordingTarget()
    with serve_wsgi(recorder) as target_url:
        queue = LocalTaskQueue(f"{target_url}/fn")
        mounted = DispatcherMiddleware(Response("not here", 404), {"/queue": LocalQueueApp(queue)})
        with serve_wsgi(mounted) as base_url:
            client = HttpTaskQueue(f"{base_url}/queue/")
            assert client.enqueue("submit_job", {"job_id": 21}) is True
            client.close()
            assert queue.wait_idle(5)
        queue.close()
    assert [d.json() for d in recorder.deliveries("/fn/submit_job")] == [{"job_id": 21}]
