from __future__ import annotations

import pytest

from shared.domain.ledger import InvalidAmount, InvalidRef, check_amount, check_ref
from shared.domain.money import MAX_AMOUNT_KOPECKS, format_rubles


@pytest.mark.parametrize(
    ("kopecks", "text"),
    [(4800, "48 ₽"), (12345, "123,45 ₽"), (123456700, "1\u202f234\u202f567 ₽"), (-50, "−0,50 ₽")],
)
def test_rubles_are_rendered_from_kopecks(kopecks: int, text: str) -> None:
    assert format_rubles(kopecks) == text


@pytest.mark.parametrize("amount", [0, -1, 1.0, True, "100", None, MAX_AMOUNT_KOPECKS + 1])
def test_only_positive_whole_kopecks_are_amounts(amount: object) -> None:
    with pytest.raises(InvalidAmount):
        check_amount(amount)


@pytest.mark.parametrize("ref", ["", " ", "a b", "ключ", "x" * 201, None, 5])
def test_refs_are_short_printable_ascii(ref: object) -> None:
    with pytest.raises(InvalidRef):
        check_ref(ref)


def test_a_ref_at_the_limit_is_accepted() -> None:
    assert check_ref("job:" + "x" * 196) == "job:" + "x" * 196


def test_stars_cover_the_amount_in_whole_stars_without_floats() -> None:
    from shared.payments.service import stars_for

    assert stars_for(100_00, 1_30) == 77  # 100 ₽ at 1.30 ₽ a Star: 76.9 → 77
    assert stars_for(1_30 * 77, 1_30) == 77  # exact: no extra Star
    assert stars_for(1, 1_30) == 1
    # Past 2**53 a float quotient rounds; integer arithmetic does not.
    assert stars_for(10**17 + 1, 1) == 10**17 + 1
