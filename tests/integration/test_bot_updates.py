"""Update dedupe and poison handling on a real Postgres, including racing claims."""

from __future__ import annotations

import secrets
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from shared.adapters.db import Database
from shared.bot.updates import AfterFailure, Claim, UpdateLog


def new_update_id() -> int:
    return secrets.randbelow(2**62)


def new_log(db: Database, attempts_max: int = 3, lease_s: int = 90) -> UpdateLog:
    # A bot of its own per test, so rows never meet another test's.
    return UpdateLog(db, secrets.randbelow(2**40) + 1, attempts_max=attempts_max, lease_s=lease_s)


def row(db: Database, log: UpdateLog, update_id: int) -> tuple[str, int, int | None, str | None]:
    rows = db.run(
        "SELECT status, attempts, chat_id, last_error FROM processed_updates "
        "WHERE bot_id = :bot_id AND update_id = :update_id",
        bot_id=log.bot_id,
        update_id=update_id,
    )
    assert len(rows) == 1
    status, attempts, chat_id, last_error = rows[0]
    return status, attempts, chat_id, last_error


def abandon(db: Database, log: UpdateLog, update_id: int) -> None:
    """What a process that died mid-update leaves: a claim older than the lease."""
    db.run(
        "UPDATE processed_updates SET claimed_at = now() - interval '1 hour' "
        "WHERE bot_id = :bot_id AND update_id = :update_id",
        bot_id=log.bot_id,
        update_id=update_id,
    )


def test_a_new_update_is_processed_once_and_then_a_duplicate(db: Database) -> None:
    log = new_log(db)
    update_id = new_update_id()
    first = log.claim(update_id, chat_id=-5093847261)
    assert (first.outcome, first.attempts) == (Claim.PROCESS, 1)
    assert row(db, log, update_id) == ("processing", 1, -5093847261, None)
    log.mark_done(update_id)
    assert row(db, log, update_id)[:2] == ("done", 1)
    again = log.claim(update_id, chat_id=-5093847261)
    assert (again.outcome, again.attempts) == (Claim.DUPLICATE, 1)
    assert row(db, log, update_id)[:2] == ("done", 1)


def test_the_same_update_id_of_another_bot_is_another_update(db: Database) -> None:
    update_id = new_update_id()
    one, other = new_log(db), new_log(db)
    assert one.claim(update_id, None).outcome is Claim.PROCESS
    assert other.claim(update_id, None).outcome is Claim.PROCESS


def test_a_delivery_while_the_first_is_still_running_does_not_process(db: Database) -> None:
    log = new_log(db)
    update_id = new_update_id()
    assert log.claim(update_id, 1).outcome is Claim.PROCESS
    second = log.claim(update_id, 1)
    assert (second.outcome, second.attempts) == (Claim.IN_FLIGHT, 1)
    assert row(db, log, update_id)[:2] == ("processing", 1)


def test_a_failing_update_is_retried_until_the_maximum_then_dropped(db: Database) -> None:
    log = new_log(db, attempts_max=3)
    update_id = new_update_id()
    assert log.claim(update_id, 42).attempts == 1
    assert log.mark_failed(update_id, "RuntimeError: boom 1") is AfterFailure.RETRY
    assert row(db, log, update_id) == ("failed", 1, 42, "RuntimeError: boom 1")
    second = log.claim(update_id, 42)
    assert (second.outcome, second.attempts) == (Claim.PROCESS, 2)
    assert row(db, log, update_id)[:2] == ("processing", 2)
    assert log.mark_failed(update_id, "boom 2") is AfterFailure.RETRY
    third = log.claim(update_id, 42)
    assert (third.outcome, third.attempts) == (Claim.PROCESS, 3)
    # The last attempt failing answers 2xx at once: no further delivery is needed.
    assert log.mark_failed(update_id, "boom 3") is AfterFailure.GIVE_UP
    assert row(db, log, update_id) == ("failed", 3, 42, "boom 3")
    # Should Telegram deliver it again anyway, it is not processed.
    fourth = log.claim(update_id, 42)
    assert (fourth.outcome, fourth.attempts) == (Claim.GIVE_UP, 3)
    assert row(db, log, update_id)[:2] == ("failed", 3)


def test_one_attempt_maximum_gives_up_after_the_first_failure(db: Database) -> None:
    log = new_log(db, attempts_max=1)
    update_id = new_update_id()
    assert log.claim(update_id, None).outcome is Claim.PROCESS
    assert log.mark_failed(update_id, "boom") is AfterFailure.GIVE_UP
    assert log.claim(update_id, None).outcome is Claim.GIVE_UP


def test_an_abandoned_claim_counts_an_attempt_and_processes_again(db: Database) -> None:
    log = new_log(db, attempts_max=2)
    update_id = new_update_id()
    assert log.claim(update_id, 5).outcome is Claim.PROCESS
    abandon(db, log, update_id)
    again = log.claim(update_id, 5)
    assert (again.outcome, again.attempts) == (Claim.PROCESS, 2)
    abandon(db, log, update_id)
    # The maximum reached by crashes alone: marked failed, not processed again.
    assert log.claim(update_id, 5).outcome is Claim.GIVE_UP
    assert row(db, log, update_id)[:2] == ("failed", 2)


def test_a_late_success_after_the_lease_was_taken_over_stays_single(db: Database) -> None:
    log = new_log(db)
    update_id = new_update_id()
    log.claim(update_id, None)
    log.mark_done(update_id)
    # A failure reported after done (a second, slower runner) changes nothing.
    assert log.mark_failed(update_id, "late") is AfterFailure.GIVE_UP
    assert row(db, log, update_id)[:2] == ("done", 1)


def test_attempts_max_must_be_positive(db: Database) -> None:
    with pytest.raises(ValueError, match="attempts_max"):
        UpdateLog(db, 1, attempts_max=0)


@pytest.mark.parametrize("initial", ["new", "failed", "abandoned"])
def test_concurrent_claims_of_one_update_process_it_exactly_once(
    db: Database, initial: str
) -> None:
    log = new_log(db, attempts_max=5)
    update_id = new_update_id()
    if initial != "new":
        log.claim(update_id, 9)
        if initial == "failed":
            log.mark_failed(update_id, "boom")
        else:
            abandon(db, log, update_id)
    racers = 16
    barrier = threading.Barrier(racers)

    def claim() -> Claim:
        barrier.wait()
        return log.claim(update_id, 9).outcome

    with ThreadPoolExecutor(racers) as pool:
        outcomes = list(pool.map(lambda _: claim(), range(racers)))
    assert outcomes.count(Claim.PROCESS) == 1
    assert outcomes.count(Claim.IN_FLIGHT) == racers - 1
    expected_attempts = 1 if initial == "new" else 2
    assert row(db, log, update_id)[:2] == ("processing", expected_attempts)
