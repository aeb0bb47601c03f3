"""The simulator's knobs: one dataclass, set by the constructor, the CLI or POST /_sim/config."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from decimal import Decimal, InvalidOperation
from typing import Any

DEFAULT_API_KEY = "sim-kie-key"
# KIE's documented maintenance code plus a plain 500 and a gateway's 502 (HTML body, not JSON).
DEFAULT_5XX_CODES = (455, 500, 502)


class ConfigError(ValueError):
    pass


@dataclass
class Knobs:
    api_key: str = DEFAULT_API_KEY
    balance: Decimal = Decimal(1_000_000)
    delay_s: float = 0.5
    failure_rate: float = 0.0
    duplicate_rate: float = 0.0
    out_of_order_rate: float = 0.0
    lost_rate: float = 0.0
    create_429_rate: float = 0.0
    create_5xx_rate: float = 0.0
    create_5xx_codes: tuple[int, ...] = DEFAULT_5XX_CODES
    seed: int | None = None
    webhook_hmac_key: str | None = None
    callback_timeout_s: float = 15.0
    callback_retries: int = 0
    callback_retry_delay_s: float = 1.0
    default_credits: Decimal = Decimal(10)
    public_base_url: str | None = None

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["balance"] = _number(self.balance)
        data["default_credits"] = _number(self.default_credits)
        data["create_5xx_codes"] = list(self.create_5xx_codes)
        return data


RATE_FIELDS = frozenset(
    {
        "failure_rate",
        "duplicate_rate",
        "out_of_order_rate",
        "lost_rate",
        "create_429_rate",
        "create_5xx_rate",
    }
)
KNOB_NAMES = frozenset(f.name for f in fields(Knobs))


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def coerce(name: str, value: Any) -> Any:
    """A knob value from JSON or the command line, checked; ConfigError names the knob."""
    if name not in KNOB_NAMES:
        raise ConfigError(f"unknown knob {name!r}")
    try:
        if name in RATE_FIELDS:
            rate = float(value)
            if not 0.0 <= rate <= 1.0:
                raise ConfigError(f"{name} must be between 0 and 1")
            return rate
        if name in ("delay_s", "callback_timeout_s", "callback_retry_delay_s"):
            seconds = float(value)
            if seconds < 0:
                raise ConfigError(f"{name} must not be negative")
            return seconds
        if name in ("balance", "default_credits"):
            return Decimal(str(value))
        if name == "callback_retries":
            retries = int(value)
            if retries < 0:
                raise ConfigError(f"{name} must not be negative")
            return retries
        if name == "seed":
            return None if value is None else int(value)
        if name == "create_5xx_codes":
            codes = tuple(int(c) for c in value)
            if not codes or any(c not in (455, *range(500, 600)) for c in codes):
                raise ConfigError(f"{name} must list 455 or 5xx codes")
            return codes
        if name in ("webhook_hmac_key", "public_base_url"):
            return None if value in (None, "") else str(value)
        return str(value)
    except (TypeError, ValueError, InvalidOperation) as error:
        if isinstance(error, ConfigError):
            raise
        raise ConfigError(f"{name}: bad value {value!r}") from error
