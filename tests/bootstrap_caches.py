"""The process-wide services of shared.bootstrap, forgotten: a test that points the
environment at its own database builds them afresh (and leaves none behind)."""

from __future__ import annotations


def clear_bootstrap_caches() -> None:
    from shared import bootstrap, config

    for cached in (
        config.get_settings,
        bootstrap.get_database,
        bootstrap.get_ledger,
        bootstrap.get_task_queue,
        bootstrap.get_kie_client,
        bootstrap.get_job_service,
    ):
        cached.cache_clear()
