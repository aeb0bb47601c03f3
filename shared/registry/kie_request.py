"""The exact HTTP call KIE expects for a model: its family's endpoint and body shape."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from pydantic import JsonValue

from shared.registry.schema import Family, ModelEntry


@dataclass(frozen=True)
class KieEndpoint:
    family: str
    method: str
    path: str
    synchronous: bool
    status_path: str | None


class KieRequest(NamedTuple):
    endpoint: KieEndpoint
    body: dict[str, JsonValue]


def request_for(
    entry: ModelEntry,
    family: Family,
    values: Mapping[str, JsonValue],
    callback_url: str | None,
) -> KieRequest:
    """Body from already validated inputs (defaults applied)."""
    endpoint = KieEndpoint(
        family=entry.family,
        method=family.method,
        path=entry.endpoint or family.path,
        synchronous=family.synchronous,
        status_path=entry.status_path or family.status_path,
    )
    if family.callback_field and callback_url is None and entry.family == "suno":
        raise ValueError(f"{entry.id}: KIE requires a callback URL for Suno")
    body: dict[str, JsonValue]
    if family.body == "market":
        body = {"model": entry.id, "input": dict(values)}
    elif family.body == "flat":
        body = {**values, **entry.fixed}
    else:
        # Synchronous chat: no callback, and no streaming so one response holds the whole text.
        body = {**values, **entry.fixed, "stream": False}
    if family.callback_field and callback_url is not None:
        body[family.callback_field] = callback_url
    return KieRequest(endpoint, body)
