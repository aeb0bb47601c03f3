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
        for path in [LOCALES_DIR / f"{locale}.json", *LOCALES_DIR.glob(f"*.{locale}.json")]:
            texts = json.loads(path.read_text(encoding="utf-8"))
            assert texts, path.name
            assert all(isinstance(v, str) and v.strip() for v in texts.values()), path.name


def test_feature_files_merge_and_a_key_defined_twice_is_refused(tmp_path: Path) -> None:
    for locale in LOCALES:
        (tmp_path / f"{locale}.json").write_text(json.dumps({"a": locale}), encoding="utf-8")
        (tmp_path / f"pay.{locale}.json").write_text(json.dumps({"b": "x"}), encoding="utf-8")
    assert I18n.load(tmp_path).get("b", "en") == "x"
    (tmp_path / "more.ru.json").write_text(json.dumps({"a": "again"}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"more\.ru\.json redefines \['a'\]"):
        I18n.load(tmp_path)


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
