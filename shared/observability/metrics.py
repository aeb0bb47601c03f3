"""Metrics as log lines: `{"metric": name, "value": n, …labels}`.

A log-based metric in Cloud Logging (or a CloudWatch metric filter) counts or
sums them; no metrics client, no extra latency, nothing to configure here.
"""

from __future__ import annotations

import logging

_log = logging.getLogger("kie_studio.metrics")

# The names ops dashboards are built on (docs/OPERATIONS.md).
JOB_STATE = "job_state"  # labels: state, model_id, error_code
KIE_ERROR = "kie_error"  # labels: kie_code, operation
QUEUE_RETRY = "queue_retry"  # labels: target, reason
WALLET_TOTALS = "wallet_totals"  # value: balance kopecks; labels: held_kopecks, wallets


def emit(name: str, value: float = 1, **labels: str | int | float | None) -> None:
    _log.info(name, extra={"metric": name, "value": value, **labels})
