"""Loading is cheap: entries are validated when asked for, once, and broken files fail loudly."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from shared.registry import RegistryDataError, UnknownModelError, load_registry, loader
from shared.registry.loader import CATALOGUE_PATH
from tests.threads import all_at_once


def test_loading_validates_no_entry_until_one_is_asked_for() -> None:
    registry = load_registry(CATALOGUE_PATH)
    assert len(registry) == 180
    assert registry.validated_count == 0
    first = registry.model("z-image")
    assert registry.validated_count == 1
    assert registry.model("z-image") is first  # cached for warm invocations


def test_the_default_registry_is_read_once_per_process() -> None:
    assert load_registry() is load_registry()


def test_unknown_ids_are_a_typed_error() -> None:
    with pytest.raises(UnknownModelError):
        load_registry().model("nope")


def test_a_duplicate_id_is_refused_at_load(tmp_path: Path) -> None:
    doc = json.loads(CATALOGUE_PATH.read_text(encoding="utf-8"))
    doc["models"].append(doc["models"][0])
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(RegistryDataError, match="duplicate"):
        load_registry(path)


def test_an_invalid_entry_fails_when_used_with_its_id(tmp_path: Path) -> None:
    doc = json.loads(CATALOGUE_PATH.read_text(encoding="utf-8"))
    doc["models"][0]["eta_s"] = -1
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    registry = load_registry(path)
    with pytest.raises(RegistryDataError, match=doc["models"][0]["id"]):
        registry.model(doc["models"][0]["id"])


def test_a_burst_of_first_calls_reads_the_catalogue_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh instance's first requests arrive together, one per thread."""
    loader._default_registry.cache_clear()
    reads: list[Path] = []
    real_read = loader.read_catalogue

    def counted(path: Path) -> dict[str, Any]:
        reads.append(path)
        time.sleep(0.05)  # a slow disk: every thread is in before the first read ends
        return real_read(path)

    monkeypatch.setattr(loader, "read_catalogue", counted)
    registries = all_at_once(load_registry)
    assert reads == [CATALOGUE_PATH]
    assert all(r is registries[0] for r in registries)
