"""scripts/sync_registry.py on a recorded price-feed sample proposes a diff and enables models."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from scripts import sync_registry
from shared.registry import get_model, load_registry, quote_credits
from shared.registry.loader import CATALOGUE_PATH, read_catalogue
from shared.registry.sync import parse_feed, plan_sync

FEED = Path(__file__).resolve().parents[1] / "fixtures" / "kie" / "price_feed_sample.json"


@pytest.fixture
def catalogue_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "catalogue.json"
    shutil.copy(CATALOGUE_PATH, copy)
    return copy


def test_the_sample_has_the_documented_feed_shape() -> None:
    records = parse_feed(json.loads(FEED.read_text(encoding="utf-8")))
    assert len(records) == 6
    assert records[0].anchor_model == "kling-2.6/text-to-video"
    assert records[0].credits == Decimal("120") and records[0].unit == "per video"


def test_dry_run_prints_a_readable_diff_and_changes_nothing(
    catalogue_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = catalogue_copy.read_bytes()
    code = sync_registry.main(
        [str(FEED), "--catalogue", str(catalogue_copy), "--as-of", "2026-11-26"]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "+ omnihuman-1-5/subject-detection: enabled at 2 credits per request" in out
    assert "~ kling-2.6/text-to-video: [with audio-5.0s] 110 → 120 credits per video" in out
    assert "~ kling/ai-avatar-standard: [720p] 8 → 9 credits per second" in out  # via the old id
    assert "? brand-new/model: not in the registry" in out
    assert "2 rows unchanged" in out
    assert catalogue_copy.read_bytes() == before


def test_write_enables_the_priced_model_and_updates_prices(catalogue_copy: Path) -> None:
    code = sync_registry.main(
        [str(FEED), "--catalogue", str(catalogue_copy), "--as-of", "2026-11-26", "--write"]
    )
    assert code == 0
    registry = load_registry(catalogue_copy)
    enabled = get_model("omnihuman-1-5/subject-detection", registry=registry)
    assert enabled.enabled and enabled.disabled_reason is None
    assert enabled.price is not None and "price feed" in enabled.price.source
    image = {"image_url": "https://files.example.com/person.png"}
    assert quote_credits("omnihuman-1-5/subject-detection", image, registry=registry) == 2
    with_audio = {"prompt": "hi", "duration": "5", "sound": True}
    assert quote_credits("kling-2.6/text-to-video", with_audio, registry=registry) == 120
    # the row the feed repeated unchanged keeps its price
    silent = {**with_audio, "sound": False}
    assert quote_credits("kling-2.6/text-to-video", silent, registry=registry) == 55
    # the real catalogue is untouched
    assert quote_credits("kling-2.6/text-to-video", with_audio) == 110


def test_models_disabled_for_other_reasons_stay_disabled() -> None:
    feed = {
        "data": {
            "records": [
                {
                    "modelDescription": "Sora 2, text-to-video",
                    "creditPrice": "20",
                    "creditUnit": "per video",
                    "anchor": "https://kie.ai/sora-2?model=sora-2-text-to-video",
                },
                {
                    "modelDescription": "Wan 2.6 flash, 720p",
                    "creditPrice": "5",
                    "creditUnit": "per second",
                    "anchor": "https://kie.ai/wan?model=wan/2-6-flash-video-to-video",
                },
                {
                    "modelDescription": "Wan 2.6 flash, 1080p",
                    "creditPrice": "8",
                    "creditUnit": "per second",
                    "anchor": "https://kie.ai/wan?model=wan/2-6-flash-video-to-video",
                },
            ]
        }
    }
    changes, _, updated = plan_sync(
        read_catalogue(CATALOGUE_PATH), parse_feed(feed), label="test feed", as_of="2026-11-26"
    )
    kinds = {c.model_id: c.kind for c in changes}
    assert kinds == {
        "sora-2-text-to-video": "stays_disabled",
        "wan/2-6-flash-video-to-video": "review",
    }
    by_id = {m["id"]: m for m in updated["models"]}
    assert by_id["sora-2-text-to-video"]["enabled"] is False
    assert by_id["wan/2-6-flash-video-to-video"]["enabled"] is False


def test_a_page_that_is_not_the_feed_is_refused() -> None:
    with pytest.raises(ValueError, match="price-feed"):
        parse_feed({"unexpected": True})
