"""Texts by key from `locales/`: Russian by default, English for "en*" users.

Each locale is `<locale>.json` plus any `<feature>.<locale>.json` (one file per
feature, so features evolve apart); a key defined in two files is an error.

Placeholders are `{name}` and are filled after lookup (never an f-string inside
a text), so a translation may reorder them. `check_parity` finds a key or a
placeholder present in one locale and not the other.
"""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Literal

from shared.once import once

Locale = Literal["ru", "en"]
LOCALES: tuple[Locale, ...] = ("ru", "en")
DEFAULT_LOCALE: Locale = "ru"
LOCALES_DIR = Path(__file__).resolve().parent / "locales"


class MissingText(KeyError):
    """A key absent from a locale: a bug, caught by the parity test before deploy."""


def locale_for(language_code: str | None) -> Locale:
    """English when Telegram reports an English interface, Russian otherwise."""
    if language_code and language_code.lower().startswith("en"):
        return "en"
    return DEFAULT_LOCALE


def _placeholders(text: str) -> frozenset[str]:
    return frozenset(name for _, name, _, _ in string.Formatter().parse(text) if name)


class I18n:
    def __init__(self, texts: dict[Locale, dict[str, str]]) -> None:
        self._texts = texts

    @classmethod
    def load(cls, directory: Path = LOCALES_DIR) -> I18n:
        texts: dict[Locale, dict[str, str]] = {}
        for locale in LOCALES:
            merged: dict[str, str] = {}
            files = [directory / f"{locale}.json", *sorted(directory.glob(f"*.{locale}.json"))]
            for path in files:
                raw = json.loads(path.read_text(encoding="utf-8"))
                if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
                    raise ValueError(f"{path.name} must map keys to strings")
                if clash := merged.keys() & raw.keys():
                    raise ValueError(f"{path.name} redefines {sorted(clash)}")
                merged.update(raw)
            texts[locale] = merged
        return cls(texts)

    def get(self, key: str, locale: Locale, /, **values: object) -> str:
        try:
            text = self._texts[locale][key]
        except KeyError:
            raise MissingText(f"{locale}: {key}") from None
        return text.format(**values) if values else text

    def check_parity(self) -> list[str]:
        """Every key and placeholder that differs between the locales; empty when they agree."""
        problems: list[str] = []
        keys = set().union(*(texts.keys() for texts in self._texts.values()))
        for key in sorted(keys):
            present = {loc: t[key] for loc, t in self._texts.items() if key in t}
            problems.extend(f"{loc}: missing {key}" for loc in LOCALES if loc not in present)
            if len({_placeholders(text) for text in present.values()}) > 1:
                problems.append(f"{key}: placeholders differ between locales")
        return problems


@once
def get_i18n() -> I18n:
    return I18n.load()
