"""Quotes: sourced credits × our credit cost × markup, rounded up to whole rubles, never guessed."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest

from shared.config import load_settings
from shared.registry import NotPriceableError, quote, quote_credits

IMAGE = "https://files.example.com/face.png"
AUDIO = "https://files.example.com/voice.mp3"
PROMPT = "A red sneaker on a white background"


@dataclass(frozen=True)
class Pricing:
    credit_price_kopecks: Decimal = Decimal("40")
    price_markup: Decimal = Decimal("1.5")


def test_a_flat_price_is_credits_times_rate_times_markup_rounded_up_to_rubles() -> None:
    # z-image: 0.8 credits × 40 × 1.5 = 48 kopecks → 1 ruble
    assert quote("z-image", {"prompt": PROMPT}, Pricing()) == 100
    # kling 2.6, 5 s, no sound: 55 credits × 40 × 1.5 = 3300 kopecks exactly
    inputs = {"prompt": PROMPT, "duration": "5", "sound": False}
    assert quote("kling-2.6/text-to-video", inputs, Pricing()) == 3300
    # 3301 kopecks would round up to the next ruble
    assert quote("kling-2.6/text-to-video", inputs, Pricing(Decimal("40.01"))) == 3400


def test_settings_are_accepted_as_the_pricing_source() -> None:
    settings = load_settings(credit_price_kopecks=Decimal("50"), price_markup=Decimal("2"))
    assert quote("kling-2.6/text-to-video", {"prompt": PROMPT}, settings) == 55 * 50 * 2


@pytest.mark.parametrize(
    ("inputs", "credits"),
    [
        ({"duration": "5", "sound": False}, 55),
        ({"duration": "5", "sound": True}, 110),
        ({"duration": "10", "sound": False}, 110),
        ({"duration": "10", "sound": True}, 220),
    ],
)
def test_an_option_combination_picks_its_own_row(inputs: dict[str, object], credits: int) -> None:
    assert quote_credits("kling-2.6/text-to-video", {"prompt": PROMPT, **inputs}) == credits


def test_per_second_prices_multiply_by_the_requested_duration() -> None:
    base = {"prompt": PROMPT, "aspect_ratio": "16:9"}
    assert (
        quote_credits("minimax-h3/text-to-video", {**base, "duration": 4, "resolution": "2K"}) == 52
    )
    assert (
        quote_credits("minimax-h3/text-to-video", {**base, "duration": 10, "resolution": "768P"})
        == 80
    )


def test_reference_video_inputs_change_the_seedance_rate() -> None:
    without = quote_credits("bytedance/seedance-2", {"prompt": PROMPT, "duration": 5})
    with_video = quote_credits(
        "bytedance/seedance-2",
        {"prompt": PROMPT, "duration": 5, "reference_video_urls": ["https://f.example.com/a.mp4"]},
    )
    # 41 and 25 credits per second at 720p
    assert (without, with_video) == (Decimal(205), Decimal(125))


def test_per_image_prices_multiply_by_the_number_of_images() -> None:
    one = quote_credits("ideogram/character", _ideogram(num_images="1"))
    four = quote_credits("ideogram/character", _ideogram(num_images="4"))
    assert (one, four) == (Decimal(18), Decimal(72))


def _ideogram(**extra: object) -> dict[str, object]:
    return {"prompt": PROMPT, "reference_image_urls": [IMAGE], **extra}


def test_input_image_surcharges_are_added_after_the_free_ones() -> None:
    one = quote_credits("seedream/5-pro-image-to-image", {"prompt": PROMPT, "image_urls": [IMAGE]})
    three = quote_credits(
        "seedream/5-pro-image-to-image", {"prompt": PROMPT, "image_urls": [IMAGE] * 3}
    )
    assert three - one == Decimal("1.0")  # two extra images at 0.5, the first is free


def test_tts_is_priced_per_thousand_characters() -> None:
    assert quote_credits("elevenlabs/text-to-speech-turbo-2-5", {"text": "a" * 1000}) == 6
    assert quote_credits("elevenlabs/text-to-speech-turbo-2-5", {"text": "a" * 250}) == Decimal(
        "1.5"
    )


def test_chat_is_quoted_for_the_whole_output_cap_plus_the_input_bytes() -> None:
    inputs = {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "привет"}]}
    # 12 UTF-8 bytes × 55 + 2048 output tokens × 285, per million
    expected = (Decimal(12) * 55 + Decimal(2048) * 285) / 1_000_000
    assert quote_credits("claude (messages API)", inputs) == expected
    smaller = quote_credits("claude (messages API)", {**inputs, "max_tokens": 100})
    assert smaller < expected


def test_an_avatar_billed_by_audio_length_needs_that_length() -> None:
    inputs = {"prompt": PROMPT, "image_url": IMAGE, "audio_url": AUDIO}
    with pytest.raises(NotPriceableError) as error:
        quote("kling/ai-avatar-standard", inputs, Pricing())
    assert "audio_url" in error.value.message("en") and "audio_url" in error.value.message("ru")
    # 8 credits per second; 12.2 s is billed as 13 s
    assert (
        quote_credits("kling/ai-avatar-standard", inputs, media_seconds={"audio_url": 12.2}) == 104
    )


def test_a_documented_maximum_length_bounds_the_quote_when_the_length_is_unknown() -> None:
    inputs = {"prompt": PROMPT, "image_url": IMAGE, "audio_url": AUDIO, "resolution": "720p"}
    assert quote_credits("infinitalk/from-audio", inputs) == 12 * 15
    assert (
        quote_credits("infinitalk/from-audio", inputs, media_seconds={"audio_url": 40}) == 12 * 15
    )
    assert quote_credits("infinitalk/from-audio", inputs, media_seconds={"audio_url": 3}) == 12 * 3


def test_an_option_without_a_sourced_price_is_not_priceable() -> None:
    # Grok Imagine Video 1.5 offers 1080p, but the feed prices only 480p and 720p.
    inputs = {"prompt": PROMPT, "resolution": "1080p", "duration": 6}
    with pytest.raises(NotPriceableError):
        quote("grok-imagine-video-1-5-preview", inputs, Pricing())
    assert quote_credits("grok-imagine-video-1-5-preview", {**inputs, "resolution": "720p"}) == 27


def test_an_option_left_to_kie_is_quoted_at_its_highest_row() -> None:
    # GPT Image 2 has no documented default resolution: the hold covers 4K (16 credits).
    assert quote_credits("gpt-image-2-text-to-image", {"prompt": PROMPT}) == 16
    assert quote_credits("gpt-image-2-text-to-image", {"prompt": PROMPT, "resolution": "1K"}) == 6


def test_veo_prices_text_and_image_modes_from_their_own_rows() -> None:
    text = quote_credits("veo3_fast", {"prompt": PROMPT, "resolution": "1080p"})
    image = quote_credits("veo3_fast", {"prompt": PROMPT, "resolution": "4k", "imageUrls": [IMAGE]})
    assert (text, image) == (Decimal(65), Decimal(180))
