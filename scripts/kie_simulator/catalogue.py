"""What the registry says the simulator must speak: paths, families, models, prices, media kinds.

Nothing here names a model id: routes come from the registry's families and the endpoints of its
enabled models, so a model enabled tomorrow is served without touching the simulator.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from shared.registry import (
    ModelEntry,
    Registry,
    RegistryError,
    enabled_models,
    load_registry,
    quote_credits,
)

MediaKind = Literal["video", "image", "audio", "text"]

VIDEO_KINDS = frozenset({"t2v", "i2v", "v2v", "lip_sync", "avatar", "video_extend"})
AUDIO_KINDS = frozenset({"tts", "music", "sfx", "audio_isolation"})
TEXT_KINDS = frozenset({"text", "stt"})
IMAGE_KINDS = frozenset({"t2i", "i2i", "bg_remove", "tool"})

# Handlers the simulator implements (families.py); "suno_lyrics" is Suno's text member, which
# has its own query path and result shape.
HANDLERS = frozenset(
    {
        "market",
        "veo",
        "runway",
        "runway_aleph",
        "flux_kontext",
        "gpt4o_image",
        "midjourney",
        "suno",
        "suno_lyrics",
        "chat",
    }
)


class UnsupportedFamilyError(RuntimeError):
    pass


@dataclass(frozen=True)
class Route:
    family: str
    handler: str
    create_path: str
    status_path: str | None
    synchronous: bool
    callback_field: str | None
    body_style: str
    entries: tuple[ModelEntry, ...]


def handler_for(entry: ModelEntry) -> str:
    if entry.family == "suno" and entry.kind in TEXT_KINDS:
        return "suno_lyrics"
    return entry.family


def media_kind(entry: ModelEntry | None, handler: str) -> MediaKind:
    if entry is None:
        defaults: dict[str, MediaKind] = {
            "veo": "video",
            "runway": "video",
            "runway_aleph": "video",
            "suno": "audio",
            "suno_lyrics": "text",
            "chat": "text",
        }
        return defaults.get(handler, "image")
    if entry.kind in VIDEO_KINDS:
        return "video"
    if entry.kind in AUDIO_KINDS:
        return "audio"
    if entry.kind in TEXT_KINDS:
        return "text"
    if entry.kind in IMAGE_KINDS:
        return "image"
    accepts = [a for spec in entry.inputs.values() for a in (spec.accept or ())]
    if any(a.startswith("video/") for a in accepts):
        return "video"
    if any(a.startswith("image/") for a in accepts):
        return "image"
    # An upscale that takes no file works on an earlier generation by task id: a video.
    return "video"


class Catalogue:
    def __init__(self, registry: Registry | None = None) -> None:
        self.registry = registry if registry is not None else load_registry()
        self.create_routes: dict[str, Route] = {}
        self.status_paths: dict[str, set[str]] = {}
        families: Mapping[str, Any] = self.registry.raw.get("families", {})
        grouped: dict[str, list[ModelEntry]] = {}
        for entry in enabled_models(registry=self.registry):
            family = self.registry.family(entry.family)
            path = entry.endpoint or family.path
            grouped.setdefault(path, []).append(entry)
        for path, entries in grouped.items():
            self._add(path, entries[0].family, handler_for(entries[0]), tuple(entries))
        for name in families:
            family = self.registry.family(name)
            if family.path and family.path not in self.create_routes and name in HANDLERS:
                # A family with no enabled model (Midjourney): still answered, default price.
                self._add(family.path, name, name, ())

    def _add(
        self, path: str, family_name: str, handler: str, entries: tuple[ModelEntry, ...]
    ) -> None:
        if handler not in HANDLERS:
            raise UnsupportedFamilyError(
                f"the registry uses family {family_name!r} at {path}, which the simulator lacks"
            )
        family = self.registry.family(family_name)
        status_path = (entries[0].status_path if entries else None) or family.status_path
        route = Route(
            family=family_name,
            handler=handler,
            create_path=path,
            status_path=status_path,
            synchronous=family.synchronous,
            callback_field=family.callback_field,
            body_style=family.body,
            entries=entries,
        )
        self.create_routes[path] = route
        if status_path:
            self.status_paths.setdefault(status_path, set()).add(handler)

    def families(self) -> frozenset[str]:
        return frozenset(route.family for route in self.create_routes.values())

    def model_for(self, route: Route, body: Mapping[str, Any]) -> ModelEntry | None:
        if route.body_style == "market":
            model_id = body.get("model")
            if isinstance(model_id, str) and model_id in self.registry:
                return self.registry.model(model_id)
            return None
        for entry in route.entries:
            if all(body.get(key) == value for key, value in entry.fixed.items()):
                return entry
        return None

    def inputs_for(
        self, route: Route, entry: ModelEntry | None, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        if route.body_style == "market":
            raw = body.get("input")
            return dict(raw) if isinstance(raw, Mapping) else {}
        dropped = {route.callback_field, "stream", *(entry.fixed if entry else ())}
        return {key: value for key, value in body.items() if key not in dropped}

    def credits_for(
        self, entry: ModelEntry | None, inputs: Mapping[str, Any], default: Decimal
    ) -> Decimal:
        """The registry's quote when it prices the request, else the configured default."""
        if entry is None or not entry.enabled:
            return default
        try:
            return quote_credits(entry.id, inputs, registry=self.registry)
        except (RegistryError, ValueError, TypeError):
            return default
