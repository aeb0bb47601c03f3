"""Generations end to end over HTTP: functions served by functions-framework, the KIE
simulator on loopback, the local task queue and real Postgres. After every test the
ledger's invariants must hold."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from pg8000.exceptions import DatabaseError

from scripts.job_stack import CALLBACK_SECRET, KIE_KEY, WEBHOOK_KEY, Stack, job_stack
from shared.domain.money import format_rubles
from shared.jobs.repository import Job
from shared.jobs.service import InProgress, JobPolicy, JobService, RetryLater
from shared.jobs.states import JobState
from shared.kie.client import KieClient
from shared.kie.results import TaskState, TaskStatus
from shared.kie.signing import callback_url, kie_webhook_signature
from shared.registry import build_request, enabled_models, get_model, kopecks_for, quote
from shared.registry.samples import sample_inputs, sample_media_seconds
from shared.registry.schema import ModelEntry
from shared.services.ledger_audit import audit_ledger
from tests.conftest import DatabaseFactory
from tests.ids import new_ref, new_telegram_id

FUNDS = 1_000_000  # 10 000 ₽: enough for any single sample job
SUCCESS = (JobState.SUCCEEDED, JobState.DELIVERED)
DEFAULT_KNOBS: dict[str, Any] = {
    "delay_s": 0.05,
    "failure_rate": 0.0,
    "duplicate_rate": 0.0,
    "out_of_order_rate": 0.0,
    "lost_rate": 0.0,
    "create_429_rate": 0.0,
    "create_5xx_rate": 0.0,
    "balance": 10**9,
}


def one_model_per_family() -> dict[str, ModelEntry]:
    """The first enabled model of each family whose sample inputs can be priced up front."""
    chosen: dict[str, ModelEntry] = {}
    for entry in enabled_models():
        if entry.family in chosen or sample_media_seconds(entry):
            continue
        chosen[entry.family] = entry
    return chosen


FAMILIES = one_model_per_family()


@pytest.fixture(scope="module")
def stack(make_test_database: DatabaseFactory, pg_server_url: str) -> Iterator[Stack]:
    db = make_test_database(max_size=8)
    url = pg_server_url.rsplit("/", 1)[0] + "/" + db.params.database
    with job_stack(db, url, seed=7, **DEFAULT_KNOBS) as running:
        yield running


@pytest.fixture(autouse=True)
def fresh_knobs_and_audit(stack: Stack) -> Iterator[None]:
    stack.set_sim(**DEFAULT_KNOBS)
    yield
    report = audit_ledger(stack.db)
    assert report.ok, report.summary()


def start(stack: Stack, entry: ModelEntry) -> tuple[Job, int]:
    user_id, wallet_id = stack.new_wallet(new_telegram_id(), FUNDS)
    job = stack.run_job(user_id, entry.id, sample_inputs(entry), client_ref=new_ref("tap"))
    return job, wallet_id


def entries_for(stack: Stack, job_id: str) -> list[str]:
    rows = stack.db.run(
        "SELECT kind FROM ledger WHERE ref LIKE :prefix ORDER BY id", prefix=f"job:{job_id}:%"
    )
    return [row[0] for row in rows]


def wait_state(stack: Stack, job_id: str, state: JobState, timeout_s: float = 20.0) -> Job:
    deadline = time.monotonic() + timeout_s
    while (job := stack.service.get(job_id)).state is not state:
        assert time.monotonic() < deadline, f"job {job_id} is {job.state}, not {state}"
        time.sleep(0.05)
    return job


def chat_of(stack: Stack, job: Job) -> list[dict[str, Any]]:
    telegram_id = stack.db.run("SELECT telegram_id FROM users WHERE id = :u", u=job.user_id)[0][0]
    messages: list[dict[str, Any]] = stack.telegram.chat(telegram_id)["messages"]
    return messages


def balance(stack: Stack, wallet_id: int) -> tuple[int, int]:
    wallet = stack.ledger.balance(wallet_id)
    return wallet.balance_kopecks, wallet.held_kopecks


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_a_job_of_each_family_succeeds_and_costs_at_most_its_quote(
    stack: Stack, family: str
) -> None:
    entry = FAMILIES[family]
    job, wallet = start(stack, entry)
    assert job.price_kopecks == quote(entry.id, sample_inputs(entry), stack.service._pricing)
    done = stack.wait_final(job.id)
    assert done.state in SUCCESS, done.error_message
    assert done.result is not None
    assert done.result["urls"] or done.result["text"]
    # deliver_result sends it to the chat as the kind of media the model makes.
    delivered = wait_state(stack, job.id, JobState.DELIVERED)
    messages = [m for m in chat_of(stack, delivered) if m["direction"] == "out"]
    kinds = {m.get("media", {}).get("kind") for m in messages}
    expected_kind = {
        "t2v": "video",
        "i2v": "video",
        "v2v": "video",
        "t2i": "photo",
        "i2i": "photo",
        "music": "audio",
        "tts": "audio",
        "text": None,
    }.get(entry.kind)
    assert expected_kind in kinds, (entry.kind, messages)
    assert any(
        f"Готово: {entry.title.ru}" in (m.get("caption") or m.get("text") or "") for m in messages
    )
    charged = FUNDS - balance(stack, wallet)[0]
    assert 0 < charged <= (job.price_kopecks or 0)
    if done.credits_consumed is not None:
        expected = min(
            job.price_kopecks or 0, kopecks_for(done.credits_consumed, stack.service._pricing)
        )
        assert charged == max(100, expected)
    assert balance(stack, wallet)[1] == 0
    assert entries_for(stack, job.id) == ["hold", "capture"]


@pytest.mark.parametrize("family", sorted(f for f in FAMILIES if f != "chat"))
def test_a_failed_job_of_each_family_returns_the_money(stack: Stack, family: str) -> None:
    stack.set_sim(failure_rate=1.0)
    job, wallet = start(stack, FAMILIES[family])
    done = stack.wait_final(job.id)
    assert done.state is JobState.FAILED
    assert done.error_code and done.error_message
    assert balance(stack, wallet) == (FUNDS, 0)
    assert entries_for(stack, job.id) == ["hold", "release"]
    # One notice with the reason and the refund, in the user's language.
    refund = f"{format_rubles(job.price_kopecks or 0)} вернулись на ваш баланс."
    deadline = time.monotonic() + 20
    while not (notices := [m for m in chat_of(stack, job) if refund in (m.get("text") or "")]):
        assert time.monotonic() < deadline, chat_of(stack, job)
        time.sleep(0.05)
    assert len(notices) == 1 and notices[0]["text"].startswith("Не получилось")


def test_kie_out_of_credits_fails_the_job_and_releases_the_hold(stack: Stack) -> None:
    stack.set_sim(balance=0)
    job, wallet = start(stack, FAMILIES["market"])
    done = stack.wait_final(job.id)
    assert (done.state, done.error_code) == (JobState.FAILED, "service_unavailable")
    assert balance(stack, wallet) == (FUNDS, 0)


@pytest.mark.parametrize("knob", ["create_429_rate", "create_5xx_rate"])
def test_busy_kie_is_retried_through_the_queue_until_it_answers(stack: Stack, knob: str) -> None:
    stack.set_sim(**{knob: 1.0})
    job, wallet = start(stack, FAMILIES["market"])
    time.sleep(1.0)
    waiting = stack.service.get(job.id)
    assert waiting.state is JobState.QUEUED
    assert waiting.attempts >= 2  # the queue came back after each refusal
    assert balance(stack, wallet) == (FUNDS, job.price_kopecks)  # still held, not charged
    stack.set_sim(**{knob: 0.0})
    assert stack.wait_final(job.id).state in SUCCESS


def test_a_kie_timeout_leaves_the_job_queued_for_a_retry(stack: Stack) -> None:
    """KIE accepts the connection and never answers: the submit asks to be retried."""
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    url = f"http://127.0.0.1:{silent.getsockname()[1]}"
    slow = KieClient(base_url=url, upload_base_url=url, api_key="k", timeout_s=0.5)
    policy = JobPolicy(callback_secret=CALLBACK_SECRET, callback_base_url=stack.fn("kie_callback"))
    blocked_queue = _RecordingQueue()
    service = JobService(
        stack.db, stack.ledger, blocked_queue, lambda: slow, stack.service._pricing, policy
    )
    user_id, wallet = stack.new_wallet(new_telegram_id(), FUNDS)
    entry = FAMILIES["market"]
    job = service.confirm(
        service.create(user_id, entry.id, sample_inputs(entry), client_ref=new_ref()).id
    )
    with pytest.raises(RetryLater, match="timeout"):
        service.submit(job.id)
    assert service.get(job.id).state is JobState.QUEUED
    assert balance(stack, wallet) == (FUNDS, job.price_kopecks)
    silent.close()
    slow.close()
    # Time passes and KIE never answers: the sweeper expires the job and returns the money.
    stack.db.run(
        "UPDATE jobs SET updated_at = now() - interval '1 hour', deadline_at = now() "
        "WHERE id = CAST(:id AS uuid)",
        id=job.id,
    )
    stack.sweep()
    assert stack.service.get(job.id).state is JobState.EXPIRED
    assert balance(stack, wallet) == (FUNDS, 0)


class _RecordingQueue:
    def __init__(self) -> None:
        self.tasks: list[tuple[str, str | None]] = []

    def enqueue(
        self, target: str, payload: Any, *, name: str | None = None, delay_s: float = 0.0
    ) -> bool:
        self.tasks.append((target, name))
        return True


def test_duplicate_callbacks_capture_once(stack: Stack) -> None:
    stack.set_sim(duplicate_rate=1.0)
    job, wallet = start(stack, FAMILIES["market"])
    done = stack.wait_final(job.id)
    time.sleep(0.5)  # let the duplicate arrive
    assert done.state in SUCCESS
    assert entries_for(stack, job.id) == ["hold", "capture"]
    charged = FUNDS - balance(stack, wallet)[0]
    assert 0 < charged <= (job.price_kopecks or 0)


def test_a_lost_callback_is_finished_by_the_sweeper(stack: Stack) -> None:
    stack.set_sim(lost_rate=1.0)
    job, wallet = start(stack, FAMILIES["market"])
    time.sleep(1.5)  # past JOB_FIRST_POLL_S, with no callback
    assert stack.service.get(job.id).state is JobState.SUBMITTED
    report = stack.sweep()
    assert report["finished"] >= 1
    assert stack.service.get(job.id).state in SUCCESS
    assert entries_for(stack, job.id) == ["hold", "capture"]
    assert balance(stack, wallet)[1] == 0


def test_a_job_past_its_deadline_expires_and_is_refunded(stack: Stack) -> None:
    stack.set_sim(delay_s=120.0)  # KIE keeps generating
    job, wallet = start(stack, FAMILIES["market"])
    deadline = time.monotonic() + 10
    while stack.service.get(job.id).state is not JobState.SUBMITTED:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # Time passes: the job's first poll and its deadline are now behind us.
    stack.db.run(
        "UPDATE jobs SET eta_at = now() - interval '1 second', "
        "deadline_at = now() - interval '1 second' WHERE id = CAST(:id AS uuid)",
        id=job.id,
    )
    stack.sweep()
    done = stack.service.get(job.id)
    assert (done.state, done.error_code) == (JobState.EXPIRED, "timeout")
    assert balance(stack, wallet) == (FUNDS, 0)


def test_a_callback_that_beats_the_recording_of_the_task_id_still_finishes_the_job(
    stack: Stack,
) -> None:
    """KIE answered so fast that its callback arrives while the job is still queued."""
    entry = FAMILIES["market"]
    user_id, wallet = stack.new_wallet(new_telegram_id(), FUNDS)
    job = stack.service.create(user_id, entry.id, sample_inputs(entry), client_ref=new_ref())
    # Hold without queueing the submission, as if submit_job had not recorded anything yet.
    stack.service._queue = _RecordingQueue()
    try:
        job = stack.service.confirm(job.id)
    finally:
        stack.service._queue = stack.queue
    assert job.state is JobState.QUEUED and job.kie_task_id is None
    url = callback_url(stack.fn("kie_callback"), job.id, CALLBACK_SECRET)
    task_id = stack.kie.create_task(build_request(entry.id, job.inputs, url))
    done = stack.wait_final(job.id)
    assert done.state in SUCCESS
    assert done.kie_task_id == task_id
    assert entries_for(stack, job.id) == ["hold", "capture"]
    assert 0 < FUNDS - balance(stack, wallet)[0] <= (job.price_kopecks or 0)


def test_a_crash_between_kie_accepting_and_recording_does_not_charge_twice(stack: Stack) -> None:
    """submit_job died after KIE took the task: the queue's retry creates a second KIE task.
    Both callbacks name the job; the first final one wins once, the other changes nothing."""
    entry = FAMILIES["market"]
    user_id, wallet = stack.new_wallet(new_telegram_id(), FUNDS)
    job = stack.service.create(user_id, entry.id, sample_inputs(entry), client_ref=new_ref())
    stack.service._queue = _RecordingQueue()  # the first delivery of the task is the lost one
    try:
        job = stack.service.confirm(job.id)
    finally:
        stack.service._queue = stack.queue
    url = callback_url(stack.fn("kie_callback"), job.id, CALLBACK_SECRET)
    orphan = stack.kie.create_task(build_request(entry.id, job.inputs, url))  # KIE took it…
    # …and the process died before recording it. The queue delivers the task again:
    stack.queue.enqueue("submit_job", {"job_id": job.id}, name=f"submit-{job.id}")
    done = stack.wait_final(job.id)
    time.sleep(0.5)  # both callbacks in
    assert done.state in SUCCESS
    assert done.kie_task_id is not None
    assert entries_for(stack, job.id) == ["hold", "capture"]
    assert FUNDS - balance(stack, wallet)[0] <= (job.price_kopecks or 0)
    assert orphan  # KIE did run twice: that cost is ours, never the user's


def kie_tasks_for(stack: Stack, job_id: str) -> list[str]:
    """The ids of the tasks the simulator took for this job (their callback URL names it)."""
    tasks = httpx.get(f"{stack.sim_url}/_sim/tasks", timeout=10).json()["tasks"]
    return [t["taskId"] for t in tasks if job_id in (t["callBackUrl"] or "")]


def submit_while_recording_fails(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, job_id: str
) -> InProgress:
    """One submit attempt whose recording of KIE's task fails as a statement timeout would
    (the other jobs of the shared stack move as usual); what it answers the queue."""
    jobs = stack.service._jobs
    real_transition = jobs.transition

    def failing(moving: str, event: str, *args: Any, **kwargs: Any) -> Job | None:
        if moving == job_id and event == "submit":
            raise DatabaseError({"C": "57014", "M": "canceling statement due to statement timeout"})
        return real_transition(moving, event, *args, **kwargs)

    monkeypatch.setattr(jobs, "transition", failing)
    try:
        with pytest.raises(InProgress) as kept:
            stack.service.submit(job_id)
    finally:
        monkeypatch.setattr(jobs, "transition", real_transition)
    return kept.value


def test_a_task_kie_took_but_the_database_did_not_record_is_not_sent_again(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database failed right after KIE took the task (a statement timeout, a dropped
    connection): the lease stays, so the queue's retry waits instead of creating a second
    paid task, and the callback, which names the job, records the task and finishes it."""
    stack.set_sim(delay_s=2.0)  # the callback comes after both attempts below, even on a busy CI
    entry = FAMILIES["flux_kontext"]  # quicker than 2 minutes: the lease is the 3 of a run
    user_id, _ = stack.new_wallet(new_telegram_id(), FUNDS)
    job = stack.service.create(user_id, entry.id, sample_inputs(entry), client_ref=new_ref())
    stack.service._queue = _RecordingQueue()  # submitted here, in-process, not by the function
    try:
        job = stack.service.confirm(job.id)
        assert submit_while_recording_fails(stack, monkeypatch, job.id).retry_after_s == 180
        with pytest.raises(InProgress):
            stack.service.submit(job.id)  # the queue's retry, before the callback
    finally:
        stack.service._queue = stack.queue
    done = stack.wait_final(job.id)
    assert done.state in SUCCESS
    assert stack.service.submit(job.id).state is done.state  # a late retry does nothing
    assert kie_tasks_for(stack, job.id) == [done.kie_task_id]
    assert entries_for(stack, job.id) == ["hold", "capture"]


def test_a_slow_models_unrecorded_task_holds_retries_back_until_its_callback_is_due(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seedance takes about three minutes, so its callback is due after four: past the
    three minutes that cover a submit_job run. A retry in between must still wait, or it
    pays KIE for a second task."""
    stack.set_sim(delay_s=5.0)  # the callback comes after the steps below, even on a busy CI
    entry = FAMILIES["market"]
    due_s = entry.eta_s + 60
    assert due_s > JobPolicy(callback_secret="", callback_base_url="").submit_lease_s
    user_id, _ = stack.new_wallet(new_telegram_id(), FUNDS)
    job = stack.service.create(user_id, entry.id, sample_inputs(entry), client_ref=new_ref())

    leases_when_kie_was_called: list[float] = []
    real_create = stack.kie.create_task

    def create_task(request: Any) -> str:
        # A process killed inside this call keeps whatever lease it had taken by now.
        leases_when_kie_was_called.append(stack.service._jobs.submit_lease_left_s(job.id))
        return real_create(request)

    monkeypatch.setattr(stack.kie, "create_task", create_task)
    stack.service._queue = _RecordingQueue()  # submitted here, in-process, not by the function
    try:
        job = stack.service.confirm(job.id)
        assert submit_while_recording_fails(stack, monkeypatch, job.id).retry_after_s == due_s
        assert len(leases_when_kie_was_called) == 1
        assert due_s - 5 < leases_when_kie_was_called[0] <= due_s
        # Three minutes and a second on, the queue's retry arrives; the callback has not.
        stack.db.run(
            "UPDATE jobs SET submit_lease_until = submit_lease_until - interval '181 seconds' "
            "WHERE id = CAST(:id AS uuid)",
            id=job.id,
        )
        with pytest.raises(InProgress):
            stack.service.submit(job.id)
    finally:
        stack.service._queue = stack.queue
    done = stack.wait_final(job.id)
    assert done.state in SUCCESS
    assert kie_tasks_for(stack, job.id) == [done.kie_task_id]
    assert entries_for(stack, job.id) == ["hold", "capture"]


def test_a_brief_database_failure_after_kie_took_the_task_is_ridden_out(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = FAMILIES["market"]
    user_id, _ = stack.new_wallet(new_telegram_id(), FUNDS)
    job = stack.service.create(user_id, entry.id, sample_inputs(entry), client_ref=new_ref())
    jobs = stack.service._jobs
    real_transition = jobs.transition
    failures = iter([DatabaseError({"C": "57014", "M": "canceling statement"})])

    def failing_once(job_id: str, event: str, *args: Any, **kwargs: Any) -> Job | None:
        if job_id == job.id and event == "submit":
            failure = next(failures, None)
            if failure is not None:
                raise failure
        return real_transition(job_id, event, *args, **kwargs)

    stack.service._queue = _RecordingQueue()  # submitted here, in-process, not by the function
    try:
        job = stack.service.confirm(job.id)
        monkeypatch.setattr(jobs, "transition", failing_once)
        submitted = stack.service.submit(job.id)
    finally:
        stack.service._queue = stack.queue
    assert submitted.kie_task_id is not None  # recorded on the second try, in-process
    done = stack.wait_final(job.id)
    assert done.state in SUCCESS
    assert kie_tasks_for(stack, job.id) == [done.kie_task_id]


def test_an_early_progress_callback_records_the_task_so_a_retry_does_not_send_it_again(
    stack: Stack,
) -> None:
    """A progress (not final) callback that arrives before submit_job recorded its task (or
    after that recording failed) records it: the queue's retry then finds the job submitted,
    and the chat's "generating" line is still asked for."""
    stack.set_sim(delay_s=10.0)  # the final callback comes well after the steps below
    entry = FAMILIES["market"]
    telegram_id = new_telegram_id()
    user_id, _ = stack.new_wallet(telegram_id, FUNDS)
    ref = f"tg:{telegram_id}:1"
    job = stack.service.create(user_id, entry.id, sample_inputs(entry), client_ref=ref)
    recorded = _RecordingQueue()
    stack.service._queue = recorded  # no submission by the function; deliveries recorded
    try:
        job = stack.service.confirm(job.id)
        url = callback_url(stack.fn("kie_callback"), job.id, CALLBACK_SECRET)
        task_id = stack.kie.create_task(build_request(entry.id, job.inputs, url))  # KIE took it
        running = stack.service.on_status(job, TaskStatus(TaskState.RUNNING, task_id=task_id))
        assert (running.state, running.kie_task_id) == (JobState.RUNNING, task_id)
        assert stack.service.submit(job.id).state is JobState.RUNNING  # the retry sends nothing
    finally:
        stack.service._queue = stack.queue
    assert ("deliver_result", f"progress-{job.id}") in recorded.tasks
    done = stack.wait_final(job.id)
    assert done.state in SUCCESS
    assert kie_tasks_for(stack, job.id) == [task_id]
    assert entries_for(stack, job.id) == ["hold", "capture"]


def test_double_confirm_holds_and_submits_once(stack: Stack) -> None:
    entry = FAMILIES["market"]
    user_id, wallet = stack.new_wallet(new_telegram_id(), FUNDS)
    tap = new_ref("tap")
    first = stack.service.create(user_id, entry.id, sample_inputs(entry), client_ref=tap)
    again = stack.service.create(user_id, entry.id, sample_inputs(entry), client_ref=tap)
    assert first.id == again.id
    for _ in range(3):
        stack.service.confirm(first.id)
    done = stack.wait_final(first.id)
    assert done.state in SUCCESS
    assert done.attempts == 1
    assert entries_for(stack, first.id) == ["hold", "capture"]
    assert 0 < FUNDS - balance(stack, wallet)[0] <= (first.price_kopecks or 0)


def forged_cases(stack: Stack, job: Job) -> dict[str, tuple[str, Any, dict[str, str], int]]:
    good = callback_url(stack.fn("kie_callback"), job.id, CALLBACK_SECRET)
    body = {
        "code": 200,
        "msg": "ok",
        "data": {
            "taskId": job.kie_task_id,
            "state": "success",
            "resultJson": '{"resultUrls":["https://evil/x"]}',
        },
    }
    now = str(int(time.time()))
    signed = {
        "X-Webhook-Timestamp": now,
        "X-Webhook-Signature": kie_webhook_signature(str(job.kie_task_id), now, WEBHOOK_KEY),
    }
    return {
        "no signature": (stack.fn("kie_callback") + f"?job={job.id}", body, signed, 401),
        "wrong signature": (good.replace("sig=", "sig=0"), body, signed, 403),
        "another job's signature": (
            callback_url(stack.fn("kie_callback"), job.id, "not-our-secret"),
            body,
            signed,
            403,
        ),
        "no webhook signature": (good, body, {}, 401),
        "forged webhook signature": (
            good,
            body,
            {**signed, "X-Webhook-Signature": kie_webhook_signature("x", now, "k")},
            403,
        ),
        "stale webhook timestamp": (
            good,
            body,
            {
                "X-Webhook-Timestamp": "1000",
                "X-Webhook-Signature": kie_webhook_signature(
                    str(job.kie_task_id), "1000", WEBHOOK_KEY
                ),
            },
            401,
        ),
        "not JSON": (good, "garbage", signed, 400),
        # compare_digest refuses non-ASCII str: a 500 for anyone who sends one, before.
        "non-ASCII URL signature": (good.replace("sig=", "sig=%C3%A9"), body, signed, 403),
        "non-ASCII webhook signature": (
            good,
            body,
            {**signed, "X-Webhook-Signature": "é".encode()},  # type: ignore[dict-item]
            403,
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "no signature",
        "wrong signature",
        "another job's signature",
        "no webhook signature",
        "forged webhook signature",
        "stale webhook timestamp",
        "not JSON",
        "non-ASCII URL signature",
        "non-ASCII webhook signature",
    ],
)
def test_a_forged_callback_is_refused_and_changes_nothing(stack: Stack, case: str) -> None:
    stack.set_sim(delay_s=120.0)  # the real result never comes during the test
    job, wallet = start(stack, FAMILIES["market"])
    deadline = time.monotonic() + 10
    while (job := stack.service.get(job.id)).state is not JobState.SUBMITTED:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    url, body, headers, status = forged_cases(stack, job)[case]
    before = (job.state, balance(stack, wallet), entries_for(stack, job.id))
    if isinstance(body, str):
        response = httpx.post(
            url, content=body, headers={**headers, "Content-Type": "application/json"}
        )
    else:
        response = httpx.post(url, json=body, headers=headers)
    assert response.status_code == status, response.text
    after = stack.service.get(job.id)
    assert (after.state, balance(stack, wallet), entries_for(stack, job.id)) == before
    # Leave nothing in flight: fail it the honest way (deadline passed).
    stack.db.run(
        "UPDATE jobs SET eta_at = now(), deadline_at = now() WHERE id = CAST(:id AS uuid)",
        id=job.id,
    )
    stack.sweep()
    assert stack.service.get(job.id).state is JobState.EXPIRED


def test_models_used_here_cover_every_family(stack: Stack) -> None:
    families = {get_model(entry.id).family for entry in FAMILIES.values()}
    assert {"market", "veo", "runway", "suno", "chat"} <= families


def test_a_refused_chat_job_returns_the_money(stack: Stack) -> None:
    """Chat answers inside submit_job; a refusal there fails the job and releases the hold."""
    stack.set_sim(balance=0)
    job, wallet = start(stack, FAMILIES["chat"])
    done = stack.wait_final(job.id)
    assert (done.state, done.error_code) == (JobState.FAILED, "service_unavailable")
    assert balance(stack, wallet) == (FUNDS, 0)
    assert entries_for(stack, job.id) == ["hold", "release"]


def test_send_again_redelivers_without_a_new_charge(stack: Stack) -> None:
    job, wallet = start(stack, FAMILIES["market"])
    delivered = wait_state(stack, job.id, JobState.DELIVERED)
    before = [m for m in chat_of(stack, delivered) if m.get("media")]
    charged = balance(stack, wallet)
    response = httpx.post(stack.fn("deliver_result"), json={"job_id": job.id, "again": True})
    assert response.json()["status"] == "delivered"
    after = [m for m in chat_of(stack, delivered) if m.get("media")]
    assert len(after) == len(before) + 1
    assert balance(stack, wallet) == charged
    assert entries_for(stack, job.id) == ["hold", "capture"]


def test_a_user_who_blocked_the_bot_is_marked_and_not_retried(stack: Stack) -> None:
    stack.set_sim(delay_s=1.0)
    job, _wallet = start(stack, FAMILIES["market"])
    telegram_id = stack.db.run("SELECT telegram_id FROM users WHERE id = :u", u=job.user_id)[0][0]
    stack.telegram.block(telegram_id)
    done = stack.wait_final(job.id)
    deadline = time.monotonic() + 20
    while not stack.db.run(
        "SELECT blocked_bot_at IS NOT NULL FROM users WHERE id = :u", u=job.user_id
    )[0][0]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert done.state in SUCCESS
    assert stack.service.get(job.id).state is JobState.SUCCEEDED  # nothing was delivered
    response = httpx.post(stack.fn("deliver_result"), json={"job_id": job.id})
    assert (response.status_code, response.json()["status"]) == (200, "blocked")


def test_the_sweeper_forgets_update_ids_older_than_a_week(stack: Stack) -> None:
    old, recent = 910_000_000 + new_telegram_id() % 10**6, 920_000_000 + new_telegram_id() % 10**6
    stack.db.run(
        "INSERT INTO processed_updates (bot_id, update_id, status, received_at) VALUES "
        "(1, :old, 'done', now() - interval '9 days'), "
        "(1, :recent, 'done', now() - interval '6 days')",
        old=old,
        recent=recent,
    )
    stack.sweep()
    kept = stack.db.run(
        "SELECT update_id FROM processed_updates WHERE update_id IN (:old, :recent)",
        old=old,
        recent=recent,
    )
    assert kept == [[recent]]


def test_the_sweeper_forgets_send_again_presses_older_than_the_queues_keep_tasks(
    stack: Stack,
) -> None:
    job, _ = start(stack, FAMILIES["market"])
    old, recent = new_ref("again-old"), new_ref("again-recent")
    stack.db.run(
        "INSERT INTO redeliveries (request, job_id, sent_at) VALUES "
        "(:old, CAST(:job AS uuid), now() - interval '6 days'), "
        "(:recent, CAST(:job AS uuid), now() - interval '4 days')",
        old=old,
        recent=recent,
        job=job.id,
    )
    stack.sweep()
    kept = stack.db.run(
        "SELECT request FROM redeliveries WHERE request IN (:old, :recent)", old=old, recent=recent
    )
    assert kept == [[recent]]


def make_late(stack: Stack, job_id: str, **columns: str) -> None:
    """Time passes: the job's next poll (and any other column given as SQL) is behind us."""
    sets = ", ".join(
        ["eta_at = now() - interval '1 second'"] + [f"{k} = {v}" for k, v in columns.items()]
    )
    stack.db.run(f"UPDATE jobs SET {sets} WHERE id = CAST(:id AS uuid)", id=job_id)


def wait_submitted(stack: Stack, job_id: str) -> Job:
    return wait_state(stack, job_id, JobState.SUBMITTED)


def test_jobs_the_sweeper_cannot_finish_do_not_stop_the_rest_of_the_sweep(stack: Stack) -> None:
    stack.set_sim(delay_s=120.0)  # KIE keeps generating; the sweeper is on its own
    unknown_task, _ = start(stack, FAMILIES["market"])
    gone_model, _ = start(stack, FAMILIES["market"])
    wait_submitted(stack, unknown_task.id)
    wait_submitted(stack, gone_model.id)
    # KIE answers "recordInfo is null" for a task it does not know; a registry sync removed
    # the other job's model. Neither may keep the sweeper from its other work.
    make_late(stack, unknown_task.id, kie_task_id="'no-such-task'")
    make_late(stack, gone_model.id, model_id="'gone/removed-model'")
    _, other_wallet = stack.new_wallet(new_telegram_id(), 500)
    stack.ledger.hold(other_wallet, 500, new_ref("stale-hold"), ttl_s=1)
    stack.db.run(
        "UPDATE holds SET expires_at = now() - interval '1 second' WHERE wallet_id = :w",
        w=other_wallet,
    )
    report = stack.sweep()
    assert balance(stack, other_wallet) == (500, 0)  # the stale hold was released all the same
    errors = "\n".join(report["errors"])
    assert unknown_task.id in errors and "recordInfo" in errors
    assert gone_model.id in errors
    for job in (unknown_task, gone_model):
        waiting = stack.service.get(job.id)
        assert waiting.state is JobState.SUBMITTED
        assert waiting.eta_at is not None and waiting.eta_at > stack.db.run("SELECT now()")[0][0]
    # At its deadline the job KIE does not know expires and its money comes back.
    make_late(stack, unknown_task.id, deadline_at="now() - interval '1 second'")
    stack.sweep()
    assert stack.service.get(unknown_task.id).state is JobState.EXPIRED
    stack.db.run(
        "UPDATE jobs SET model_id = :model WHERE id = CAST(:id AS uuid)",
        model=gone_model.model_id,
        id=gone_model.id,
    )
    make_late(stack, gone_model.id, deadline_at="now() - interval '1 second'")
    stack.sweep()
    assert stack.service.get(gone_model.id).state is JobState.EXPIRED


def expire_hold_under(stack: Stack, job: Job) -> None:
    """The sweeper was down for longer than the hold's margin: the hold expired first."""
    stack.db.run(
        "UPDATE holds SET expires_at = now() - interval '1 second' WHERE ref = :ref",
        ref=job.hold_ref,
    )
    stack.ledger.expire_holds(limit=500)
    assert stack.ledger.hold_status(job.hold_ref or "").value == "expired"


@pytest.mark.parametrize("outcome", ["success", "failure", "success, balance spent"])
def test_a_job_whose_hold_expired_still_finishes_and_moves_money_once(
    stack: Stack, outcome: str
) -> None:
    # KIE finishes, its callback is lost: the sweeper will find the result by asking.
    stack.set_sim(lost_rate=1.0, failure_rate=1.0 if outcome == "failure" else 0.0)
    job, wallet = start(stack, FAMILIES["market"])
    job = wait_submitted(stack, job.id)
    expire_hold_under(stack, job)
    assert balance(stack, wallet) == (FUNDS, 0)
    if outcome == "success, balance spent":
        stack.ledger.adjust(wallet, -FUNDS, new_ref("spent"), "spent on other jobs meanwhile")
    deadline = time.monotonic() + 10
    while (done := stack.service.get(job.id)).state is JobState.SUBMITTED:
        assert time.monotonic() < deadline, "the sweeper never finished the job"
        make_late(stack, job.id)
        stack.sweep()  # until KIE's record shows the task done
    kinds = entries_for(stack, job.id)
    if outcome == "failure":
        assert done.state is JobState.FAILED
        assert balance(stack, wallet) == (FUNDS, 0)  # returned once, by the expiry
        assert kinds == ["hold"]
    elif outcome == "success":
        assert done.state in SUCCESS
        charged = FUNDS - balance(stack, wallet)[0]
        assert 0 < charged <= (job.price_kopecks or 0)
        assert balance(stack, wallet)[1] == 0
        assert kinds == ["hold", "hold", "capture"]  # the expired hold, a fresh one, its capture
        assert done.hold_ref == f"job:{job.id}:late-hold"
    else:
        assert done.state in SUCCESS  # delivered free: no balance to take it from
        assert balance(stack, wallet) == (0, 0)
        assert kinds == ["hold"]


def test_results_out_of_delivery_attempts_do_not_starve_newer_ones(stack: Stack) -> None:
    policy = JobPolicy(
        callback_secret=CALLBACK_SECRET, callback_base_url=stack.fn("kie_callback"), sweep_batch=3
    )
    queue = _RecordingQueue()
    service = JobService(
        stack.db, stack.ledger, queue, lambda: stack.kie, stack.service._pricing, policy
    )
    user_id, _wallet = stack.new_wallet(new_telegram_id(), 0)
    ids = [
        stack.db.run(
            "INSERT INTO jobs (user_id, model_id, state, price_kopecks, hold_ref, "
            "delivery_attempts, finished_at, updated_at) "
            "VALUES (:user, :model, 'succeeded', 100, :hold, :attempts, now(), "
            "timestamptz '2001-01-01' + make_interval(secs => :n)) RETURNING id::text",
            user=user_id,
            model=FAMILIES["market"].id,
            hold=new_ref("hold"),
            attempts=policy.redeliver_max if n < 3 else 0,
            n=n,
        )[0][0]
        for n in range(4)
    ]
    try:
        report = service.sweep()
        sent = [name or "" for target, name in queue.tasks if target == "deliver_result"]
        # The user of the first three blocked the bot; the fourth only missed its delivery.
        assert f"deliver-{ids[3]}-r1" in sent
        assert not [name for name in sent if any(job_id in name for job_id in ids[:3])]
        assert report.redelivered >= 1
    finally:
        stack.db.run(
            "UPDATE jobs SET state = 'delivered' WHERE id::text = ANY(CAST(:ids AS text[]))",
            ids="{" + ",".join(ids) + "}",
        )


class _SlowKie(KieClient):
    """The real client to the simulator, with a slow network under createTask."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.created: list[str] = []

    def create_task(self, request: Any) -> str:
        time.sleep(0.5)
        task_id = super().create_task(request)
        self.created.append(task_id)
        return task_id


def test_two_deliveries_of_one_submit_task_create_one_kie_task(stack: Stack) -> None:
    slow = _SlowKie(base_url=stack.sim_url, upload_base_url=stack.sim_url, api_key=KIE_KEY)
    policy = JobPolicy(callback_secret=CALLBACK_SECRET, callback_base_url=stack.fn("kie_callback"))
    service = JobService(
        stack.db, stack.ledger, _RecordingQueue(), lambda: slow, stack.service._pricing, policy
    )
    user_id, _wallet = stack.new_wallet(new_telegram_id(), FUNDS)
    entry = FAMILIES["market"]
    job = service.confirm(
        service.create(user_id, entry.id, sample_inputs(entry), client_ref=new_ref()).id
    )

    waits: list[float | None] = []

    def submit() -> str:
        try:
            return service.submit(job.id).state.value
        except RetryLater as later:
            waits.append(later.retry_after_s)
            return f"retry later: {later}"

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(lambda _: submit(), range(2)))
    slow.close()
    assert len(slow.created) == 1
    assert outcomes[0] == "retry later: another attempt is submitting this job"
    # Told to come back when the first attempt's lease ends (3 minutes, or this slow
    # model's 4 if the first had lengthened it already), not to poll it.
    assert len(waits) == 1 and waits[0] is not None
    assert 170 < waits[0] <= entry.eta_s + 60
    assert outcomes[1] == "submitted"
    # The retry comes back after the first attempt recorded the task: nothing more to do.
    assert service.submit(job.id).state is not JobState.QUEUED
    assert len(slow.created) == 1
    assert stack.wait_final(job.id).state in SUCCESS
    assert entries_for(stack, job.id) == ["hold", "capture"]


def test_a_job_whose_model_left_the_catalogue_fails_at_once_with_its_money_back(
    stack: Stack,
) -> None:
    policy = JobPolicy(callback_secret=CALLBACK_SECRET, callback_base_url=stack.fn("kie_callback"))
    service = JobService(
        stack.db, stack.ledger, _RecordingQueue(), lambda: stack.kie, stack.service._pricing, policy
    )
    user_id, wallet = stack.new_wallet(new_telegram_id(), FUNDS)
    entry = FAMILIES["market"]
    job = service.confirm(
        service.create(user_id, entry.id, sample_inputs(entry), client_ref=new_ref()).id
    )
    # A registry sync removed the model while the submission waited in the queue.
    stack.db.run(
        "UPDATE jobs SET model_id = 'gone/removed-model' WHERE id = CAST(:id AS uuid)", id=job.id
    )
    done = service.submit(job.id)
    assert (done.state, done.error_code) == (JobState.FAILED, "service_unavailable")
    assert balance(stack, wallet) == (FUNDS, 0)
    assert entries_for(stack, job.id) == ["hold", "release"]


def _png(width: int, height: int) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("1", (width, height)).save(buffer, "PNG")  # 1 bit a pixel: tiny even when huge
    return buffer.getvalue()


@pytest.fixture(scope="module")
def result_files() -> Iterator[str]:
    """KIE's file host: a 4×-upscaled 8192×8192 PNG, a small PNG, a small PNG on a slow
    link, and a link that expired between our look at it and Telegram's fetch (HEAD
    answers, GET is gone)."""
    import threading

    from werkzeug.serving import make_server
    from werkzeug.wrappers import Request, Response

    files = {"/upscaled.png": _png(8192, 8192), "/small.png": _png(64, 64)}

    @Request.application
    def app(request: Request) -> Response:
        if request.path == "/expired.png":
            if request.method == "HEAD":
                return Response(b"", headers={"Content-Type": "image/png", "Content-Length": "900"})
            return Response("gone", status=404)
        if request.path == "/slow.png":
            time.sleep(1.0)
            return Response(files["/small.png"], content_type="image/png")
        if request.path in files:
            return Response(files[request.path], content_type="image/png")
        return Response("missing", status=404)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def delivered_image_job(stack: Stack, urls: list[str], *, undelivered: bool) -> tuple[Job, int]:
    """An image job delivered once, whose result is now `urls` (and, when `undelivered`,
    back to awaiting its first delivery); with the number of messages its chat had."""
    image_model = next(e for e in enabled_models() if e.kind == "t2i" and e.family == "market")
    job, _ = start(stack, image_model)
    delivered = wait_state(stack, job.id, JobState.DELIVERED)
    before = len(chat_of(stack, delivered))
    state = "'succeeded', delivery_sent = 0" if undelivered else "state"
    stack.db.run(
        f"UPDATE jobs SET state = {state}, result = CAST(:result AS jsonb), archived = NULL "
        "WHERE id = CAST(:id AS uuid)",
        result=json.dumps({"urls": urls}),
        id=job.id,
    )
    return delivered, before


def redeliver_with(stack: Stack, urls: list[str]) -> tuple[Job, list[dict[str, Any]]]:
    """A delivered image job whose result is now `urls`, sent again: what reached the chat."""
    delivered, before = delivered_image_job(stack, urls, undelivered=False)
    job = delivered
    response = httpx.post(stack.fn("deliver_result"), json={"job_id": job.id, "again": True})
    assert (response.status_code, response.json()["status"]) == (200, "delivered")
    return delivered, chat_of(stack, delivered)[before:]


def test_a_photo_telegram_refuses_as_a_photo_arrives_as_a_file(
    stack: Stack, result_files: str
) -> None:
    _, sent = redeliver_with(stack, [f"{result_files}/upscaled.png"])
    kinds = [m["media"]["kind"] for m in sent if m.get("media")]
    assert kinds == ["document"]


def test_an_album_with_a_file_telegram_cannot_fetch_still_delivers_the_rest(
    stack: Stack, result_files: str
) -> None:
    urls = [f"{result_files}/small.png", f"{result_files}/expired.png", f"{result_files}/small.png"]
    _, sent = redeliver_with(stack, urls)
    kinds = [m["media"]["kind"] for m in sent if m.get("media")]
    assert kinds == ["photo", "photo"]
    links = [m for m in sent if urls[1] in (m.get("text") or "")]
    assert len(links) == 1  # the one Telegram could not fetch, as a link


def test_a_progress_line_to_a_user_who_blocked_the_bot_marks_them_and_ends(stack: Stack) -> None:
    stack.set_sim(delay_s=120.0)  # KIE still generating: the progress line is due
    telegram_id = new_telegram_id()
    user_id, _ = stack.new_wallet(telegram_id, FUNDS)
    entry = FAMILIES["market"]
    job = stack.run_job(user_id, entry.id, sample_inputs(entry), client_ref=f"tg:{telegram_id}:1")
    wait_submitted(stack, job.id)
    stack.telegram.block(telegram_id)
    response = httpx.post(stack.fn("deliver_result"), json={"job_id": job.id, "progress": True})
    assert (response.status_code, response.json()["status"]) == (200, "blocked")
    blocked = stack.db.run("SELECT blocked_bot_at IS NOT NULL FROM users WHERE id = :u", u=user_id)
    assert blocked == [[True]]


def test_a_delivery_stopped_by_flood_control_resumes_where_it_stopped(
    stack: Stack, result_files: str
) -> None:
    """Twelve images: an album of ten, one of two, and the buttons' line. Telegram lets one
    send per second through: each retry goes on from the send it stopped at."""
    urls = [f"{result_files}/small.png"] * 12
    delivered, before = delivered_image_job(stack, urls, undelivered=True)
    job = delivered
    emulator = stack.hosted_telegram
    assert emulator is not None
    emulator.flood_per_chat_per_s = 1
    try:
        answers = []
        for _ in range(6):  # the queue's retries, each after Retry-After
            answer = httpx.post(stack.fn("deliver_result"), json={"job_id": job.id})
            answers.append(answer.status_code)
            if answer.status_code == 200:
                break
            time.sleep(float(answer.headers.get("Retry-After", "1")) + 0.1)
    finally:
        emulator.flood_per_chat_per_s = None
    sent = chat_of(stack, delivered)[before:]
    assert answers[-1] == 200 and 503 in answers
    assert len([m for m in sent if (m.get("media") or {}).get("kind") == "photo"]) == 12
    assert stack.service.get(job.id).state is JobState.DELIVERED


def test_a_redelivery_racing_a_slow_delivery_does_not_send_the_result_twice(
    stack: Stack, result_files: str
) -> None:
    """The sweeper re-enqueues a result that has waited two minutes; the first delivery may
    still be sending it (a slow download, Telegram's flood control)."""
    delivered, before = delivered_image_job(stack, [f"{result_files}/slow.png"], undelivered=True)

    def deliver(_: int) -> int:
        return httpx.post(stack.fn("deliver_result"), json={"job_id": delivered.id}).status_code

    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(deliver, 0)
        time.sleep(0.3)  # the first is fetching the slow file when the second arrives
        second = pool.submit(deliver, 1)
        answers = sorted([first.result(), second.result()])
    assert answers == [200, 409]  # the second is told to come back later, not to slow down
    sent = chat_of(stack, delivered)[before:]
    assert len([m for m in sent if (m.get("media") or {}).get("kind") == "photo"]) == 1
    # Once the first is done, the retry finds nothing left to send.
    retry = httpx.post(stack.fn("deliver_result"), json={"job_id": delivered.id})
    assert (retry.status_code, retry.json()["status"]) == (200, "skipped")
    assert len(chat_of(stack, delivered)[before:]) == len(sent)


def test_a_kie_outage_does_not_grow_a_retry_chain_per_job_every_sweep(stack: Stack) -> None:
    """While KIE answers 429, the submit queue retries each job on its own backoff (up to
    five minutes apart); the sweeper adds a task only for a job nobody has tried lately."""
    policy = JobPolicy(callback_secret=CALLBACK_SECRET, callback_base_url=stack.fn("kie_callback"))
    queue = _RecordingQueue()
    service = JobService(
        stack.db, stack.ledger, queue, lambda: stack.kie, stack.service._pricing, policy
    )
    user_id, _wallet = stack.new_wallet(new_telegram_id(), FUNDS)
    entry = FAMILIES["market"]

    def waiting_job(tried_s_ago: float | None) -> str:
        job = service.confirm(
            service.create(user_id, entry.id, sample_inputs(entry), client_ref=new_ref()).id
        )
        if tried_s_ago is not None:
            with pytest.raises(RetryLater):
                service.submit(job.id)  # KIE: 429
            stack.db.run(
                "UPDATE jobs SET submit_lease_until = submit_lease_until "
                "- make_interval(secs => :s) WHERE id = CAST(:id AS uuid)",
                s=tried_s_ago,
                id=job.id,
            )
        stack.db.run(
            "UPDATE jobs SET updated_at = now() - interval '1 hour' WHERE id = CAST(:id AS uuid)",
            id=job.id,
        )
        return job.id

    stack.set_sim(create_429_rate=1.0)
    retried_by_its_queue = waiting_job(tried_s_ago=240)  # the queue's next try is due
    forgotten = waiting_job(tried_s_ago=1200)  # its queue gave up (or lost the task)
    never_tried = waiting_job(tried_s_ago=None)  # its first task never arrived
    try:
        for _ in range(3):  # three sweeps, a minute apart in production
            service.sweep()
        names = [name or "" for target, name in queue.tasks if target == "submit_job"]
        assert not [n for n in names if retried_by_its_queue in n and n.endswith(("-r1", "-r2"))]
        assert f"submit-{forgotten}-r2" in names
        assert f"submit-{never_tried}-r1" in names
    finally:
        stack.set_sim(create_429_rate=0.0)
        for job_id in (retried_by_its_queue, forgotten, never_tried):
            stack.db.run(
                "UPDATE jobs SET submit_lease_until = NULL WHERE id = CAST(:id AS uuid)", id=job_id
            )
            service.submit(job_id)  # KIE is back: each ends as usual
            assert stack.wait_final(job_id).state in SUCCESS
