"""Deep-link payloads of /start: ours become typed values, anything else is ignored."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.bot.payloads import (
    PAYLOAD_MAX,
    Promo,
    Referral,
    StartPayload,
    Template,
    parse_start_payload,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ref_12345", Referral(12345)),
        ("promo_SPRING-25", Promo("SPRING-25")),
        ("promo_a_b", Promo("a_b")),
        ("tpl_banner_1x1", Template("banner_1x1")),
    ],
)
def test_our_payloads_parse(text: str, expected: StartPayload) -> None:
    assert parse_start_payload(text) == expected
    assert expected.raw() == text


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "ref_",
        "ref_abc",
        "ref_0",
        "ref_-5",
        "ref_١٢٣",  # Unicode digits are not Telegram's alphabet
        f"ref_{2**63}",
        "promo_",
        "tpl_",
        "promo_with space",
        "promo_кириллица",
        "unknown_1",
        "ref12345",
        "promo_" + "x" * (PAYLOAD_MAX - len("promo_") + 1),
    ],
)
def test_anything_else_is_not_ours(text: str | None) -> None:
    assert parse_start_payload(text) is None


def test_the_longest_allowed_payload_parses() -> None:
    text = "tpl_" + "x" * (PAYLOAD_MAX - len("tpl_"))
    assert parse_start_payload(text) == Template("x" * (PAYLOAD_MAX - 4))


@given(st.text(max_size=80))
def test_parsing_never_raises_and_round_trips(text: str) -> None:
    payload = parse_start_payload(text)
    if payload is not None:
        assert parse_start_payload(payload.raw()) == payload
        assert len(payload.raw()) <= PAYLOAD_MAX
