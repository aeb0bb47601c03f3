"""Checks a marketer's inputs against an entry's schema; each issue names its field in ru and en."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from pydantic import JsonValue

from shared.registry.errors import InputIssue, InputValidationError
from shared.registry.schema import FieldSpec, ModelEntry

# Extensions we can map to a MIME type; a URL without one is accepted (Telegram file links often
# carry none) and KIE rejects a wrong file itself.
EXTENSION_MIME = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".mp4": "video/mp4",
    ".mov": "video/quicktime",
    ".mkv": "video/x-matroska",
    ".webm": "video/webm",
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".aac": "audio/aac",
    ".m4a": "audio/mp4",
    ".ogg": "audio/ogg",
    ".flac": "audio/flac",
    ".pdf": "application/pdf",
}
MESSAGE_ROLES = ("user", "assistant")


def _issue(field: str, code: str, ru: str, en: str) -> InputIssue:
    return InputIssue(
        field=field, code=code, ru=f"Поле «{field}»: {ru}", en=f"Field '{field}': {en}"
    )


def is_present(value: object) -> bool:
    return value is not None and value != "" and value != [] and value != {}


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _check_enum(name: str, spec: FieldSpec, value: object) -> list[InputIssue]:
    if spec.enum is None or (value in spec.enum and type(value) in {type(v) for v in spec.enum}):
        return []
    allowed = ", ".join(str(v) for v in spec.enum[:12]) + (" …" if len(spec.enum) > 12 else "")
    return [
        _issue(
            name,
            "enum",
            f"значение «{value}» не подходит, выберите одно из: {allowed}.",
            f"'{value}' is not allowed; choose one of: {allowed}.",
        )
    ]


def _check_range(name: str, spec: FieldSpec, number: float) -> list[InputIssue]:
    if spec.min is not None and number < spec.min:
        return [_issue(name, "min", f"не меньше {spec.min:g}.", f"must be at least {spec.min:g}.")]
    if spec.max is not None and number > spec.max:
        return [_issue(name, "max", f"не больше {spec.max:g}.", f"must be at most {spec.max:g}.")]
    return []


def _check_string(name: str, spec: FieldSpec, value: object) -> list[InputIssue]:
    if not isinstance(value, str):
        return [_issue(name, "type", "нужен текст.", "must be text.")]
    if spec.max_length is not None and len(value) > spec.max_length:
        return [
            _issue(
                name,
                "max_length",
                f"слишком длинно: {len(value)} символов, можно до {spec.max_length}.",
                f"too long: {len(value)} characters, the limit is {spec.max_length}.",
            )
        ]
    if spec.min_length is not None and len(value) < spec.min_length:
        return [
            _issue(
                name,
                "min_length",
                f"слишком коротко: нужно хотя бы {spec.min_length} символа(ов).",
                f"too short: at least {spec.min_length} characters.",
            )
        ]
    return _check_enum(name, spec, value)


def _check_url(name: str, spec: FieldSpec, value: object) -> list[InputIssue]:
    if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https"):
        return [_issue(name, "file", "нужна ссылка на файл.", "must be a link to a file.")]
    suffix = PurePosixPath(urlsplit(value).path).suffix.lower()
    mime = EXTENSION_MIME.get(suffix)
    if spec.accept and mime is not None and mime not in spec.accept:
        kinds = ", ".join(sorted({a.split("/")[-1] for a in spec.accept}))
        return [
            _issue(
                name,
                "file_type",
                f"файл «{suffix}» не подходит, нужен один из форматов: {kinds}.",
                f"a '{suffix}' file is not accepted; use one of: {kinds}.",
            )
        ]
    return []


def _check_list(name: str, spec: FieldSpec, value: object) -> list[InputIssue]:
    if not isinstance(value, list):
        return [_issue(name, "type", "нужен список.", "must be a list.")]
    if spec.max_items is not None and len(value) > spec.max_items:
        return [
            _issue(
                name,
                "max_items",
                f"слишком много файлов или элементов: {len(value)}, можно до {spec.max_items}.",
                f"too many items: {len(value)}, the limit is {spec.max_items}.",
            )
        ]
    if spec.min_items is not None and len(value) < spec.min_items:
        return [
            _issue(
                name,
                "min_items",
                f"нужно хотя бы {spec.min_items}.",
                f"needs at least {spec.min_items}.",
            )
        ]
    issues: list[InputIssue] = []
    for item in value:
        if spec.type == "file_list":
            issues += _check_url(name, spec, item)
        elif spec.type == "string_list" and not isinstance(item, str):
            issues.append(_issue(name, "type", "нужен список строк.", "must be a list of text."))
        elif spec.type == "object_list" and not isinstance(item, dict):
            issues.append(
                _issue(name, "type", "нужен список объектов.", "must be a list of objects.")
            )
        elif spec.type == "messages":
            issues += _check_message(name, item)
        if issues:
            break
    return issues


def _check_message(name: str, item: object) -> list[InputIssue]:
    ok = (
        isinstance(item, dict)
        and item.get("role") in MESSAGE_ROLES
        and isinstance(item.get("content"), str)
        and item["content"].strip() != ""
    )
    if ok:
        return []
    return [
        _issue(
            name,
            "message",
            "каждое сообщение — роль user/assistant и непустой текст.",
            "each message needs a user/assistant role and non-empty text.",
        )
    ]


def _check_value(name: str, spec: FieldSpec, value: object) -> list[InputIssue]:
    if spec.type == "string":
        return _check_string(name, spec, value)
    if spec.type == "boolean":
        if isinstance(value, bool):
            return []
        return [_issue(name, "type", "нужно да или нет.", "must be yes or no.")]
    if spec.type in ("integer", "number"):
        number = _number(value)
        if number is None or (spec.type == "integer" and not isinstance(value, int)):
            what_ru = "целое число" if spec.type == "integer" else "число"
            what_en = "a whole number" if spec.type == "integer" else "a number"
            return [_issue(name, "type", f"нужно {what_ru}.", f"must be {what_en}.")]
        return _check_enum(name, spec, value) or _check_range(name, spec, number)
    if spec.type == "file":
        return _check_url(name, spec, value)
    return _check_list(name, spec, value)


def _required_now(spec: FieldSpec, values: Mapping[str, object]) -> bool:
    if spec.required:
        return True
    if not spec.required_if:
        return False
    for other, expected in spec.required_if.items():
        current = values.get(other)
        if expected is None:
            if is_present(current):
                return False
        elif current != expected:
            return False
    return True


def validate_inputs(entry: ModelEntry, inputs: Mapping[str, object]) -> dict[str, JsonValue]:
    """Inputs with the defaults filled in; InputValidationError names each bad field."""
    issues: list[InputIssue] = []
    for name in inputs:
        if name not in entry.inputs:
            issues.append(
                _issue(
                    name,
                    "unknown",
                    "такого параметра у модели нет.",
                    "this model has no such input.",
                )
            )
    effective: dict[str, JsonValue] = {}
    for name, spec in entry.inputs.items():
        value = inputs.get(name)
        if is_present(value):
            effective[name] = value  # type: ignore[assignment]
        elif spec.has_default:
            effective[name] = spec.default
    for name, spec in entry.inputs.items():
        if name not in effective:
            if _required_now(spec, effective):
                issues.append(_issue(name, "required", "обязательное поле.", "is required."))
            continue
        if name in inputs:
            issues += _check_value(name, spec, effective[name])
    if issues:
        raise InputValidationError(entry.id, tuple(issues))
    return effective
