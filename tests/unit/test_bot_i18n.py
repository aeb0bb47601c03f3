"""Locale files: the same keys and placeholders in ru and en; language choice; lookups."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.bot.i18n import LOCALES, LOCALES_DIR, I18n, MissingText, locale_for


def test_every_key_and_placeholder_exists_in_both_locales() -> None:
    assert I18n.load().check_parity() == []


def test_locale_files_are_flat_maps_of_non_empty_strings() -> None:
    for locale in LOCALES:
        texts = json.loads((LOCALES_DIR / f"{locale}.json").read_text(encoding="utf-8"))
        assert texts, locale
        assert all(isinstance(v, str) and v.strip() for v in texts.values()), locale


def test_parity_reports_a_missing_key_and_differing_placeholders(tmp_path: Path) -> None:
    (tmp_path / "ru.json").write_text(
        json.dumps({"a": "А {name}", "b": "Б"}, ensure_ascii=False), encoding="utf-8"
    )
    (tmp_path / "en.json").write_text(json.dumps({"a": "A {nam}"}), encoding="utf-8")
    assert I18n.load(tmp_path).check_parity() == [
        "a: placeholders differ between locales",
        "en: missing b",
    ]


@pytest.mark.parametrize(
    ("language_code", "expected"),
    [(None, "ru"), ("", "ru"), ("ru", "ru"), ("uk", "ru"), ("en", "en"), ("en-GB", "en")],
)
def test_english_only_for_english_interfaces(language_code: str | None, expected: str) -> None:
    assert locale_for(language_code) == expected


def test_values_are_filled_after_lookup() -> None:
    i18n = I18n.load()
    assert "Анна" in i18n.get("start.greeting", "ru", name="Анна")
    assert i18n.get("start.greeting", "en", name="Ann").startswith("Hello, Ann")


def test_a_missing_key_is_an_error() -> None:
    with pytest.raises(MissingText):
        I18n.load().get("no.such.key", "ru")
