"""Bad inputs are refused before any money moves, with the field named in Russian and English."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.registry import (
    InputValidationError,
    ModelDisabledError,
    UnknownModelError,
    build_request,
    quote,
    validate_inputs,
)
from shared.registry.errors import InputIssue

IMAGE = "https://files.example.com/product.png"
PROMPT = "A red sneaker on a white background"


class Pricing:
    credit_price_kopecks = Decimal("40")
    price_markup = Decimal("1.5")


def _issue(error: pytest.ExceptionInfo[InputValidationError], field: str) -> InputIssue:
    issues = [i for i in error.value.issues if i.field == field]
    assert issues, f"no issue names {field!r}: {error.value.issues}"
    return issues[0]


def _assert_bilingual(issue: InputIssue, field: str) -> None:
    assert f"«{field}»" in issue.ru
    assert f"'{field}'" in issue.en
    assert issue.ru != issue.en
    assert any("а" <= ch <= "я" for ch in issue.ru.lower())


def test_unknown_model_is_a_typed_error_with_both_languages() -> None:
    with pytest.raises(UnknownModelError) as error:
        quote("no-such/model", {"prompt": PROMPT}, Pricing())
    assert "no-such/model" in error.value.message("ru")
    assert "no-such/model" in error.value.message("en")


def test_a_disabled_model_can_be_neither_quoted_nor_built() -> None:
    with pytest.raises(ModelDisabledError) as error:
        quote("sora-2-text-to-video", {"prompt": PROMPT}, Pricing())
    assert "retired" in error.value.reason
    with pytest.raises(ModelDisabledError):
        build_request("sora-2-text-to-video", {"prompt": PROMPT}, "https://cb.example.com")


@pytest.mark.parametrize(
    ("model_id", "inputs", "field", "code"),
    [
        ("kling-2.6/text-to-video", {}, "prompt", "required"),
        ("kling/v2-1-standard", {"prompt": PROMPT}, "image_url", "required"),
        (
            "kling-2.6/text-to-video",
            {"prompt": PROMPT, "duration": "7", "aspect_ratio": "1:1", "sound": False},
            "duration",
            "enum",
        ),
        ("google/nano-banana", {"prompt": PROMPT, "aspect_ratio": "7:5"}, "aspect_ratio", "enum"),
        (
            "minimax-h3/text-to-video",
            {"prompt": PROMPT, "aspect_ratio": "16:9", "duration": 3},
            "duration",
            "enum",
        ),
        ("happyhorse/text-to-video", {"prompt": PROMPT, "duration": 20}, "duration", "max"),
        ("veo3_fast", {"prompt": PROMPT, "seeds": 5}, "seeds", "min"),
        (
            "kling-2.6/image-to-video",
            {"prompt": PROMPT, "image_urls": [IMAGE, IMAGE], "sound": False},
            "image_urls",
            "max_items",
        ),
        (
            "nano-banana-pro",
            {"prompt": PROMPT, "image_input": [IMAGE] * 9},
            "image_input",
            "max_items",
        ),
        (
            "kling/v2-1-standard",
            {"prompt": PROMPT, "image_url": "https://files.example.com/clip.mp4"},
            "image_url",
            "file_type",
        ),
        (
            "recraft/remove-background",
            {"image": "https://files.example.com/voice.mp3"},
            "image",
            "file_type",
        ),
        ("kling/v2-1-standard", {"prompt": PROMPT, "image_url": "file.png"}, "image_url", "file"),
        ("kling-2.6/text-to-video", {"prompt": "x" * 1001}, "prompt", "max_length"),
        ("z-image", {"prompt": "x" * 1001}, "prompt", "max_length"),
        ("google/nano-banana", {"prompt": PROMPT, "colour": "red"}, "colour", "unknown"),
        ("google/nano-banana", {"prompt": 42}, "prompt", "type"),
        (
            "kling/v2-1-standard",
            {"prompt": PROMPT, "image_url": IMAGE, "cfg_scale": "0.5"},
            "cfg_scale",
            "type",
        ),
        (
            "minimax-h3/text-to-video",
            {"prompt": PROMPT, "aspect_ratio": "16:9", "duration": 6.5},
            "duration",
            "type",
        ),
        ("runway", {"prompt": PROMPT, "aspectRatio": "2:1"}, "aspectRatio", "enum"),
        ("suno-generate", {"prompt": PROMPT, "customMode": True}, "style", "required"),
        (
            "claude (messages API)",
            {"messages": [{"role": "system", "content": "hi"}]},
            "messages",
            "message",
        ),
        (
            "claude (messages API)",
            {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 10**6},
            "max_tokens",
            "max",
        ),
    ],
)
def test_bad_input_names_the_field_in_both_languages(
    model_id: str, inputs: dict[str, object], field: str, code: str
) -> None:
    with pytest.raises(InputValidationError) as error:
        validate_inputs(model_id, inputs)
    issue = _issue(error, field)
    assert issue.code == code
    _assert_bilingual(issue, field)
    assert field in error.value.message("ru") and field in error.value.message("en")
    assert field in error.value.fields


def test_quote_and_build_validate_first() -> None:
    with pytest.raises(InputValidationError):
        quote("z-image", {"prompt": ""}, Pricing())
    with pytest.raises(InputValidationError):
        build_request("z-image", {}, "https://cb.example.com")


def test_several_bad_fields_are_all_reported_at_once() -> None:
    with pytest.raises(InputValidationError) as error:
        validate_inputs("kling-2.6/image-to-video", {"duration": "3", "sound": "yes"})
    assert {"prompt", "image_urls", "duration", "sound"} <= set(error.value.fields)


def test_a_long_prompt_inside_the_limit_and_files_without_extension_pass() -> None:
    values = validate_inputs(
        "kling/v2-1-standard",
        {"prompt": "x" * 5000, "image_url": "https://api.telegram.org/file/bot1/photos/file_7"},
    )
    assert values["duration"] == "5"  # the schema default is filled in
    assert values["cfg_scale"] == 0.5


def test_suno_custom_mode_needs_style_and_title_but_simple_mode_does_not() -> None:
    simple = validate_inputs("suno-generate", {"prompt": PROMPT})
    assert simple["customMode"] is False and "style" not in simple
    custom = {"prompt": PROMPT, "customMode": True, "style": "synthwave", "title": "Promo"}
    assert validate_inputs("suno-generate", custom)["title"] == "Promo"


def test_usage_of_a_model_disabled_after_its_quote_is_still_priced() -> None:
    """A chat job quoted while its model was enabled finishes after a sync disabled it: the
    work is done, and its cost comes from the usage KIE reported."""
    import copy
    import json

    from shared.registry import usage_credits
    from shared.registry.loader import CATALOGUE_PATH, Registry
    from shared.registry.samples import sample_inputs

    raw = json.loads(CATALOGUE_PATH.read_text(encoding="utf-8"))
    enabled = Registry(raw, CATALOGUE_PATH)
    chat = next(m for m in enabled.models() if m.price and m.price.unit == "per_million_tokens")
    inputs = sample_inputs(chat)
    credits = usage_credits(chat.id, inputs, 1_000, 2_000, registry=enabled)
    assert credits > 0
    after_sync = copy.deepcopy(raw)
    for item in after_sync["models"]:
        if item["id"] == chat.id:
            item.update(enabled=False, disabled_reason="retired by KIE", disabled_code="retired")
    disabled = Registry(after_sync, CATALOGUE_PATH)
    with pytest.raises(ModelDisabledError):
        quote(chat.id, inputs, Pricing(), registry=disabled)
    assert usage_credits(chat.id, inputs, 1_000, 2_000, registry=disabled) == credits
