"""The job use cases: create, confirm, submit, finish (callback or sweep), sweep.

Money moves only together with the job's state, in one transaction: a job
becomes `succeeded` in the same commit that captures its hold, and `failed` or
`expired` in the same commit that releases it. Every ledger ref derives from
the job id, so retries, duplicate callbacks and concurrent sweeps move money once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any

from shared.adapters.db import Database, PooledConnection
from shared.domain.ledger import HoldStatus
from shared.jobs.failures import FailureCode, classify_kie_failure
from shared.jobs.repository import Job, JobRepository
from shared.jobs.states import JobState
from shared.kie.errors import (
    KieConfigError,
    KieError,
    KieOutOfCredits,
    KieRejected,
    KieRetryable,
)
from shared.kie.results import TaskState, TaskStatus, parse_callback, task_id_of
from shared.kie.signing import callback_url, verify_kie_webhook
from shared.observability import metrics
from shared.queue.port import TaskQueue
from shared.services.ledger import Ledger

if TYPE_CHECKING:
    # Loaded on first use, not at import: a cold start that answers before touching a
    # model (an unknown or finished job) pays neither the registry nor httpx.
    from shared.kie.client import KieClient
    from shared.registry import PricingSettings

log = logging.getLogger("kie_studio.jobs")

SUBMIT_TARGET = "submit_job"
DELIVER_TARGET = "deliver_result"


class JobNotFound(LookupError):
    pass


class RetryLater(Exception):
    """The work could not be done now; the queue should try again (after `retry_after_s`).
    Answered with 503, which also slows the whole Cloud Tasks queue: right when a peer
    (KIE, Telegram) is overloaded."""

    http_status = 503

    def __init__(self, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after_s = retry_after_s


class TaskNotRecorded(Exception):
    """KIE accepted a task whose id could not be written: the database failed just then."""

    def __init__(self, task_id: str, lease_s: int) -> None:
        super().__init__(task_id)
        self.task_id = task_id
        self.lease_s = lease_s  # how long the kept lease holds retries back


class InProgress(RetryLater):
    """Another attempt holds this job's lease. Nobody is overloaded, so the answer is 409:
    Cloud Tasks throttles a queue on 429 and 503, and retries any other error on the
    task's own backoff."""

    http_status = 409


@dataclass(frozen=True)
class JobPolicy:
    """Time limits; each has a bound so no job or hold lives forever."""

    callback_secret: str
    callback_base_url: str
    confirm_results: bool = True
    kie_webhook_key: str | None = None
    kie_webhook_window_s: int = 300
    first_poll_s: int | None = None
    deadline_min_s: int = 1800
    deadline_eta_factor: int = 6
    hold_margin_s: int = 3600
    late_grace_s: int = 60
    resubmit_after_s: int = 60
    # A job its queue has tried is resubmitted only once no attempt came for this long:
    # more than the submit queue's longest backoff (300 s) plus submit_job's timeout, so a
    # KIE outage does not grow a new retry chain per job every sweep.
    resubmit_idle_s: int = 600
    redeliver_after_s: int = 120
    redeliver_max: int = 5
    sweep_batch: int = 50
    # Longer than any submit_job run (120 s on Cloud Functions, 60 s on Lambda): a lease
    # still held means an attempt may still be talking to KIE. A slower model's attempt
    # holds it until that model's callback is due (_submit_lease_s).
    submit_lease_s: int = 180
    # Longer than any deliver_result run (600 s on Cloud Functions, 300 s on Lambda).
    deliver_lease_s: int = 660

    def deadline_s(self, eta_s: int) -> int:
        return max(self.deadline_min_s, eta_s * self.deadline_eta_factor)

    def hold_ttl_s(self, eta_s: int) -> int:
        # The hold outlives the job's deadline: the sweeper fails the job (releasing the
        # hold with it) before the hold could expire under a job still in flight.
        return self.deadline_s(eta_s) + self.hold_margin_s


@dataclass
class SweepReport:
    finished: int = 0
    still_running: int = 0
    expired: int = 0
    resubmitted: int = 0
    redelivered: int = 0
    holds_expired: int = 0
    errors: list[str] = field(default_factory=list)


def _refs(job_id: str) -> dict[str, str]:
    return {
        "hold": f"job:{job_id}:hold",
        "capture": f"job:{job_id}:capture",
        "release": f"job:{job_id}:release",
        "late_hold": f"job:{job_id}:late-hold",
    }


class JobService:
    def __init__(
        self,
        db: Database,
        ledger: Ledger,
        queue: TaskQueue,
        kie: Callable[[], KieClient],
        pricing: PricingSettings,
        policy: JobPolicy,
    ) -> None:
        self._db = db
        self._jobs = JobRepository(db)
        self._ledger = ledger
        self._queue = queue
        self._kie = kie
        self._pricing = pricing
        self.policy = policy

    # --- from the wizard ----------------------------------------------------------------
    def create(
        self,
        user_id: int,
        model_id: str,
        inputs: Mapping[str, Any],
        *,
        client_ref: str,
        media_seconds: Mapping[str, float] | None = None,
    ) -> Job:
        """A quoted job. Raises the registry's validation / pricing errors on bad inputs."""
        from shared.registry import quote

        price = quote(model_id, inputs, self._pricing, media_seconds=media_seconds)
        return self._jobs.insert_quoted(
            user_id, model_id, inputs, price, client_ref, media_seconds=media_seconds
        )

    def get(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise JobNotFound(job_id)
        return job

    def confirm(self, job_id: str) -> Job:
        """Hold the price and queue the submission. Repeating it holds and queues once;
        InsufficientFunds leaves the job quoted."""
        job = self.get(job_id)
        if job.state is JobState.QUOTED:
            from shared.registry import get_model

            assert job.price_kopecks is not None
            eta_s = get_model(job.model_id).eta_s
            hold_ref = _refs(job.id)["hold"]

            def hold(conn: PooledConnection) -> Job | None:
                self._ledger.hold(
                    job.wallet_id,
                    job.price_kopecks or 0,
                    hold_ref,
                    ttl_s=self.policy.hold_ttl_s(eta_s),
                    conn=conn,
                )
                return self._jobs.transition(
                    job.id,
                    "hold",
                    JobState.HELD,
                    conn,
                    hold_ref=hold_ref,
                    deadline_s=self.policy.deadline_s(eta_s),
                )

            job = self._db.in_transaction(hold) or self.get(job_id)
        if job.state is JobState.HELD:
            self._enqueue_submit(job)
            job = self._jobs.transition(job.id, "enqueue", JobState.QUEUED) or self.get(job_id)
        return job

    def _enqueue_submit(self, job: Job, attempt: int = 0) -> None:
        name = f"submit-{job.id}" if attempt == 0 else f"submit-{job.id}-r{attempt}"
        self._queue.enqueue(SUBMIT_TARGET, {"job_id": job.id}, name=name)

    # --- submit_job ---------------------------------------------------------------------
    def submit(self, job_id: str) -> Job:
        """Send one job to KIE. RetryLater asks the queue to come back; anything else
        returned means done (submitted, finished, or permanently failed)."""
        job = self._jobs.claim_for_submit(job_id, self.policy.submit_lease_s)
        if job is None:
            current = self.get(job_id)  # raises JobNotFound for an unknown id
            if current.state in (JobState.HELD, JobState.QUEUED):
                # Another attempt is talking to KIE: two would create two paid tasks. Come
                # back when its lease ends: by then it has recorded its task, or given the
                # job back to its own retry, or died, and this retry goes ahead.
                left_s = self._jobs.submit_lease_left_s(job_id)
                raise InProgress("another attempt is submitting this job", max(1.0, left_s))
            return current  # already submitted or finished: a duplicate task
        try:
            return self._submit_leased(job)
        except TaskNotRecorded as lost:
            # KIE runs the task. Its callback names this job and records it; until then the
            # lease, kept, holds the queue's retry back instead of paying KIE a second time.
            log.critical(
                "job %s: KIE task %s accepted but not recorded; waiting for its callback",
                job.id,
                lost.task_id,
                exc_info=lost.__cause__,
                extra={"job_id": job.id, "kie_task_id": lost.task_id, "alert": True},
            )
            raise InProgress(
                "KIE accepted the task; its callback will record it", float(lost.lease_s)
            ) from None
        except BaseException:
            self._jobs.release_submit_lease(job.id)  # no task recorded: the retry may go
            raise

    def _submit_leased(self, job: Job) -> Job:
        from shared.registry import build_request
        from shared.registry.errors import RegistryError

        url = callback_url(self.policy.callback_base_url, job.id, self.policy.callback_secret)
        try:
            request = build_request(job.model_id, job.inputs, url)
        except RegistryError as error:
            # The model was disabled or removed from the catalogue while the job waited:
            # no retry can help, and the user's money must not wait for the deadline.
            log.warning("job %s can no longer be sent: %s", job.id, error)
            return self._fail(job, FailureCode.SERVICE_UNAVAILABLE, str(error))
        lease_s = self._submit_lease_s(job.model_id)
        if lease_s > self.policy.submit_lease_s and not request.endpoint.synchronous:
            self._jobs.extend_submit_lease(job.id, lease_s)
        try:
            if request.endpoint.synchronous:
                return self.finish(job, self._kie().run_sync(request))
            task_id = self._kie().create_task(request)
        except KieRetryable as error:
            metrics.emit(metrics.KIE_ERROR, kie_code=error.code, operation="create")
            log.warning("KIE busy for job %s: %s", job.id, error, extra={"job_id": job.id})
            raise RetryLater(str(error), error.retry_after_s) from None
        except KieConfigError as error:
            metrics.emit(metrics.KIE_ERROR, kie_code=error.code, operation="create")
            log.critical("KIE refuses our key (%s): fix KIE_API_KEY", error, extra={"alert": True})
            raise RetryLater(str(error), 60.0) from None
        except KieOutOfCredits as error:
            metrics.emit(metrics.KIE_ERROR, kie_code=error.code, operation="create")
            log.critical("KIE account out of credits: %s", error, extra={"alert": True})
            return self._fail(job, FailureCode.SERVICE_UNAVAILABLE, error.message)
        except KieRejected as error:
            metrics.emit(metrics.KIE_ERROR, kie_code=error.code, operation="create")
            return self._fail(
                job, classify_kie_failure(str(error.code), error.message), error.message
            )
        eta_s = self._first_poll_s(job.model_id)
        try:
            moved = self._record_task(job.id, task_id, eta_s)
        except Exception:
            # KIE already runs the task, so a brief database failure (a statement timeout, a
            # dropped connection) is worth riding out: two more tries, both writes are safe
            # to repeat. Imported on this path only, as in shared/adapters/db.py (cold start).
            from tenacity import Retrying, stop_after_attempt, wait_exponential

            try:
                for attempt in Retrying(
                    stop=stop_after_attempt(2),
                    wait=wait_exponential(multiplier=0.25, max=1.0),
                    reraise=True,
                ):
                    with attempt:
                        moved = self._record_task(job.id, task_id, eta_s)
            except Exception as error:
                raise TaskNotRecorded(task_id, lease_s) from error
        if moved is None:
            return self.get(job.id)
        self._announce_generating(moved)
        return moved

    def _announce_generating(self, job: Job) -> None:
        """The chat's progress line moves to "generating, about N s" (deliver_result), once
        per job whoever recorded the task (the task name dedupes). Cosmetic: a queue hiccup
        here must not fail a submission that succeeded."""
        if not (job.client_ref or "").startswith("tg:"):
            return
        try:
            self._queue.enqueue(
                DELIVER_TARGET, {"job_id": job.id, "progress": True}, name=f"progress-{job.id}"
            )
        except Exception as error:
            log.warning("no progress line for job %s: %s", job.id, error)

    def _submit_lease_s(self, model_id: str) -> int:
        """How long a submit attempt holds its job: longer than any submit_job run, and
        until the model's callback is due. An attempt that could not record KIE's task
        keeps its lease, and then only the callback can tell us the task: a retry before
        it is due would pay KIE for a second one."""
        from shared.registry import get_model

        due_s = get_model(model_id).eta_s + self.policy.late_grace_s
        return max(self.policy.submit_lease_s, due_s)

    def _first_poll_s(self, model_id: str) -> int:
        """When the sweeper first asks KIE about a submitted job. Both callers have found
        the model in the catalogue already (build_request, handle_callback)."""
        from shared.registry import get_model

        return self.policy.first_poll_s or get_model(model_id).eta_s + self.policy.late_grace_s

    def _record_task(self, job_id: str, task_id: str, eta_s: int) -> Job | None:
        moved = self._jobs.transition(
            job_id,
            "submit",
            JobState.SUBMITTED,
            kie_task_id=task_id,
            eta_s=eta_s,
            submitted=True,
        )
        if moved is None:
            self._jobs.record_task_id(job_id, task_id)  # the callback got here first
        return moved

    # --- kie_callback and the sweeper ---------------------------------------------------
    def handle_callback(
        self,
        job_id: str,
        body: Mapping[str, Any],
        *,
        webhook_timestamp: str | None = None,
        webhook_signature: str | None = None,
    ) -> Job:
        """A callback whose URL signature was already checked. Raises JobNotFound,
        SignatureError (KIE's webhook signature), MalformedResult, RetryLater."""
        job = self.get(job_id)
        # Imported once the job exists: a forged or stale id never pays for the registry.
        from shared.registry import get_model

        if self.policy.kie_webhook_key:
            verify_kie_webhook(
                task_id_of(body),
                webhook_timestamp,
                webhook_signature,
                self.policy.kie_webhook_key,
                now_s=time.time(),
                window_s=self.policy.kie_webhook_window_s,
            )
        status = parse_callback(get_model(job.model_id).family, body)
        if status.task_id and job.kie_task_id and status.task_id != job.kie_task_id:
            # A task from an earlier submit attempt whose id we never recorded: it is
            # still this job's generation, and whichever finishes first wins once.
            log.warning(
                "job %s: callback for task %s, recorded %s",
                job.id,
                status.task_id,
                job.kie_task_id,
                extra={"job_id": job.id},
            )
        return self.on_status(job, status)

    def on_status(self, job: Job, status: TaskStatus) -> Job:
        """A status from a callback: confirmed with KIE before money moves (KIE signs only
        the task id, never the result)."""
        if job.state.final:
            return job
        if job.state in (JobState.HELD, JobState.QUEUED) and status.task_id:
            # The callback beat submit_job's recording of the task, or that recording
            # failed: recorded here, the job is in flight for the sweeper, and a retried
            # submit finds it submitted instead of paying KIE for a second task.
            moved = self._record_task(job.id, status.task_id, self._first_poll_s(job.model_id))
            if moved is not None:
                self._announce_generating(moved)
            job = moved or self.get(job.id)
            if job.state.final:
                return job
        if not status.state.final:
            return self._jobs.transition(job.id, "running", JobState.RUNNING) or self.get(job.id)
        if status.state is TaskState.SUCCESS and self.policy.confirm_results:
            task_id = status.task_id or job.kie_task_id
            if task_id is None:
                raise RetryLater("a success without a task id cannot be confirmed")
            confirmed = self.query(job, task_id)
            if not confirmed.state.final:
                return job  # KIE itself is not done yet: the sweeper asks again later
            status = confirmed
        return self.finish(job, status)

    def query(self, job: Job, task_id: str) -> TaskStatus:
        from shared.registry import endpoint_for

        endpoint = endpoint_for(job.model_id)
        if endpoint.status_path is None:
            raise RetryLater(f"{endpoint.family} has no query endpoint")
        try:
            return self._kie().query_task(endpoint.family, endpoint.status_path, task_id)
        except KieError as error:
            # Even a refusal ("recordInfo is null") is no verdict on the job: the callback may
            # still come, and the job's deadline bounds the waiting.
            metrics.emit(metrics.KIE_ERROR, kie_code=error.code, operation="query")
            raise RetryLater(str(error), getattr(error, "retry_after_s", None)) from None

    def finish(self, job: Job, status: TaskStatus) -> Job:
        """Apply a final status once: state and money in one transaction, then delivery."""
        if status.state is TaskState.SUCCESS:
            finished = self._succeed(job, status)
        else:
            code = classify_kie_failure(status.fail_code, status.fail_message)
            finished = self._fail(job, code, status.fail_message or "", status)
        return finished

    def _capture_kopecks(self, job: Job, status: TaskStatus) -> int:
        """KIE's actual cost at our price, never above the hold (the quote)."""
        from shared.registry import kopecks_for, usage_credits

        price = job.price_kopecks or 0
        credits: Decimal | None = status.credits_consumed
        usage = status.extra
        if credits is None and usage.get("tokens_out"):
            credits = usage_credits(
                job.model_id, job.inputs, int(usage.get("tokens_in", 0)), int(usage["tokens_out"])
            )
        if credits is None or credits <= 0:
            return price
        return max(100, min(price, kopecks_for(credits, self._pricing)))

    def _succeed(self, job: Job, status: TaskStatus) -> Job:
        amount = self._capture_kopecks(job, status)
        result = {"urls": list(status.result_urls), "text": status.text}

        def succeed(conn: PooledConnection) -> Job | None:
            moved = self._jobs.transition(
                job.id,
                "succeed",
                JobState.SUCCEEDED,
                conn,
                result=result,
                kie_task_id=status.task_id,
                credits_consumed=status.credits_consumed,
            )
            if moved is not None and moved.hold_ref is not None:
                self._capture(moved, amount, conn)
            return moved

        moved = self._db.in_transaction(succeed)
        if moved is None:
            return self.get(job.id)  # finished before: a duplicate or a late callback
        metrics.emit(
            metrics.JOB_STATE,
            state=moved.state.value,
            model_id=moved.model_id,
            job_id=moved.id,
            user_id=moved.user_id,
        )
        self._queue.enqueue(DELIVER_TARGET, {"job_id": job.id}, name=f"deliver-{job.id}")
        return moved

    def _hold_open(self, job: Job, conn: PooledConnection) -> bool:
        # Read in the job's transaction: should the expiry win the race after this read,
        # the capture or release refuses, the transaction rolls back and the retry sees it.
        assert job.hold_ref is not None
        status = self._ledger.hold_status(job.hold_ref, conn=conn)
        if status is HoldStatus.CAPTURED:
            # Only a final job's hold is captured, and a final job never moves again.
            raise RuntimeError(f"job {job.id} is moving, yet its hold is already captured")
        return status is HoldStatus.OPEN

    def _capture(self, job: Job, amount: int, conn: PooledConnection) -> None:
        refs = _refs(job.id)
        if self._hold_open(job, conn):
            self._ledger.capture(job.hold_ref or "", refs["capture"], amount, conn=conn)
            return
        # The hold expired under the running job (the sweeper was down for longer than
        # hold_margin_s) and its money went back: the result is charged afresh when the
        # balance allows, and delivered free (an alert for ops) when it does not.
        if self._ledger.balance(job.wallet_id, conn=conn).available_kopecks >= amount:
            self._ledger.hold(job.wallet_id, amount, refs["late_hold"], ttl_s=60, conn=conn)
            self._ledger.capture(refs["late_hold"], refs["capture"], amount, conn=conn)
            self._jobs.set_hold_ref(job.id, refs["late_hold"], conn)
        else:
            log.error(
                "ALERT job %s succeeded after its hold expired; %d kopecks not available, "
                "delivered free",
                job.id,
                amount,
                extra={"job_id": job.id, "alert": True},
            )

    def _fail(
        self,
        job: Job,
        code: FailureCode,
        message: str,
        status: TaskStatus | None = None,
        *,
        to: JobState = JobState.FAILED,
    ) -> Job:
        event = "expire" if to is JobState.EXPIRED else "fail"

        def fail(conn: PooledConnection) -> Job | None:
            moved = self._jobs.transition(
                job.id,
                event,
                to,
                conn,
                error_code=code.value,
                error_message=message,
                kie_task_id=status.task_id if status else None,
            )
            # A hold the sweeper let expire already gave the money back.
            if moved is not None and moved.hold_ref is not None and self._hold_open(moved, conn):
                self._ledger.release(
                    moved.hold_ref, _refs(job.id)["release"], code.value, conn=conn
                )
            return moved

        moved = self._db.in_transaction(fail)
        if moved is None:
            return self.get(job.id)
        metrics.emit(
            metrics.JOB_STATE,
            state=moved.state.value,
            model_id=moved.model_id,
            error_code=code.value,
            job_id=moved.id,
            user_id=moved.user_id,
        )
        self._queue.enqueue(DELIVER_TARGET, {"job_id": job.id}, name=f"deliver-{job.id}")
        return moved

    # --- sweeper ------------------------------------------------------------------------
    def sweep(self) -> SweepReport:
        """One bounded pass: finish late jobs from KIE's own record, expire jobs past their
        deadline, requeue stuck submissions and deliveries, release expired holds."""
        report = SweepReport()
        now = self._db.run("SELECT now()")[0][0]
        batch = self.policy.sweep_batch
        for job in self._jobs.late_in_flight(now, batch):
            if not self._step(report, job.id, partial(self._sweep_late, job, now, report)):
                # Back of the line: a job that keeps failing must not hold up the others.
                self._step(report, job.id, partial(self._jobs.postpone, job.id, 300.0))
        for job in self._jobs.stuck_before_submit(
            now, self.policy.resubmit_after_s, self.policy.resubmit_idle_s, batch
        ):
            self._step(report, job.id, partial(self._sweep_unsubmitted, job, now, report))
        redeliver_max = self.policy.redeliver_max
        for job in self._jobs.stuck_before_delivery(
            now, self.policy.redeliver_after_s, redeliver_max, batch
        ):
            self._step(report, job.id, partial(self._redeliver, job, report))
        self._step(report, "holds", lambda: self._expire_holds(report))
        # Telegram reuses update ids only after a week of silence: older marks can go.
        self._step(
            report,
            "processed_updates",
            lambda: self._db.run(
                "DELETE FROM processed_updates WHERE ctid IN (SELECT ctid FROM "
                "processed_updates WHERE received_at < now() - interval '8 days' LIMIT :n)",
                n=batch * 20,
            ),
        )
        # A "send again" task can come back as long as its queue keeps it (SQS: 4 days).
        self._step(
            report,
            "redeliveries",
            lambda: self._db.run(
                "DELETE FROM redeliveries WHERE ctid IN (SELECT ctid FROM "
                "redeliveries WHERE sent_at < now() - interval '5 days' LIMIT :n)",
                n=batch * 20,
            ),
        )
        balance, held, wallets = self._db.run(
            "SELECT coalesce(sum(balance), 0), coalesce(sum(held), 0), count(*) FROM wallets"
        )[0]
        metrics.emit(metrics.WALLET_TOTALS, int(balance), held_kopecks=int(held), wallets=wallets)
        return report

    @staticmethod
    def _step(report: SweepReport, subject: str, step: Callable[[], object]) -> bool:
        """One unit of the sweep; its failure is reported and logged, and the rest goes on."""
        try:
            step()
            return True
        except Exception as error:
            log.exception("sweeper: %s failed: %s", subject, error, extra={"alert": True})
            report.errors.append(f"{subject}: {error}")
            return False

    def _sweep_unsubmitted(self, job: Job, now: Any, report: SweepReport) -> None:
        if job.deadline_at is not None and job.deadline_at <= now:
            self._fail(
                job, FailureCode.TIMEOUT, "not submitted before the deadline", to=JobState.EXPIRED
            )
            report.expired += 1
        else:
            self._enqueue_submit(job, attempt=job.attempts + 1)
            report.resubmitted += 1

    def _redeliver(self, job: Job, report: SweepReport) -> None:
        self._jobs.count_delivery(job.id)
        name = f"deliver-{job.id}-r{job.delivery_attempts + 1}"
        self._queue.enqueue(DELIVER_TARGET, {"job_id": job.id}, name=name)
        report.redelivered += 1

    def _expire_holds(self, report: SweepReport) -> None:
        report.holds_expired = len(self._ledger.expire_holds(limit=self.policy.sweep_batch))

    def _sweep_late(self, job: Job, now: Any, report: SweepReport) -> None:
        past_deadline = job.deadline_at is not None and job.deadline_at <= now
        try:
            status = self.query(job, job.kie_task_id) if job.kie_task_id else None
        except RetryLater as error:
            report.errors.append(f"{job.id}: {error}")
            status = None
        if status is not None and status.state.final:
            self.finish(job, status)
            report.finished += 1
        elif past_deadline:
            self._fail(
                job, FailureCode.TIMEOUT, "no result before the deadline", to=JobState.EXPIRED
            )
            report.expired += 1
        else:
            from shared.registry import get_model

            eta_s = get_model(job.model_id).eta_s
            self._jobs.postpone(job.id, min(max(eta_s / 2, 15.0), 300.0))
            report.still_running += 1
