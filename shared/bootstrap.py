"""The composition root: builds the process-wide database pool and services once.

A warm serverless instance keeps these between invocations. Nothing here runs
at import; functions call the getters on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.adapters.db import Database, parse_database_url
from shared.config import Settings, get_settings
from shared.observability.logs import configure_logging, set_trace
from shared.once import once
from shared.services.ledger import Ledger

if TYPE_CHECKING:
    from shared.adapters.embedded_pg import EmbeddedPostgres
    from shared.jobs.service import JobService
    from shared.kie.client import KieClient
    from shared.payments.service import Payments
    from shared.queue.port import TaskQueue


def observe(trace_header: str | None) -> None:
    """Per request: JSON logs on stdout (set up once) and this request's trace
    (the value of X-Cloud-Trace-Context)."""
    settings = get_settings()
    configure_logging(settings.log_level)
    set_trace(trace_header, settings.gcp_project)


def local_postgres(settings: Settings) -> EmbeddedPostgres:
    """The sandbox's own server, kept under LOCAL_DIR between runs like a real database."""
    from shared.adapters.embedded_pg import EmbeddedPostgres  # local use only (subprocess)

    return EmbeddedPostgres(settings.local_dir.resolve() / "pgdata", settings.local_pg_port)


def database_url(settings: Settings) -> str:
    """DATABASE_URL when set; otherwise the local embedded server, started if needed."""
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    server = local_postgres(settings)
    server.start()
    return server.url


def make_database(url: str, settings: Settings) -> Database:
    return Database(
        parse_database_url(url),
        max_size=settings.db_pool_max,
        connect_timeout_s=settings.db_connect_timeout_s,
        wait_s=settings.db_pool_wait_s,
        retries_max=settings.db_retries_max,
        statement_timeout_s=settings.db_statement_timeout_s,
    )


@once
def get_database() -> Database:
    settings = get_settings()
    return make_database(database_url(settings), settings)


@once
def get_ledger() -> Ledger:
    return Ledger(get_database(), default_hold_ttl_s=get_settings().hold_ttl_s)


@once
def get_task_queue() -> TaskQueue:
    from shared.queue import task_queue_from_settings

    return task_queue_from_settings(get_settings())


@once
def get_kie_client() -> KieClient:
    from shared.kie.client import KieClient
    from shared.kie.errors import KieConfigError

    settings = get_settings()
    if settings.kie_api_key is None:
        raise KieConfigError(401, "KIE_API_KEY is not set")
    return KieClient(
        base_url=settings.kie_base_url,
        upload_base_url=settings.kie_upload_base_url,
        api_key=settings.kie_api_key.get_secret_value(),
        timeout_s=settings.kie_timeout_s,
    )


@once
def get_job_service() -> JobService:
    # Imported here: the jobs stack (registry, httpx) is only paid for by functions that use it.
    from shared.jobs.service import JobPolicy, JobService

    settings = get_settings()
    policy = JobPolicy(
        callback_secret=settings.callback_secret.get_secret_value(),
        callback_base_url=settings.kie_callback_url,
        confirm_results=settings.kie_confirm_results,
        kie_webhook_key=(
            settings.kie_webhook_hmac_key.get_secret_value()
            if settings.kie_webhook_hmac_key
            else None
        ),
        kie_webhook_window_s=settings.kie_webhook_window_s,
        first_poll_s=settings.job_first_poll_s,
    )
    return JobService(
        get_database(), get_ledger(), get_task_queue(), get_kie_client, settings, policy
    )


def get_payments() -> Payments:
    """Top-ups, receipts and their dead letters on the process's database (cheap to build)."""
    from shared.payments.setup import payments_for

    return payments_for(get_database())
