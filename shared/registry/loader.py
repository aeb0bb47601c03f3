"""Reads registry/catalogue.json once per process and validates entries only when they are used.

A cold function start pays for one json.load and an index; pydantic validates an entry the first
time it is asked for, and the result is cached for the warm invocations that follow.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.once import once
from shared.registry.errors import RegistryDataError, UnknownModelError

if TYPE_CHECKING:
    from shared.registry.schema import Category, Family, ModelEntry

CATALOGUE_PATH = Path(__file__).resolve().parents[2] / "registry" / "catalogue.json"


class Registry:
    """The catalogue as loaded: raw JSON plus an id index; typed entries on demand."""

    def __init__(self, raw: Mapping[str, Any], source: Path) -> None:
        self.source = source
        self.raw = raw
        models = raw.get("models")
        if not isinstance(models, list):
            raise RegistryDataError(f"{source}: 'models' must be a list")
        self._index: dict[str, Mapping[str, Any]] = {}
        for item in models:
            model_id = item.get("id") if isinstance(item, dict) else None
            if not isinstance(model_id, str):
                raise RegistryDataError(f"{source}: an entry has no string 'id'")
            if model_id in self._index:
                raise RegistryDataError(f"{source}: duplicate model id {model_id!r}")
            self._index[model_id] = item
        self._entries: dict[str, ModelEntry] = {}

    def __contains__(self, model_id: object) -> bool:
        return model_id in self._index

    def __len__(self) -> int:
        return len(self._index)

    @property
    def validated_count(self) -> int:
        """How many entries pydantic has built so far (the benchmark and tests watch this)."""
        return len(self._entries)

    def ids(self) -> tuple[str, ...]:
        return tuple(self._index)

    def enabled_ids(self) -> tuple[str, ...]:
        return tuple(mid for mid, item in self._index.items() if item.get("enabled") is True)

    def model(self, model_id: str) -> ModelEntry:
        entry = self._entries.get(model_id)
        if entry is not None:
            return entry
        item = self._index.get(model_id)
        if item is None:
            raise UnknownModelError(model_id)
        from pydantic import ValidationError

        from shared.registry.schema import ModelEntry

        try:
            entry = ModelEntry.model_validate(item)
        except ValidationError as error:
            raise RegistryDataError(
                f"{self.source}: entry {model_id!r} is invalid: {error}"
            ) from None
        self._entries[model_id] = entry
        return entry

    def models(self, *, enabled_only: bool = True) -> Iterator[ModelEntry]:
        for model_id in self.enabled_ids() if enabled_only else self.ids():
            yield self.model(model_id)

    def categories(self) -> tuple[Category, ...]:
        from shared.registry.schema import Category

        return tuple(Category.model_validate(c) for c in self.raw.get("categories", ()))

    def family(self, name: str) -> Family:
        from shared.registry.schema import Family

        families = self.raw.get("families", {})
        if name not in families:
            raise RegistryDataError(f"{self.source}: unknown family {name!r}")
        return Family.model_validate(families[name])


def read_catalogue(path: Path) -> dict[str, Any]:
    try:
        with path.open(encoding="utf-8") as handle:
            raw = json.load(handle)
    except (OSError, json.JSONDecodeError) as error:
        raise RegistryDataError(f"cannot read {path}: {error}") from None
    if not isinstance(raw, dict):
        raise RegistryDataError(f"{path}: the catalogue must be a JSON object")
    return raw


def load_registry(path: Path | None = None) -> Registry:
    """The registry at `path`; the default catalogue is read once per process."""
    if path is None:
        return _default_registry()
    return Registry(read_catalogue(path), path)


@once
def _default_registry() -> Registry:
    return Registry(read_catalogue(CATALOGUE_PATH), CATALOGUE_PATH)
