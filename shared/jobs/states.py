"""Job states and the transitions each event may make (DESIGN: draft → … → delivered)."""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    DRAFT = "draft"
    QUOTED = "quoted"
    HELD = "held"
    QUEUED = "queued"
    SUBMITTED = "submitted"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    DELIVERED = "delivered"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELED = "canceled"

    @property
    def final(self) -> bool:
        return self in FINAL_STATES


FINAL_STATES = frozenset(
    {JobState.SUCCEEDED, JobState.DELIVERED, JobState.FAILED, JobState.EXPIRED, JobState.CANCELED}
)
# Every state in which the job's money is held and KIE may still answer.
IN_FLIGHT = (JobState.HELD, JobState.QUEUED, JobState.SUBMITTED, JobState.RUNNING)

# event → the states it may leave. A job found elsewhere is left as it is.
ALLOWED_FROM: dict[str, tuple[JobState, ...]] = {
    "hold": (JobState.QUOTED,),
    "enqueue": (JobState.HELD,),
    "submit": (JobState.HELD, JobState.QUEUED),
    "running": (JobState.SUBMITTED,),
    # A callback may beat the recording of KIE's task id: queued/held count as in flight.
    "succeed": IN_FLIGHT,
    "fail": IN_FLIGHT,
    "expire": IN_FLIGHT,
    "cancel": (JobState.DRAFT, JobState.QUOTED),
    "deliver": (JobState.SUCCEEDED,),
}
