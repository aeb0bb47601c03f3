"""Settings: the one place that reads the environment (and an optional `.env`).

Every other module receives a `Settings` (or values from it); none reads
`os.environ` itself, so a bad value fails at start with the variable's name.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from shared.once import once

# Good enough for a laptop, refused in production (see the validator below).
DEV_CALLBACK_SECRET = "local-development-only-callback-secret"  # noqa: S105


DEFAULT_ENV_FILE = ".env"


class ConfigError(RuntimeError):
    """The environment holds a missing or invalid setting; the message names each variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=DEFAULT_ENV_FILE,
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Each source walks every field again: a deployed function has no .env file, and
        # skipping its source takes ~15 ms off a cold start.
        # Only the default `.env`, when absent, or no file at all is skipped: an explicit
        # `_env_file=` keeps pydantic-settings' own rules (~, FIFOs, parent directories).
        files = getattr(dotenv_settings, "env_file", None)
        if files is None or (files == DEFAULT_ENV_FILE and not Path(files).is_file()):
            return init_settings, env_settings, file_secret_settings
        return init_settings, env_settings, dotenv_settings, file_secret_settings

    # --- Postgres -----------------------------------------------------------
    database_url: SecretStr | None = Field(
        default=None,
        description="postgresql://user:pass@host:port/db, or ?host=/socket/dir for a unix socket. "
        "Unset: an embedded server under LOCAL_DIR is started (local use only).",
    )
    test_database_url: SecretStr | None = Field(
        default=None,
        description="Tests use this server when set, else a throwaway embedded one.",
    )
    db_pool_max: int = Field(default=2, ge=1, le=32, description="Connections per process.")
    db_connect_timeout_s: int = Field(
        default=10,
        ge=2,
        le=3600,
        description="pg8000's socket timeout: a new connection, and any wait for an answer.",
    )
    db_statement_timeout_s: float = Field(
        default=8.0,
        gt=0,
        le=3600,
        description="Postgres cancels a statement running longer (1 s or more below the "
        "socket timeout, so the server's cancel arrives before the client gives up).",
    )
    db_pool_wait_s: float = Field(default=10.0, gt=0, le=120)
    db_retries_max: int = Field(
        default=5, ge=1, le=20, description="Attempts on serialization failure or deadlock."
    )

    # --- Local embedded Postgres (used only when DATABASE_URL is unset) ------
    local_dir: Path = Field(default=Path(".local"), description="Kept state of the local sandbox.")
    local_pg_port: int = Field(default=54329, ge=1024, le=65535)

    # --- Money --------------------------------------------------------------
    hold_ttl_s: int = Field(
        default=6 * 3600, ge=60, le=7 * 24 * 3600, description="Default expiry of a hold."
    )
    credit_price_kopecks: Decimal = Field(
        default=Decimal("40"),
        gt=0,
        description="What one KIE credit costs us, in kopecks ($0.005 at 80 ₽/$ = 40).",
    )
    price_markup: Decimal = Field(
        default=Decimal("1.5"), ge=1, le=20, description="Multiplier from our cost to the price."
    )

    # --- Functions and task queues -------------------------------------------
    port: int = Field(
        default=8080, ge=1024, le=65000, description="The sandbox's first port (`make run`)."
    )
    environment: Literal["local", "production"] = Field(
        default="local", description="production refuses the development defaults of secrets"
    )
    functions_base_url: str = Field(
        default="http://127.0.0.1:8080/fn",
        description="Where queue targets live: a task for `submit_job` goes to {base}/submit_job.",
    )
    task_queue_backend: Literal["local", "cloud_tasks", "sqs"] = "local"
    local_queue_url: str = Field(
        default="http://127.0.0.1:8080/queue",
        description="The local task queue's URL (`make run` sets its own, at PORT+3).",
    )
    gcp_project: str | None = None
    gcp_location: str | None = None
    cloud_tasks_queue_submit: str = "submit"
    cloud_tasks_queue_deliver: str = "deliver"
    cloud_tasks_queue_ocr: str = "ocr"
    ocr_receipt_url: str | None = Field(
        default=None,
        description="Where ocr_receipt runs when not at FUNCTIONS_BASE_URL/ocr_receipt "
        "(its own container on Cloud Run); also the OIDC audience of its tasks.",
    )
    cloud_tasks_invoker_email: str | None = Field(
        default=None, description="Service account whose OIDC token Cloud Tasks sends."
    )
    cloud_tasks_emulator_host: str | None = Field(
        default=None, description="host:port of a Cloud Tasks emulator (local tests only)."
    )

    sqs_queue_url_submit: str | None = Field(default=None, description="AWS: submit_job's queue.")
    sqs_queue_url_deliver: str | None = Field(
        default=None, description="AWS: deliver_result's queue."
    )
    sqs_queue_url_ocr: str | None = Field(
        default=None, description="AWS: ocr_receipt's queue (manual transfers)."
    )
    aws_region: str | None = None
    aws_endpoint_url: str | None = Field(
        default=None, description="An S3/SQS-compatible endpoint (moto, MinIO) instead of AWS."
    )

    # --- Object storage (S3 API: AWS S3, GCS interoperability, Yandex, MinIO) --
    object_store_bucket: str | None = None
    object_store_endpoint_url: str | None = Field(
        default=None, description="e.g. https://storage.googleapis.com for GCS interoperability."
    )
    object_store_region: str | None = None
    object_store_access_key_id: SecretStr | None = Field(
        default=None, description="HMAC key id; unset: the platform's own credentials."
    )
    object_store_secret_access_key: SecretStr | None = None
    result_max_bytes: int = Field(
        default=2 * 1024**3, ge=1024, description="Largest result file archived."
    )

    # --- KIE ----------------------------------------------------------------
    kie_base_url: str = "https://api.kie.ai"
    kie_upload_base_url: str = "https://kieai.redpandaai.co"
    kie_api_key: SecretStr | None = None
    kie_timeout_s: float = Field(default=30.0, gt=0, le=120)
    kie_callback_url: str = Field(
        default="http://127.0.0.1:8080/fn/kie_callback",
        description="Public URL of the kie_callback function; job id and signature are appended.",
    )
    callback_secret: SecretStr = Field(
        default=SecretStr(DEV_CALLBACK_SECRET),
        description="Signs the job id in callback URLs. Required in production.",
    )
    kie_webhook_hmac_key: SecretStr | None = Field(
        default=None,
        description="KIE's webhookHmacKey; when set, callbacks must carry its signature.",
    )
    kie_webhook_window_s: int = Field(default=300, ge=30, le=3600)
    kie_confirm_results: bool = Field(
        default=True, description="Re-read a success from KIE before capturing money."
    )
    job_first_poll_s: int | None = Field(
        default=None,
        ge=1,
        le=3600,
        description="When set, the sweeper first asks KIE about a job this long after "
        "submission, instead of the model's typical duration plus a minute.",
    )

    # --- Telegram -------------------------------------------------------------
    telegram_bot_token: SecretStr | None = Field(
        default=None, description="The bot's token from @BotFather."
    )
    telegram_webhook_secret: SecretStr | None = Field(
        default=None,
        description="Telegram sends it in X-Telegram-Bot-Api-Secret-Token.",
    )
    telegram_api_base: str = Field(
        default="https://api.telegram.org",
        description="Bot API server; the local emulator in the sandbox and tests.",
    )
    telegram_webhook_url: str | None = Field(
        default=None, description="Public HTTPS URL of the telegram_webhook function."
    )
    fsm_ttl_s: int = Field(default=24 * 3600, ge=60, le=30 * 24 * 3600)
    update_attempts_max: int = Field(
        default=3, ge=1, le=20, description="A failing update is dropped after this many tries."
    )

    signup_bonus_kopecks: int = Field(
        default=0, ge=0, le=10_000_000, description="Given once per Telegram user on /start."
    )
    user_jobs_in_flight_max: int = Field(
        default=3, ge=1, le=100, description="Jobs one user may have running at once."
    )
    user_rate_per_s: float = Field(
        default=3.0, gt=0, le=100, description="Messages and presses per second a user refills."
    )
    user_rate_burst: int = Field(
        default=20, ge=1, le=1000, description="Messages and presses a user may send at once."
    )

    # --- Payments -----------------------------------------------------------
    topup_packs_rub: tuple[int, ...] = Field(
        default=(300, 500, 1000, 3000),
        description="Top-up packs in whole rubles, as JSON: [300, 500, 1000, 3000].",
    )
    topup_min_rub: int = Field(default=100, ge=1, le=1_000_000)
    topup_max_rub: int = Field(default=50_000, ge=1, le=1_000_000)
    payment_ttl_s: int = Field(
        default=24 * 3600, ge=60, le=30 * 24 * 3600, description="An unpaid invoice expires."
    )
    stars_enabled: bool = Field(default=True, description="Offer Telegram Stars (XTR).")
    stars_kopecks_per_star: int = Field(
        default=130, ge=1, le=100_000, description="Kopecks credited per Star paid."
    )
    stars_max_per_invoice: int = Field(
        default=10_000,
        ge=1,
        le=1_000_000,
        description="The most Stars one invoice may ask; larger amounts offer no Stars.",
    )
    payments_provider_token: SecretStr | None = Field(
        default=None,
        description="Telegram payments provider token (e.g. YooKassa) for card payments in RUB; "
        "unset hides card payments.",
    )
    payments_fiscal_receipt: bool = Field(
        default=False, description="Ask the e-mail and send a 54-FZ receipt in provider_data."
    )
    payments_vat_code: int = Field(default=1, ge=1, le=12, description="YooKassa vat_code.")
    transfer_details: str | None = Field(
        default=None,
        max_length=1000,
        description="Bank details shown for a manual transfer; unset hides manual transfers.",
    )
    admin_telegram_ids: tuple[int, ...] = Field(
        default=(),
        description="Telegram ids of admins (receipt approvals, refunds), as JSON: [123, 456].",
    )
    referral_bonus_kopecks: int = Field(
        default=0, ge=0, le=10_000_000, description="To the referrer on a referee's first top-up."
    )
    receipt_max_bytes: int = Field(
        default=20 * 1024 * 1024,
        ge=1024,
        le=20 * 1024 * 1024,
        description="Largest receipt image accepted (bots download at most 20 MB).",
    )

    # --- Logging ------------------------------------------------------------
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _telegram_secret_alphabet(cls, value: SecretStr | None) -> SecretStr | None:
        # Telegram's setWebhook accepts only these characters in secret_token.
        if value is not None and not re.fullmatch(
            r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()
        ):
            raise ValueError("use 1-256 characters from A-Z, a-z, 0-9, _ and -")
        return value

    @model_validator(mode="after")
    def _statements_end_before_the_socket_gives_up(self) -> Settings:
        if self.db_statement_timeout_s > self.db_connect_timeout_s - 1:
            raise ValueError(
                "DB_STATEMENT_TIMEOUT_S must be at least 1 s below DB_CONNECT_TIMEOUT_S: past "
                "the socket timeout the client gives up while the server may still commit"
            )
        return self

    @model_validator(mode="after")
    def _top_up_bounds_hold_the_packs(self) -> Settings:
        if self.topup_min_rub > self.topup_max_rub:
            raise ValueError("TOPUP_MIN_RUB must not exceed TOPUP_MAX_RUB")
        outside = [
            p for p in self.topup_packs_rub if not self.topup_min_rub <= p <= self.topup_max_rub
        ]
        if outside:
            raise ValueError(f"TOPUP_PACKS_RUB {outside} lie outside TOPUP_MIN_RUB..TOPUP_MAX_RUB")
        return self

    @model_validator(mode="after")
    def _no_development_secrets_in_production(self) -> Settings:
        if (
            self.environment == "production"
            and self.callback_secret.get_secret_value() == DEV_CALLBACK_SECRET
        ):
            raise ValueError("CALLBACK_SECRET must be set in production")
        return self


def describe_validation_error(error: ValidationError) -> str:
    """One line per bad variable, named as the operator sets it."""
    lines = []
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else "settings"
        lines.append(f"  {field.upper()}: {item['msg']}")
    return "Invalid configuration:\n" + "\n".join(lines)


def load_settings(**overrides: object) -> Settings:
    """Read and validate the settings; raise ConfigError naming each bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise ConfigError(describe_validation_error(error)) from None


@once
def get_settings() -> Settings:
    """The process-wide settings, read once (warm invocations reuse them)."""
    return load_settings()
