"""The committed catalogue: complete against KIE's documented ids, and every enabled model runs."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from shared.config import load_settings
from shared.registry import (
    KieRequest,
    build_request,
    enabled_models,
    get_model,
    load_registry,
    models_in_category,
    quote,
)
from shared.registry.audit import audit_catalogue
from shared.registry.loader import CATALOGUE_PATH, read_catalogue
from shared.registry.samples import sample_inputs, sample_media_seconds

REPO = Path(__file__).resolve().parents[2]
CALLBACK = "https://studio.example.com/kie/callback?job=42&sig=abc"
REGISTRY = load_registry()
ENABLED = [m.id for m in REGISTRY.models(enabled_only=True)]
SETTINGS = load_settings(credit_price_kopecks=Decimal("40"), price_markup=Decimal("1.5"))


def _kie_ids() -> list[str]:
    path = REPO / str(REGISTRY.raw["kie_catalogue_copy"])
    return [str(item["id"]) for item in json.loads(path.read_text(encoding="utf-8"))]


def test_every_documented_kie_id_is_in_the_registry_exactly_once() -> None:
    kie_ids = _kie_ids()
    assert len(kie_ids) == 180
    assert sorted(REGISTRY.ids()) == sorted(kie_ids)


def test_the_whole_file_passes_the_coverage_audit() -> None:
    report = audit_catalogue(read_catalogue(CATALOGUE_PATH), _kie_ids())
    assert report.problems == []
    assert report.enabled == len(ENABLED)
    assert report.kie_present == report.kie_total == 180


def test_disabled_models_say_why_and_enabled_ones_cite_a_price_source() -> None:
    for entry in REGISTRY.models(enabled_only=False):
        if entry.enabled:
            assert entry.price is not None
            assert entry.price.source.strip()
            assert entry.price.as_of >= "2026-06-01", entry.id
        else:
            assert entry.disabled_code is not None
            assert len(entry.disabled_reason or "") > 20, entry.id


def test_every_category_offers_something_and_models_land_where_their_kind_says() -> None:
    kinds = {c.slug: set(c.kinds) for c in REGISTRY.categories()}
    assert list(kinds) == [
        "video",
        "visuals",
        "texts",
        "avatars",
        "audio",
        "enhance",
        "experimental",
    ]
    for slug, category_kinds in kinds.items():
        models = models_in_category(slug)
        assert models, slug
        assert all(m.kind in category_kinds for m in models)


def test_titles_and_descriptions_exist_in_both_languages() -> None:
    for entry in enabled_models():
        for text in (entry.title, entry.description):
            assert text.ru.strip() and text.en.strip()
            assert text.ru != text.en


# --- the documented body shape of each API family --------------------------------------------


def _market(entry_id: str, request: KieRequest) -> None:
    assert request.endpoint.path == "/api/v1/jobs/createTask"
    assert set(request.body) == {"model", "callBackUrl", "input"}
    assert request.body["model"] == entry_id
    assert isinstance(request.body["input"], dict) and request.body["input"]


def _veo(entry_id: str, request: KieRequest) -> None:
    body = request.body
    assert request.endpoint.path == "/api/v1/veo/generate"
    assert body["model"] == entry_id in ("veo3", "veo3_fast", "veo3_lite")
    assert isinstance(body["prompt"], str) and body["prompt"]
    assert body["aspect_ratio"] in ("16:9", "9:16", "Auto")
    assert "input" not in body and body["callBackUrl"] == CALLBACK


def _runway(entry_id: str, request: KieRequest) -> None:
    body = request.body
    assert request.endpoint.path == "/api/v1/runway/generate"
    assert body["duration"] in (5, 10) and body["quality"] in ("720p", "1080p")
    assert "imageUrl" in body or body["aspectRatio"] in ("16:9", "4:3", "1:1", "3:4", "9:16")
    assert isinstance(body["prompt"], str) and len(body["prompt"]) <= 1800


def _aleph(entry_id: str, request: KieRequest) -> None:
    assert request.endpoint.path == "/api/v1/aleph/generate"
    assert request.body["videoUrl"] and request.body["prompt"]


def _flux(entry_id: str, request: KieRequest) -> None:
    assert request.endpoint.path == "/api/v1/flux/kontext/generate"
    assert request.body["model"] == entry_id and request.body["prompt"]


def _gpt4o(entry_id: str, request: KieRequest) -> None:
    assert request.endpoint.path == "/api/v1/gpt4o-image/generate"
    assert request.body["size"] in ("1:1", "3:2", "2:3")
    assert request.body.get("prompt") or request.body.get("filesUrl")


def _suno(entry_id: str, request: KieRequest) -> None:
    body = request.body
    assert body["callBackUrl"] == CALLBACK  # KIE requires it for Suno
    paths = {
        "suno-generate": "/api/v1/generate",
        "suno-extend": "/api/v1/generate/extend",
        "suno-lyrics": "/api/v1/lyrics",
    }
    assert request.endpoint.path == paths[entry_id]
    if entry_id == "suno-generate":
        assert isinstance(body["customMode"], bool) and isinstance(body["instrumental"], bool)
        assert body["model"] in ("V4", "V4_5", "V4_5PLUS", "V4_5ALL", "V5", "V5_5")
    if entry_id == "suno-extend":
        assert body["audioId"]


def _chat(entry_id: str, request: KieRequest) -> None:
    body = request.body
    assert request.endpoint.synchronous and request.endpoint.path.startswith("/")
    assert "callBackUrl" not in body and body["stream"] is False
    assert isinstance(body["messages"], list) and body["messages"]
    if entry_id == "claude (messages API)":
        assert request.endpoint.path == "/claude/v1/messages"
        assert isinstance(body["max_tokens"], int) and body["max_tokens"] > 0


FAMILY_SHAPES: dict[str, Callable[[str, KieRequest], None]] = {
    "market": _market,
    "veo": _veo,
    "runway": _runway,
    "runway_aleph": _aleph,
    "flux_kontext": _flux,
    "gpt4o_image": _gpt4o,
    "suno": _suno,
    "chat": _chat,
}


def test_every_family_of_an_enabled_model_has_a_shape_check() -> None:
    assert {get_model(mid).family for mid in ENABLED} <= set(FAMILY_SHAPES)


@pytest.mark.parametrize("model_id", ENABLED)
def test_enabled_model_builds_its_familys_request_and_has_a_positive_whole_ruble_quote(
    model_id: str,
) -> None:
    entry = get_model(model_id)
    inputs: dict[str, Any] = sample_inputs(entry)
    request = build_request(model_id, inputs, CALLBACK)
    assert request.endpoint.method == "POST"
    FAMILY_SHAPES[entry.family](model_id, request)
    sent = request.body["input"] if entry.family == "market" else request.body
    assert isinstance(sent, dict)
    for name, spec in entry.inputs.items():
        if spec.has_default:
            assert name in sent, f"{model_id}: default of {name} not sent"
    kopecks = quote(model_id, inputs, SETTINGS, media_seconds=sample_media_seconds(entry))
    assert kopecks > 0
    assert kopecks % 100 == 0
