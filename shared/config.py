"""Settings: the one place that reads the environment (and an optional `.env`).

Every other module receives a `Settings` (or values from it); none reads
`os.environ` itself, so a bad value fails at start with the variable's name.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigError(RuntimeError):
    """The environment holds a missing or invalid setting; the message names each variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

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
    db_connect_timeout_s: int = Field(default=10, ge=1, le=120)
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

    # --- Logging ------------------------------------------------------------
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


def describe_validation_error(error: ValidationError) -> str:
    """One line per bad variable, named as the operator sets it."""
    lines = []
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else "?"
        lines.append(f"  {field.upper()}: {item['msg']}")
    return "Invalid configuration:\n" + "\n".join(lines)


def load_settings(**overrides: object) -> Settings:
    """Read and validate the settings; raise ConfigError naming each bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise ConfigError(describe_validation_error(error)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once (warm invocations reuse them)."""
    return load_settings()
