"""Bot API parameters from any body Telegram accepts: query string, JSON, form, multipart.

In form and multipart bodies every value is a string and objects (reply_markup, media, entities)
are JSON text; uploads are multipart parts, named by `attach://<name>` or by the parameter.
"""

from __future__ import annotations

import json
from typing import Any

from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Request

from scripts.telegram_emulator import errors
from scripts.telegram_emulator.files import IncomingFile


class Params:
    def __init__(self, values: dict[str, Any], files: dict[str, FileStorage]) -> None:
        self.values = values
        self.files = files

    @classmethod
    def from_request(cls, request: Request) -> Params:
        values: dict[str, Any] = dict(request.args.items())
        files: dict[str, FileStorage] = {}
        content_type = request.mimetype
        if content_type == "application/json":
            body = request.get_json(silent=True)
            if isinstance(body, dict):
                values.update(body)
            elif request.get_data():
                raise errors.bad_request("Bad Request: can't parse JSON object")
        elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            values.update(request.form.items())
            files = {name: storage for name, storage in request.files.items()}
        return cls(values, files)

    def has(self, name: str) -> bool:
        return self.values.get(name) not in (None, "")

    def text(self, name: str, *, required: bool = False) -> str | None:
        value = self.values.get(name)
        if value is None or value == "":
            if required:
                raise errors.missing(name)
            return None
        return value if isinstance(value, str) else json.dumps(value)

    def require_text(self, name: str) -> str:
        value = self.text(name, required=True)
        assert value is not None  # required=True raised otherwise
        return value

    def integer(self, name: str, *, required: bool = False) -> int | None:
        value = self.values.get(name)
        if value is None or value == "":
            if required:
                raise errors.missing(name)
            return None
        try:
            return int(value)
        except (TypeError, ValueError):
            raise errors.bad_request(f"Bad Request: invalid {name} specified") from None

    def require_int(self, name: str) -> int:
        value = self.integer(name, required=True)
        assert value is not None
        return value

    def flag(self, name: str) -> bool:
        value = self.values.get(name)
        if isinstance(value, str):
            return value.lower() in ("true", "1")
        return bool(value)

    def obj(self, name: str) -> Any:
        """An object parameter: parsed JSON when it came as text, as-is from a JSON body."""
        value = self.values.get(name)
        if isinstance(value, str):
            if value == "":
                return None
            try:
                return json.loads(value)
            except ValueError:
                raise errors.bad_request(f"Bad Request: can't parse {name} JSON object") from None
        return value

    def upload(self, reference: str) -> IncomingFile | None:
        """The multipart part a value names (`attach://x`), or the part named like the field."""
        name = reference.removeprefix("attach://")
        storage = self.files.get(name)
        if storage is None:
            return None
        storage.stream.seek(0)  # an album may name the same part twice
        return IncomingFile(storage.read(), storage.filename or None, storage.mimetype or None)

    def summary(self) -> dict[str, Any]:
        """The call as /tg/api/calls shows it: values, and uploads by name and size."""
        shown: dict[str, Any] = {}
        for name, value in self.values.items():
            shown[name] = value
        for name, storage in self.files.items():
            storage.stream.seek(0, 2)
            size = storage.stream.tell()
            storage.stream.seek(0)
            shown[f"file:{name}"] = {"filename": storage.filename, "size": size}
        return shown
