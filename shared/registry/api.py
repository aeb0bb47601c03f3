"""The registry's use cases: look a model up, validate inputs, quote, build KIE's request."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from pydantic import JsonValue

from shared.registry.errors import ModelDisabledError
from shared.registry.kie_request import KieEndpoint, KieRequest, request_for
from shared.registry.loader import Registry, load_registry
from shared.registry.pricing import PricingSettings, credits_for, credits_for_usage, kopecks_for
from shared.registry.schema import Category, ModelEntry
from shared.registry.validation import validate_inputs as _validate


def _registry(registry: Registry | None) -> Registry:
    # Not `registry or …`: a Registry has a length, and an empty one is still the one asked for.
    return registry if registry is not None else load_registry()


def get_model(model_id: str, *, registry: Registry | None = None) -> ModelEntry:
    """The entry, enabled or not; UnknownModelError if the id is not in the catalogue."""
    return _registry(registry).model(model_id)


def _enabled(model_id: str, registry: Registry | None) -> ModelEntry:
    entry = get_model(model_id, registry=registry)
    if not entry.enabled:
        raise ModelDisabledError(model_id, entry.disabled_reason or "disabled")
    return entry


def enabled_models(*, registry: Registry | None = None) -> tuple[ModelEntry, ...]:
    return tuple(_registry(registry).models(enabled_only=True))


def categories(*, registry: Registry | None = None) -> tuple[Category, ...]:
    return _registry(registry).categories()


def models_in_category(slug: str, *, registry: Registry | None = None) -> tuple[ModelEntry, ...]:
    """Enabled models of one marketing category, in catalogue order."""
    return tuple(m for m in enabled_models(registry=registry) if m.category == slug)


def validate_inputs(
    model_id: str, inputs: Mapping[str, object], *, registry: Registry | None = None
) -> dict[str, JsonValue]:
    """The inputs with defaults filled in; InputValidationError names each bad field (ru/en)."""
    return _validate(_enabled(model_id, registry), inputs)


def quote_credits(
    model_id: str,
    inputs: Mapping[str, object],
    *,
    media_seconds: Mapping[str, float] | None = None,
    registry: Registry | None = None,
) -> Decimal:
    """KIE credits the job may cost at most (the hold's basis)."""
    entry = _enabled(model_id, registry)
    return credits_for(entry, _validate(entry, inputs), media_seconds)


def quote(
    model_id: str,
    inputs: Mapping[str, object],
    pricing: PricingSettings,
    *,
    media_seconds: Mapping[str, float] | None = None,
    registry: Registry | None = None,
) -> int:
    """Price in kopecks, a whole number of rubles: credits × credit_price_kopecks × price_markup.

    `pricing` is shared.config.Settings (or anything with those two Decimals). `media_seconds`
    gives the measured length of uploaded audio/video for models billed per second of it.
    """
    return kopecks_for(
        quote_credits(model_id, inputs, media_seconds=media_seconds, registry=registry), pricing
    )


def usage_credits(
    model_id: str,
    inputs: Mapping[str, object],
    tokens_in: int,
    tokens_out: int,
    *,
    registry: Registry | None = None,
) -> Decimal:
    """KIE credits a per-token model actually cost, from the usage it reported. The model
    may have been disabled since the job was quoted: the work is done and still priced."""
    entry = get_model(model_id, registry=_registry(registry))
    return credits_for_usage(entry, _validate(entry, inputs), tokens_in, tokens_out)


def endpoint_for(model_id: str, *, registry: Registry | None = None) -> KieEndpoint:
    """The model's create and query endpoints (for polling KIE about a task)."""
    reg = _registry(registry)
    entry = get_model(model_id, registry=reg)
    family = reg.family(entry.family)
    return KieEndpoint(
        family=entry.family,
        method=family.method,
        path=entry.endpoint or family.path,
        synchronous=family.synchronous,
        status_path=entry.status_path or family.status_path,
    )


def build_request(
    model_id: str,
    inputs: Mapping[str, object],
    callback_url: str | None,
    *,
    registry: Registry | None = None,
) -> KieRequest:
    """(endpoint, body) exactly as KIE's API for the model's family expects them."""
    reg = _registry(registry)
    entry = _enabled(model_id, reg)
    return request_for(entry, reg.family(entry.family), _validate(entry, inputs), callback_url)
