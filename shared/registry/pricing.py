"""KIE credits for validated inputs, and the ruble quote a marketer sees.

Never guesses: when no sourced price row fits the inputs the model is not priceable. When the
inputs leave a price option open (KIE picks it, or it depends on a file we cannot measure), the
quote takes the highest matching row: the hold then covers the worst case and the capture is at
the actual cost KIE reports.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import ROUND_CEILING, Decimal
from typing import Protocol

from pydantic import JsonValue

from shared.domain.money import KOPECKS_PER_RUBLE
from shared.registry.errors import NotPriceableError
from shared.registry.schema import (
    PRESENT_PREFIX,
    UNKNOWN_PREFIX,
    ModelEntry,
    PriceRow,
    PriceRule,
    Scalar,
    SecondsSource,
)
from shared.registry.validation import is_present

MILLION = Decimal(1_000_000)


class PricingSettings(Protocol):
    """What a quote needs from shared.config.Settings (which satisfies it)."""

    @property
    def credit_price_kopecks(self) -> Decimal: ...

    @property
    def price_markup(self) -> Decimal: ...


def _norm(value: object) -> object:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return Decimal(str(value)).normalize()
    if isinstance(value, str):
        try:
            return Decimal(value).normalize()
        except ArithmeticError:
            return value
    return value


def _matches(when: Mapping[str, Scalar], values: Mapping[str, JsonValue]) -> bool:
    for key, expected in when.items():
        if key.startswith(UNKNOWN_PREFIX):
            continue
        if key.startswith(PRESENT_PREFIX):
            if is_present(values.get(key.removeprefix(PRESENT_PREFIX))) != expected:
                return False
            continue
        current = values.get(key)
        if current is None:
            continue  # left open: KIE decides, so every row for it stays a candidate
        if _norm(current) != _norm(expected):
            return False
    return True


def _row(entry: ModelEntry, rule: PriceRule, values: Mapping[str, JsonValue]) -> PriceRow:
    candidates = [row for row in rule.rows if _matches(row.when, values)]
    if not candidates:
        raise NotPriceableError(
            entry.id,
            "для выбранных параметров нет подтверждённой цены, выберите другие.",
            "no sourced price covers these options; choose other ones.",
        )
    return max(candidates, key=lambda row: (row.credits, row.input_credits or 0))


def _seconds(
    entry: ModelEntry,
    source: SecondsSource,
    values: Mapping[str, JsonValue],
    media_seconds: Mapping[str, float],
) -> Decimal:
    if source.frames:
        frames, fps = (values.get(name) for name in source.frames)
        if isinstance(frames, int | float) and isinstance(fps, int | float) and fps > 0:
            return Decimal(str(frames)) / Decimal(str(fps))
    if source.field:
        value = values.get(source.field)
        if isinstance(value, int | float | str) and not isinstance(value, bool):
            seconds = Decimal(str(value))
            if seconds > 0:
                return seconds
    if source.media and source.media in media_seconds:
        measured = Decimal(str(math.ceil(media_seconds[source.media])))
        if source.max_s is not None:
            measured = min(measured, Decimal(str(source.max_s)))
        if measured > 0:
            return measured
    if source.max_s is not None:
        return Decimal(str(source.max_s))
    what = source.media or source.field or "?"
    raise NotPriceableError(
        entry.id,
        f"цена зависит от длительности «{what}»: укажите её.",
        f"the price depends on the length of '{what}'; provide it.",
    )


def _text_length(values: Mapping[str, JsonValue], paths: tuple[str, ...], *, utf8: bool) -> int:
    total = 0
    for path in paths:
        name, _, sub = path.partition("[].")
        value = values.get(name)
        texts: list[object] = [value] if not sub else []
        if sub and isinstance(value, list):
            texts = [item.get(sub) for item in value if isinstance(item, dict)]
        for text in texts:
            if isinstance(text, str):
                total += len(text.encode()) if utf8 else len(text)
    return total


def _count(entry: ModelEntry, field: str, values: Mapping[str, JsonValue]) -> Decimal:
    value = values.get(field)
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        return Decimal(str(value))
    spec = entry.inputs[field]
    # Unset and no default: KIE picks the count, so quote the most it may pick.
    if spec.enum:
        return max(Decimal(str(v)) for v in spec.enum)
    if spec.max is not None:
        return Decimal(str(spec.max))
    raise NotPriceableError(
        entry.id,
        f"цена зависит от количества «{field}»: укажите его.",
        f"the price depends on '{field}'; set it.",
    )


def credits_for(
    entry: ModelEntry,
    values: Mapping[str, JsonValue],
    media_seconds: Mapping[str, float] | None = None,
) -> Decimal:
    """KIE credits for validated inputs (defaults applied); NotPriceableError when unknown."""
    rule = entry.price
    if rule is None:
        raise NotPriceableError(entry.id, "у модели нет цены.", "the model has no price.")
    row = _row(entry, rule, values)
    if rule.unit == "per_run":
        credits = row.credits
    elif rule.unit == "per_second":
        assert rule.seconds is not None  # the schema guarantees it for per_second
        credits = row.credits * _seconds(entry, rule.seconds, values, media_seconds or {})
    elif rule.unit == "per_1k_chars":
        chars = _text_length(values, rule.text_fields or (), utf8=False)
        credits = row.credits * Decimal(chars) / 1000
    else:
        # A byte-level tokenizer never makes more tokens than UTF-8 bytes: a safe input bound.
        tokens_in = _text_length(values, rule.text_fields or (), utf8=True)
        tokens_out = _count(entry, rule.max_output_field or "", values)
        credits = (
            Decimal(tokens_in) * (row.input_credits or 0) + tokens_out * row.credits
        ) / MILLION
    if rule.multiply_by:
        credits *= _count(entry, rule.multiply_by, values)
    if rule.per_item:
        items = values.get(rule.per_item.field)
        extra = max(0, (len(items) if isinstance(items, list) else 0) - rule.per_item.free_items)
        credits += extra * rule.per_item.credits
    if credits <= 0:
        raise NotPriceableError(entry.id, "цена получилась нулевой.", "the price came out as zero.")
    return credits


def kopecks_for(credits: Decimal, pricing: PricingSettings) -> int:
    """Credits × our cost of a credit × markup, rounded up to whole rubles."""
    exact = credits * pricing.credit_price_kopecks * pricing.price_markup
    rubles = (exact / KOPECKS_PER_RUBLE).to_integral_value(rounding=ROUND_CEILING)
    return int(rubles) * KOPECKS_PER_RUBLE


def credits_for_usage(
    entry: ModelEntry, values: Mapping[str, JsonValue], tokens_in: int, tokens_out: int
) -> Decimal:
    """The actual cost of a per-token run from the usage KIE reports (the capture, where the
    quote held the maximum output)."""
    rule = entry.price
    if rule is None or rule.unit != "per_million_tokens":
        raise NotPriceableError(entry.id, "модель не тарифицируется по токенам.", "not per token.")
    row = _row(entry, rule, values)
    return (Decimal(tokens_in) * (row.input_credits or 0) + Decimal(tokens_out) * row.credits) / (
        MILLION
    )
