"""scripts/verify_registry_coverage.py passes on the real registry and fails on broken copies."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from scripts import verify_registry_coverage
from shared.registry.loader import CATALOGUE_PATH

REPO = CATALOGUE_PATH.parents[1]
Breakage = Callable[[dict[str, Any]], None]


def _model(doc: dict[str, Any], model_id: str) -> dict[str, Any]:
    return next(m for m in doc["models"] if m["id"] == model_id)


def _drop_price(doc: dict[str, Any]) -> None:
    _model(doc, "z-image")["price"] = None


def _duplicate(doc: dict[str, Any]) -> None:
    doc["models"].append(json.loads(json.dumps(_model(doc, "z-image"))))


def _remove(doc: dict[str, Any]) -> None:
    doc["models"] = [m for m in doc["models"] if m["id"] != "midjourney"]


def _unreachable(doc: dict[str, Any]) -> None:
    _model(doc, "z-image")["category"] = "audio"


def _no_schema(doc: dict[str, Any]) -> None:
    _model(doc, "z-image")["inputs"] = {}


def _no_title(doc: dict[str, Any]) -> None:
    _model(doc, "z-image")["title"]["ru"] = ""


def _unsourced(doc: dict[str, Any]) -> None:
    _model(doc, "z-image")["price"]["source"] = ""


def _silent_disable(doc: dict[str, Any]) -> None:
    entry = _model(doc, "z-image")
    entry.update(enabled=False, disabled_reason=None, disabled_code=None)


def _unpriceable_default(doc: dict[str, Any]) -> None:
    rows = _model(doc, "kling-2.6/text-to-video")["price"]["rows"]
    rows[:] = [r for r in rows if r["when"].get("duration") != "5"]


@pytest.fixture
def run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Callable[[Breakage], tuple[int, str]]:
    def broken(breakage: Breakage) -> tuple[int, str]:
        doc = json.loads(CATALOGUE_PATH.read_text(encoding="utf-8"))
        breakage(doc)
        path = tmp_path / "catalogue.json"
        path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
        kie_copy = REPO / doc["kie_catalogue_copy"]
        code = verify_registry_coverage.main(
            ["--catalogue", str(path), "--kie-copy", str(kie_copy)]
        )
        return code, capsys.readouterr().out

    return broken


def test_the_real_registry_passes_and_reports_its_numbers() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scripts.verify_registry_coverage"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout
    assert "180/180 ids present" in result.stdout
    assert "per category (enabled/total):" in result.stdout
    assert "per kind (enabled/total):" in result.stdout
    assert "disabled, by reason:" in result.stdout
    assert result.stdout.rstrip().endswith("OK")


@pytest.mark.parametrize(
    ("breakage", "needle"),
    [
        (_drop_price, "enabled without a price"),
        (_duplicate, "z-image: id appears more than once"),
        (_remove, "midjourney: in KIE's documented catalogue but not in the registry"),
        (_unreachable, "not reachable from category"),
        (_no_schema, "enabled without an input schema"),
        (_no_title, "title.ru"),
        (_unsourced, "source"),
        (_silent_disable, "disabled without a reason"),
        (_unpriceable_default, "kling-2.6/text-to-video: sample request cannot be built or quoted"),
    ],
)
def test_a_broken_copy_fails(
    run: Callable[[Breakage], tuple[int, str]], breakage: Breakage, needle: str
) -> None:
    code, out = run(breakage)
    assert code == 1
    assert "PROBLEMS" in out
    assert needle in out


def test_an_unreadable_catalogue_fails(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.json"
    path.write_text("{not json", encoding="utf-8")
    assert verify_registry_coverage.main(["--catalogue", str(path)]) == 1
