"""The AWS adapters against moto (in-process and server mode): S3 archive, presigned links
and "send again" from the archive; SQS-driven submit_job and deliver_result Lambdas, each
with a duplicate message and a failing record in a batch."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from shared.local_ports import free_port
from shared.queue import sqs as sqs_module
from shared.queue.port import InvalidDelay, UnknownTarget
from shared.queue.sqs import RetryAfter, SqsTaskQueue, handle_sqs_batch
from shared.storage.archive import ResultTooLarge, archive_results
from shared.storage.s3 import S3ObjectStore
from tests.bootstrap_caches import clear_bootstrap_caches
from tests.conftest import DatabaseFactory

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 2048
BUCKET = "studio-results"


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    # Dummy credentials: moto checks none, and nothing here may reach real AWS.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")


@pytest.fixture(scope="module")
def file_server() -> Iterator[str]:
    """Serves result files as KIE's file host would: /small.png and a /huge.mp4 that lies."""

    @Request.application
    def app(request: Request) -> Response:
        if request.path == "/small.png":
            return Response(PNG, content_type="image/png")
        if request.path == "/huge.mp4":
            return Response(b"\x00" * 200_000, content_type="video/mp4")
        return Response("missing", status=404)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port())
    server.start()
    yield f"http://127.0.0.1:{server._port}"
    server.stop()


def test_archive_puts_once_and_a_presigned_link_serves_the_file(
    moto_server: str, file_server: str
) -> None:
    boto3.client("s3", endpoint_url=moto_server).create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
    )
    store = S3ObjectStore(BUCKET, endpoint_url=moto_server, region="eu-central-1")
    with httpx.Client() as http:
        [first] = archive_results(
            store, http, "job-1", [f"{file_server}/small.png"], max_bytes=10**6
        )
        [again] = archive_results(
            store, http, "job-1", [f"{file_server}/small.png"], max_bytes=10**6
        )
        assert first.key == again.key == "results/job-1/0.png"
        assert (first.size_bytes, first.content_type) == (len(PNG), "image/png")
        link = store.presigned_get(first.key, expires_s=600)
        assert httpx.get(link).content == PNG  # "send again" after KIE's link expired
    listed = boto3.client("s3", endpoint_url=moto_server).list_objects_v2(Bucket=BUCKET)
    assert [item["Key"] for item in listed["Contents"]] == ["results/job-1/0.png"]


def test_uploads_carry_no_checksum_trailers_google_cloud_storage_refuses(
    moto_server: str,
) -> None:
    """Google Cloud Storage's S3 API rejects boto3's default CRC32 trailers (aws-chunked)."""
    bucket = "checksum-free"
    boto3.client("s3", endpoint_url=moto_server).create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
    )
    store = S3ObjectStore(bucket, endpoint_url=moto_server, region="eu-central-1")
    sent: list[dict[str, str]] = []
    store._s3.meta.events.register(
        "before-send.s3.*", lambda request, **_: sent.append(dict(request.headers))
    )
    store.put("results/plain.png", PNG, "image/png")
    store.put_file("results/file.png", io.BytesIO(PNG), "image/png")
    assert len(sent) == 2
    for headers in sent:
        names = {name.lower() for name in headers}
        assert not {n for n in names if n.startswith("x-amz-checksum")}, names
        assert "x-amz-sdk-checksum-algorithm" not in names
        assert "aws-chunked" not in str(headers.get("Content-Encoding", ""))
    assert store.head("results/file.png") is not None


def test_a_result_over_the_limit_is_refused_and_not_stored(file_server: str) -> None:
    with mock_aws():
        boto3.client("s3").create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
        )
        store = S3ObjectStore(BUCKET, region="eu-central-1")
        with httpx.Client() as http, pytest.raises(ResultTooLarge):
            archive_results(store, http, "job-2", [f"{file_server}/huge.mp4"], max_bytes=100_000)
        assert store.head("results/job-2/0.mp4") is None


def test_a_result_the_instance_cannot_spool_is_a_final_storage_error(
    file_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """A disk that cannot take the file (full, or memory on Cloud Functions) is not worth a
    retry: delivery falls back to KIE's links."""
    import tempfile

    from shared.storage import archive
    from shared.storage.port import ObjectStoreError

    monkeypatch.setattr(archive, "SPOOL_IN_MEMORY_BYTES", 16)  # to disk at once
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-dir"))
    with mock_aws():
        boto3.client("s3").create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
        )
        store = S3ObjectStore(BUCKET, region="eu-central-1")
        with httpx.Client() as http, pytest.raises(ObjectStoreError) as refused:
            archive_results(store, http, "job-3", [f"{file_server}/small.png"], max_bytes=10**6)
        assert refused.value.retryable is False
        assert store.head("results/job-3/0.png") is None


@pytest.fixture
def queues() -> Iterator[tuple[Any, dict[str, str]]]:
    with mock_aws():
        sqs = boto3.client("sqs")
        urls = {
            target: sqs.create_queue(QueueName=f"studio-{target}")["QueueUrl"]
            for target in ("submit_job", "deliver_result")
        }
        yield sqs, urls


def receive(sqs: Any, url: str, visibility_s: int = 30) -> list[dict[str, Any]]:
    messages = sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=10,
        MessageAttributeNames=["All"],
        VisibilityTimeout=visibility_s,
    ).get("Messages", [])
    return [
        {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "eventSource": "aws:sqs",
        }
        for m in messages
    ]


def test_sqs_tasks_with_a_duplicate_and_a_failing_record(
    queues: tuple[Any, dict[str, str]],
) -> None:
    sqs, urls = queues
    queue = SqsTaskQueue(urls, client=sqs)
    assert queue.enqueue("submit_job", {"job_id": "a"}, name="submit-a")
    assert queue.enqueue("submit_job", {"job_id": "a"}, name="submit-a")  # SQS keeps both
    assert queue.enqueue("submit_job", {"job_id": "broken"}, name="submit-broken")
    records = receive(sqs, urls["submit_job"])
    assert len(records) == 3
    done: set[str] = set()
    calls: list[str] = []

    def handle(payload: dict[str, Any]) -> bool:
        calls.append(payload["job_id"])
        if payload["job_id"] == "broken":
            raise RuntimeError("this task's handler fails")
        done.add(payload["job_id"])  # idempotent: the duplicate changes nothing
        return True

    answer = handle_sqs_batch({"Records": records}, handle)
    broken = [r["messageId"] for r in records if json.loads(r["body"])["job_id"] == "broken"]
    assert answer == {"batchItemFailures": [{"itemIdentifier": broken[0]}]}
    assert sorted(calls) == ["a", "a", "broken"] and done == {"a"}


def test_a_body_that_is_not_json_is_dropped_not_retried() -> None:
    answer = handle_sqs_batch(
        {"Records": [{"messageId": "m1", "body": "{not json"}]}, lambda _: False
    )
    assert answer == {"batchItemFailures": []}


def test_sqs_refuses_what_it_cannot_do(queues: tuple[Any, dict[str, str]]) -> None:
    sqs, urls = queues
    queue = SqsTaskQueue(urls, client=sqs)
    with pytest.raises(InvalidDelay):
        queue.enqueue("submit_job", {"job_id": "a"}, delay_s=901)
    with pytest.raises(UnknownTarget):
        queue.enqueue("sweeper", {})
    queue.enqueue("deliver_result", {"job_id": "b"}, delay_s=3)
    attributes = sqs.get_queue_attributes(
        QueueUrl=urls["deliver_result"], AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"


def test_the_lambda_submit_handler_drives_jobs_from_an_sqs_batch(
    queues: tuple[Any, dict[str, str]],
    make_test_database: DatabaseFactory,
    pg_server_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SQS → functions.aws_sqs.submit_job → KIE (simulator): a duplicate message submits
    once, and a record whose job KIE keeps refusing (429) is the only one sent back."""
    from functions import aws_sqs
    from scripts.kie_simulator import KieSimulator
    from shared import bootstrap
    from shared.jobs.states import JobState
    from shared.registry import enabled_models
    from shared.registry.samples import sample_inputs
    from shared.services.ledger import Ledger
    from shared.services.users import open_account

    sqs, urls = queues
    db = make_test_database()
    url = pg_server_url.rsplit("/", 1)[0] + "/" + db.params.database
    sim = KieSimulator(api_key="k", delay_s=60)
    sim_url = sim.start()
    for name, value in {
        "DATABASE_URL": url,
        "KIE_API_KEY": "k",
        "KIE_BASE_URL": sim_url,
        "TASK_QUEUE_BACKEND": "sqs",
        "SQS_QUEUE_URL_SUBMIT": urls["submit_job"],
        "SQS_QUEUE_URL_DELIVER": urls["deliver_result"],
        "AWS_REGION": "eu-central-1",
    }.items():
        monkeypatch.setenv(name, value)
    clear_bootstrap_caches()
    try:
        service = bootstrap.get_job_service()
        account = open_account(db, 555)
        Ledger(db, default_hold_ttl_s=3600).topup(account.wallet_id, 10**7, "aws-funds")
        entry = next(m for m in enabled_models() if m.family == "market")
        ok = service.confirm(
            service.create(account.user_id, entry.id, sample_inputs(entry), client_ref="aws-1").id
        )
        records = receive(sqs, urls["submit_job"])  # confirm enqueued it on SQS
        assert [json.loads(r["body"]) for r in records] == [{"job_id": ok.id}]
        duplicate = {**records[0], "messageId": "duplicate-delivery"}
        answer = aws_sqs.submit_job({"Records": [records[0], duplicate]}, None)
        assert answer == {"batchItemFailures": []}
        submitted = service.get(ok.id)
        assert (submitted.state, submitted.attempts) == (JobState.SUBMITTED, 1)
        busy = service.confirm(
            service.create(account.user_id, entry.id, sample_inputs(entry), client_ref="aws-2").id
        )
        sim.configure(create_429_rate=1.0)
        event = {"Records": receive(sqs, urls["submit_job"])}
        answer = aws_sqs.submit_job(event, None)
        assert answer == {
            "batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]
        }
        assert service.get(busy.id).state is JobState.QUEUED
    finally:
        sim.stop()
        clear_bootstrap_caches()


@pytest.fixture(params=["in-process", "server"])
def sqs_mode(request: pytest.FixtureRequest, moto_server: str) -> Iterator[tuple[Any, str]]:
    """An SQS client and a fresh deliver queue, in moto's in-process mock or its server."""
    if request.param == "server":
        sqs = boto3.client("sqs", endpoint_url=moto_server)
        name = f"studio-deliver-{free_port()}"
        yield sqs, sqs.create_queue(QueueName=name)["QueueUrl"]
        return
    with mock_aws():
        sqs = boto3.client("sqs")
        yield sqs, sqs.create_queue(QueueName="studio-deliver")["QueueUrl"]


def test_the_lambda_deliver_handler_retries_only_the_failing_record(
    sqs_mode: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQS → functions.aws_sqs.deliver_result: a duplicate message delivers once (the
    delivery is idempotent), Telegram's flood control sends back only its own record, and
    after Telegram's retry_after, not after the queue's visibility timeout (720 s)."""
    from functions import aws_sqs, deliver_result
    from shared.jobs.service import RetryLater

    sqs, url = sqs_mode
    queue = SqsTaskQueue({"deliver_result": url}, client=sqs)
    done_id, busy_id = (
        "6f1c1b1e-0000-4000-8000-000000000001",
        "6f1c1b1e-0000-4000-8000-000000000002",
    )
    queue.enqueue("deliver_result", {"job_id": done_id}, name=f"deliver-{done_id}")
    queue.enqueue("deliver_result", {"job_id": done_id}, name=f"deliver-{done_id}")
    queue.enqueue("deliver_result", {"job_id": busy_id}, name=f"deliver-{busy_id}")
    records = receive(sqs, url, visibility_s=720)
    assert len(records) == 3
    delivered: list[str] = []

    async def deliver(
        job_id: str, again: bool, progress: bool = False, request: str | None = None
    ) -> str:
        if job_id == busy_id:
            raise RetryLater("Telegram flood control", 3.0)
        if job_id in delivered:
            return "skipped"  # the service finds the job already delivered
        delivered.append(job_id)
        return "delivered"

    monkeypatch.setattr(deliver_result, "deliver", deliver)
    monkeypatch.setattr(aws_sqs, "observe", lambda trace: None)
    monkeypatch.setattr(aws_sqs, "get_task_queue", lambda: queue)
    monkeypatch.setattr(sqs_module, "RETRY_FLOOR_MIN_S", 1.0)  # the first retry's floor
    answer = aws_sqs.deliver_result({"Records": records}, None)
    busy = [r["messageId"] for r in records if json.loads(r["body"])["job_id"] == busy_id]
    assert answer == {"batchItemFailures": [{"itemIdentifier": busy[0]}]}
    assert delivered == [done_id]
    # Lambda deletes the delivered records; the busy one comes back after about 3 s.
    for record in records:
        if record["messageId"] not in busy:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=record["receiptHandle"])
    deadline = time.monotonic() + 15
    again: list[dict[str, Any]] = []
    while not again and time.monotonic() < deadline:
        again = receive(sqs, url)
        time.sleep(0.5)
    assert [json.loads(r["body"])["job_id"] for r in again] == [busy_id]


def test_send_again_uses_the_archive_after_kies_link_expired(
    moto_server: str, file_server: str
) -> None:
    """deliver_result's sources: the result archived on first delivery; asked again once
    KIE's link is gone (404), the user gets a presigned link to our copy."""
    from types import SimpleNamespace
    from typing import cast

    from shared.delivery.service import DeliveryService

    bucket = f"studio-again-{free_port()}"
    boto3.client("s3", endpoint_url=moto_server).create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
    )
    store = S3ObjectStore(bucket, endpoint_url=moto_server, region="eu-central-1")
    writes: list[str] = []

    def run(sql: str, **params: object) -> list[object]:
        writes.append(sql)
        return []

    db = SimpleNamespace(run=run)
    job = cast(Any, SimpleNamespace(id="job-again"))
    with httpx.Client() as http:
        service = DeliveryService(
            cast(Any, db), cast(Any, None), http, lambda: store, result_max_bytes=10**6
        )
        first = service._sources(job, [f"{file_server}/small.png"], prefer_archive=False)
        assert first == [(f"{file_server}/small.png", len(PNG), "image/png")]
        # KIE's link has expired (404): the archive is found by its key, nothing downloaded.
        gone = f"{file_server}/gone.png"
        assert http.get(gone).status_code == 404
        [(link, size, kind)] = service._sources(job, [gone], prefer_archive=True)
        assert link.startswith(moto_server) and "results/job-again/0.png" in link
        assert (size, kind) == (len(PNG), "image/png")
        assert httpx.get(link).content == PNG
    assert sum("SET archived" in sql for sql in writes) == 2  # the copy is recorded on the job


def test_a_shortened_sqs_wait_grows_with_the_receive_count() -> None:
    """A named wait is kept while it is longer than the floor, which doubles with each
    receive: a string of zero waits cannot spend a queue's maxReceiveCount in minutes."""
    assert RetryAfter(0).after_receives(1).seconds == 10
    assert RetryAfter(30).after_receives(1).seconds == 30
    assert RetryAfter(30).after_receives(4).seconds == 80
    assert RetryAfter(0).after_receives(20).seconds == 900
    assert RetryAfter(0.2).visibility_timeout() == 1
    waits = [RetryAfter(0).after_receives(n).seconds for n in range(1, 21)]
    assert sum(waits) > 3 * 3600  # 20 receives, as deliver's queue allows, span hours
