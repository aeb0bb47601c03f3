"""AWS Lambda entry point for the sweeper, called by an EventBridge schedule every minute."""

from __future__ import annotations

import dataclasses
from typing import Any

from shared.bootstrap import get_job_service, observe


def sweeper(event: dict[str, Any], context: object) -> dict[str, object]:
    observe(None)
    return dataclasses.asdict(get_job_service().sweep())
