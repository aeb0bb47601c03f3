"""Typed registry errors: the bot shows `message(lang)`, the jobs code branches on the type."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Lang = Literal["ru", "en"]


class RegistryError(Exception):
    """Base of every error raised by shared.registry."""


class RegistryDataError(RegistryError):
    """The catalogue file itself is broken (unreadable, duplicate id, invalid entry)."""


class UnknownModelError(RegistryError):
    def __init__(self, model_id: str) -> None:
        super().__init__(f"unknown model: {model_id!r}")
        self.model_id = model_id

    def message(self, lang: Lang) -> str:
        if lang == "ru":
            return f"Модель «{self.model_id}» не найдена."
        return f"Model '{self.model_id}' does not exist."


class ModelDisabledError(RegistryError):
    """The model is in the catalogue but switched off; `reason` says why (for ops, in English)."""

    def __init__(self, model_id: str, reason: str) -> None:
        super().__init__(f"model {model_id!r} is disabled: {reason}")
        self.model_id = model_id
        self.reason = reason

    def message(self, lang: Lang) -> str:
        if lang == "ru":
            return f"Модель «{self.model_id}» сейчас недоступна."
        return f"Model '{self.model_id}' is not available right now."


@dataclass(frozen=True)
class InputIssue:
    """One problem with one field, already phrased for a marketer in both languages."""

    field: str
    code: str
    ru: str
    en: str

    def message(self, lang: Lang) -> str:
        return self.ru if lang == "ru" else self.en


class InputValidationError(RegistryError):
    """The inputs do not fit the model's schema; every issue names its field."""

    def __init__(self, model_id: str, issues: tuple[InputIssue, ...]) -> None:
        self.model_id = model_id
        self.issues = issues
        super().__init__("; ".join(issue.en for issue in issues))

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(issue.field for issue in self.issues)

    def message(self, lang: Lang) -> str:
        return "\n".join(issue.message(lang) for issue in self.issues)


class NotPriceableError(RegistryError):
    """No sourced price covers these inputs, so the model cannot be quoted (and must not run)."""

    def __init__(self, model_id: str, ru: str, en: str) -> None:
        super().__init__(f"{model_id}: {en}")
        self.model_id = model_id
        self.ru = ru
        self.en = en

    def message(self, lang: Lang) -> str:
        return self.ru if lang == "ru" else self.en
