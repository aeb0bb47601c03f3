"""Turns a saved page (or pages) of KIE's public price feed into proposed catalogue changes.

The feed (POST api.kie.ai/client/v1/model-pricing/page) gives free-text descriptions, a credit
price and unit, and an `anchor` whose `?model=` names the API id for many rows. A record updates a
registry row when it names the model and ends with that row's variant text; a record for a model
disabled only for lack of a price enables it when it is that model's single, flat price. Anything
else is reported for a human, never applied.
"""

from __future__ import annotations

import copy
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

FLAT_UNITS = {"per video", "per image", "per request", "per generation", "per upscale"}
ChangeKind = Literal["price", "enable", "review", "unknown_model", "stays_disabled"]


@dataclass(frozen=True)
class FeedRecord:
    description: str
    credits: Decimal
    unit: str
    anchor_model: str | None


@dataclass(frozen=True)
class Change:
    kind: ChangeKind
    model_id: str
    text: str

    def render(self) -> str:
        mark = {"price": "~", "enable": "+", "review": "!", "unknown_model": "?"}.get(
            self.kind, " "
        )
        return f"{mark} {self.model_id}: {self.text}"


def _records_of(doc: object) -> list[Mapping[str, Any]]:
    if isinstance(doc, list):
        if all(isinstance(page, Mapping) and "data" in page for page in doc):  # several pages
            return [record for page in doc for record in _records_of(page)]
        return [record for record in doc if isinstance(record, Mapping)]  # bare records
    if isinstance(doc, Mapping):
        data = doc.get("data")
        if isinstance(data, Mapping) and isinstance(data.get("records"), list):
            return [record for record in data["records"] if isinstance(record, Mapping)]
    raise ValueError("not a price-feed page: expected {'data': {'records': [...]}}")


def parse_feed(doc: object) -> list[FeedRecord]:
    out = []
    for item in _records_of(doc):
        try:
            credits = Decimal(str(item["creditPrice"]))
        except (KeyError, InvalidOperation):
            continue
        anchor = str(item.get("anchor") or "")
        model = parse_qs(urlsplit(anchor).query).get("model", [None])[0]
        out.append(
            FeedRecord(
                description=str(item.get("modelDescription") or ""),
                credits=credits,
                unit=_norm(str(item.get("creditUnit") or "")),
                anchor_model=model,
            )
        )
    return out


def _norm(text: str) -> str:
    text = text.replace("（", "(").replace("）", ")").lower()
    return re.sub(r"\s+", " ", text).strip()


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _match_rows(entry: Mapping[str, Any], record: FeedRecord, single: bool) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = entry["price"]["rows"]
    described = _norm(record.description)
    hits = [r for r in rows if r.get("variant") and described.endswith(_norm(str(r["variant"])))]
    if not hits and single and all(not r.get("variant") for r in rows):
        hits = rows
    return hits


def _update_prices(
    entry: dict[str, Any], records: list[FeedRecord], label: str
) -> tuple[list[Change], int]:
    changes: list[Change] = []
    unchanged = 0
    for record in records:
        rows = _match_rows(entry, record, single=len(records) == 1)
        if not rows:
            changes.append(
                Change(
                    "review",
                    entry["id"],
                    f"new feed row {record.description!r}: "
                    f"{_fmt(record.credits)} {record.unit}; map it to inputs by hand",
                )
            )
            continue
        old = Decimal(str(rows[0]["credits"]))
        if old == record.credits:
            unchanged += 1
            continue
        variant = rows[0].get("variant") or "flat"
        changes.append(
            Change(
                "price",
                entry["id"],
                f"[{variant}] {_fmt(old)} → {_fmt(record.credits)} credits {record.unit}",
            )
        )
        for row in rows:
            row["credits"] = _fmt(record.credits)
        entry["price"]["source"] = f"{entry['price']['source']}; updated from {label}"
    return changes, unchanged


def _enable(entry: dict[str, Any], records: list[FeedRecord], label: str, as_of: str) -> Change:
    units = {r.unit for r in records}
    flat = len(records) == 1 and units <= FLAT_UNITS
    per_second = len(records) == 1 and units == {"per second"} and "duration" in entry["inputs"]
    if not entry.get("inputs") or not (flat or per_second):
        return Change(
            "review",
            entry["id"],
            f"{len(records)} feed row(s) ({', '.join(sorted(units))}) need a mapping to inputs; "
            "stays disabled",
        )
    record = records[0]
    price: dict[str, Any] = {
        "unit": "per_second" if per_second else "per_run",
        "rows": [{"when": {}, "credits": _fmt(record.credits), "variant": record.description}],
        "source": label,
        "as_of": as_of,
    }
    if per_second:
        price["seconds"] = {"field": "duration"}
    entry.update(price=price, enabled=True, disabled_reason=None, disabled_code=None)
    entry.pop("price_evidence", None)
    return Change("enable", entry["id"], f"enabled at {_fmt(record.credits)} credits {record.unit}")


def plan_sync(
    catalogue: Mapping[str, Any],
    records: list[FeedRecord],
    *,
    label: str,
    as_of: str,
    aliases: Mapping[str, str] | None = None,
) -> tuple[list[Change], int, dict[str, Any]]:
    """(changes, unchanged row count, the catalogue with the applicable changes made)."""
    updated = copy.deepcopy(dict(catalogue))
    by_id = {m["id"]: m for m in updated["models"]}
    grouped: dict[str, list[FeedRecord]] = defaultdict(list)
    changes: list[Change] = []
    for record in records:
        model_id = (aliases or {}).get(record.anchor_model or "", record.anchor_model)
        if model_id is not None and model_id in by_id:
            grouped[model_id].append(record)
        else:
            name = model_id or record.description
            changes.append(
                Change(
                    "unknown_model",
                    name,
                    f"not in the registry: {record.description!r} "
                    f"{_fmt(record.credits)} {record.unit}",
                )
            )
    unchanged = 0
    for model_id, model_records in grouped.items():
        entry = by_id[model_id]
        if entry.get("enabled") and entry.get("price"):
            found, same = _update_prices(entry, model_records, label)
            changes += found
            unchanged += same
        elif entry.get("disabled_code") == "no_price":
            changes.append(_enable(entry, model_records, label, as_of))
        else:
            changes.append(
                Change(
                    "stays_disabled",
                    model_id,
                    f"priced by the feed but disabled: {entry.get('disabled_code')}",
                )
            )
    return changes, unchanged, updated
