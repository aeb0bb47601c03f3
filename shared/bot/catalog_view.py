"""The registry as screens: categories, model pages, "from N ₽" and typical time."""

from __future__ import annotations

from functools import lru_cache

from shared.bot.callbacks import model_key
from shared.bot.i18n import Locale
from shared.config import get_settings
from shared.domain.money import format_rubles
from shared.once import once
from shared.registry import (
    RegistryError,
    categories,
    enabled_models,
    models_in_category,
    quote,
)
from shared.registry.samples import sample_inputs, sample_media_seconds
from shared.registry.schema import ModelEntry

PAGE_SIZE = 6


@once
def models_by_key() -> dict[str, ModelEntry]:
    return {model_key(entry.id): entry for entry in enabled_models()}


def category_rows(locale: Locale) -> list[tuple[str, str]]:
    """(slug, label with the number of models) for every category that has a model."""
    rows = []
    for category in categories():
        count = len(models_in_category(category.slug))
        if count:
            label = category.label.ru if locale == "ru" else category.label.en
            rows.append((category.slug, f"{label} · {count}"))
    return rows


def page_of(slug: str, page: int) -> tuple[list[ModelEntry], int]:
    """The models on `page` (clamped) and the number of pages."""
    models = sorted(models_in_category(slug), key=lambda e: (price_from(e.id) or 10**12, e.id))
    pages = max(1, -(-len(models) // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    return models[page * PAGE_SIZE : (page + 1) * PAGE_SIZE], pages


@lru_cache(maxsize=512)
def price_from(model_id: str) -> int | None:
    """The price with the model's defaults (what most runs cost); None if not priceable so."""
    entry = next((e for e in enabled_models() if e.id == model_id), None)
    if entry is None:
        return None
    try:
        return quote(
            model_id,
            sample_inputs(entry),
            get_settings(),
            media_seconds=sample_media_seconds(entry),
        )
    except RegistryError:
        return None


def eta_text(seconds: int, locale: Locale) -> str:
    minutes = max(1, round(seconds / 60))
    if seconds < 60:
        return f"~{seconds} с" if locale == "ru" else f"~{seconds} s"
    return f"~{minutes} мин" if locale == "ru" else f"~{minutes} min"


def model_button(entry: ModelEntry, locale: Locale) -> str:
    title = entry.title.ru if locale == "ru" else entry.title.en
    price = price_from(entry.id)
    cost = ("от " if locale == "ru" else "from ") + format_rubles(price) if price else "—"
    return f"{title} · {cost} · {eta_text(entry.eta_s, locale)}"
