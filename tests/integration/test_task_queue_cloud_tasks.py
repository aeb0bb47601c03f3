"""CloudTasksQueue against the real gcloud-tasks-emulator, delivering to a real HTTP target.

The emulator neither deduplicates task names nor sends OIDC tokens. So the
task it stores is read back (ListTasks) to check our name and token, and
ALREADY_EXISTS comes from DedupingCloudTasksProxy, a gRPC server between our
client and the emulator that refuses a repeated task name as Cloud Tasks does.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import grpc  # type: ignore[import-untyped]
import pytest
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

from shared.queue import EnqueueFailed, UnknownTarget, task_id_for
from shared.queue.cloud_tasks import CloudTasksQueue
from tests.integration.queue_helpers import (
    DedupingCloudTasksProxy,
    RecordingTarget,
    Reply,
    running_tasks_emulator,
    serve_wsgi,
)

PROJECT = "kie-test"
LOCATION = "europe-west1"
INVOKER = "tasks-invoker@kie-test.iam.gserviceaccount.com"
SUBMIT = "/fn/submit_job"


@pytest.fixture(scope="session")
def emulator_host() -> Iterator[str]:
    with running_tasks_emulator(max_retries=2) as host:
        yield host


@pytest.fixture(scope="module")
def admin(emulator_host: str) -> tasks_v2.CloudTasksClient:
    """Our own client of the emulator, for creating queues and reading tasks back."""
    channel = grpc.insecure_channel(emulator_host)
    return tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))


@pytest.fixture
def target() -> Iterator[tuple[RecordingTarget, str]]:
    recorder = RecordingTarget()
    with serve_wsgi(recorder) as url:
        yield recorder, f"{url}/fn"


@pytest.fixture
def queues(admin: tasks_v2.CloudTasksClient) -> dict[str, str]:
    """A fresh submit and deliver queue per test (the emulator keeps state for the session)."""
    suffix = secrets.token_hex(3)
    names = {"submit_job": f"submit-{suffix}", "deliver_result": f"deliver-{suffix}"}
    for queue_id in names.values():
        admin.create_queue(
            parent=f"projects/{PROJECT}/locations/{LOCATION}",
            queue=tasks_v2.Queue(name=admin.queue_path(PROJECT, LOCATION, queue_id)),
        )
    return names


def make_queue(host: str, base_url: str, queues: dict[str, str]) -> CloudTasksQueue:
    return CloudTasksQueue(
        project=PROJECT,
        location=LOCATION,
        functions_base_url=base_url,
        queues=queues,
        invoker_email=INVOKER,
        emulator_host=host,
    )


def test_emulator_posts_our_json_to_the_target_url(
    emulator_host: str, target: tuple[RecordingTarget, str], queues: dict[str, str]
) -> None:
    recorder, base_url = target
    queue = make_queue(emulator_host, base_url, queues)
    assert queue.enqueue("submit_job", {"job_id": 11, "text": "привет"}, name="submit-11")
    [delivery] = recorder.wait_for(1, SUBMIT, timeout=5)
    assert delivery.json() == {"job_id": 11, "text": "привет"}
    assert delivery.headers["Content-Type"] == "application/json"
    assert delivery.headers["X-Cloudtasks-Taskname"] == "submit-11"
    # The emulator sends the queue's full path; Cloud Tasks sends the short queue id.
    assert delivery.headers["X-Cloudtasks-Queuename"] == queue.queue_path("submit_job")


def test_emulator_retries_a_failed_delivery(
    emulator_host: str, target: tuple[RecordingTarget, str], queues: dict[str, str]
) -> None:
    recorder, base_url = target
    recorder.script("/fn/deliver_result", Reply(503))
    queue = make_queue(emulator_host, base_url, queues)
    assert queue.enqueue("deliver_result", {"job_id": 12})
    first, second = recorder.wait_for(2, "/fn/deliver_result", timeout=5)
    assert first.headers["X-Cloudtasks-Taskretrycount"] == "0"
    assert second.headers["X-Cloudtasks-Taskretrycount"] == "1"
    assert second.json() == {"job_id": 12}


def test_task_carries_the_deterministic_name_oidc_token_and_schedule(
    emulator_host: str,
    admin: tasks_v2.CloudTasksClient,
    target: tuple[RecordingTarget, str],
    queues: dict[str, str],
) -> None:
    recorder, base_url = target
    queue = make_queue(emulator_host, base_url, queues)
    name = "job:13/submit"
    before = datetime.now(UTC).timestamp()
    # Delayed, so the emulator still holds the task when we read it back.
    assert queue.enqueue("submit_job", {"job_id": 13}, name=name, delay_s=600)
    [task] = admin.list_tasks(parent=queue.queue_path("submit_job"))
    assert task.name == f"{queue.queue_path('submit_job')}/tasks/{task_id_for(name)}"
    assert task.http_request.url == f"{base_url}/submit_job"
    assert task.http_request.http_method == tasks_v2.HttpMethod.POST
    assert task.http_request.oidc_token.service_account_email == INVOKER
    assert task.http_request.oidc_token.audience == f"{base_url}/submit_job"
    assert abs(task.schedule_time.timestamp() - (before + 600)) < 5
    time.sleep(0.3)  # a few emulator dispatch loops: a task due in 10 min must not run
    assert recorder.deliveries() == []


def test_the_deployed_queue_gives_attempts_longer_than_any_function_runs(
    emulator_host: str,
    admin: tasks_v2.CloudTasksClient,
    target: tuple[RecordingTarget, str],
    queues: dict[str, str],
) -> None:
    """Cloud Tasks' default deadline (600 s) equals deliver_result's timeout: an attempt
    still running at it would be retried beside itself."""
    from shared.config import Settings

    _recorder, base_url = target
    settings = Settings(
        _env_file=None,
        task_queue_backend="cloud_tasks",
        gcp_project=PROJECT,
        gcp_location=LOCATION,
        functions_base_url=base_url,
        cloud_tasks_queue_submit=queues["submit_job"],
        cloud_tasks_queue_deliver=queues["deliver_result"],
        cloud_tasks_invoker_email=INVOKER,
        cloud_tasks_emulator_host=emulator_host,
    )
    queue = CloudTasksQueue.from_settings(settings)
    assert queue.enqueue("deliver_result", {"job_id": 14}, name="deliver-14", delay_s=600)
    [task] = admin.list_tasks(parent=queue.queue_path("deliver_result"))
    assert task.dispatch_deadline.total_seconds() == 1800


def test_already_exists_counts_as_success_and_nothing_is_delivered_twice(
    emulator_host: str, target: tuple[RecordingTarget, str], queues: dict[str, str]
) -> None:
    recorder, base_url = target
    with DedupingCloudTasksProxy(emulator_host) as proxy:
        queue = make_queue(proxy.host, base_url, queues)
        assert queue.enqueue("submit_job", {"job_id": 14}, name="submit-14") is True
        assert queue.enqueue("submit_job", {"job_id": 14}, name="submit-14") is False
        assert queue.enqueue("submit_job", {"job_id": 15}) is True  # unnamed: never deduplicated
        assert queue.enqueue("submit_job", {"job_id": 15}) is True
        recorder.wait_for(3, SUBMIT, timeout=5)
        time.sleep(0.3)  # room for a wrong extra delivery to show up
    assert proxy.refused == 1
    assert sorted(d.json()["job_id"] for d in recorder.deliveries(SUBMIT)) == [14, 15, 15]


def test_refusals(emulator_host: str, target: tuple[RecordingTarget, str]) -> None:
    _, base_url = target
    queue = make_queue(emulator_host, base_url, {"submit_job": "never-created"})
    with pytest.raises(UnknownTarget):
        queue.enqueue("deliver_result", {})
    with pytest.raises(EnqueueFailed) as failure:
        queue.enqueue("submit_job", {})  # the emulator: FAILED_PRECONDITION, no such queue
    assert failure.value.retryable is False


def test_a_target_served_elsewhere_gets_its_own_url_and_audience(
    emulator_host: str,
    admin: tasks_v2.CloudTasksClient,
    target: tuple[RecordingTarget, str],
    queues: dict[str, str],
) -> None:
    recorder, base_url = target
    ocr_queue = f"ocr-{secrets.token_hex(3)}"
    admin.create_queue(
        parent=f"projects/{PROJECT}/locations/{LOCATION}",
        queue=tasks_v2.Queue(name=admin.queue_path(PROJECT, LOCATION, ocr_queue)),
    )
    ocr_url = f"{base_url}/elsewhere/ocr"  # as OCR_RECEIPT_URL points at Cloud Run
    queue = CloudTasksQueue(
        project=PROJECT,
        location=LOCATION,
        functions_base_url=base_url,
        queues={**queues, "ocr_receipt": ocr_queue},
        invoker_email=INVOKER,
        emulator_host=emulator_host,
        target_urls={"ocr_receipt": ocr_url},
    )
    assert queue.enqueue("ocr_receipt", {"payment_id": 7}, delay_s=600)
    [task] = admin.list_tasks(parent=queue.queue_path("ocr_receipt"))
    assert task.http_request.url == ocr_url
    assert task.http_request.oidc_token.audience == ocr_url
    assert queue.enqueue("submit_job", {"job_id": 1}, delay_s=600)
    [submit] = admin.list_tasks(parent=queue.queue_path("submit_job"))
    assert submit.http_request.url == f"{base_url}/submit_job"
    assert recorder.deliveries() == []
