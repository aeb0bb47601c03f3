"""Files: ids, paths, photo sizes, by-URL fetches, and the size limits that go with each.

Bytes are kept in memory until the emulator stops. A file can carry a declared size larger than
its bytes (the user API's `size` field), so a test can present a 30 MB upload cheaply and the
bot still sees, and must refuse, a 30 MB file.
"""

from __future__ import annotations

import itertools
import mimetypes
import secrets
import struct
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from scripts.telegram_emulator import errors
from scripts.telegram_emulator.errors import BotApiError

MB = 1024 * 1024
UPLOAD_LIMIT_PHOTO = 10 * MB
UPLOAD_LIMIT_OTHER = 50 * MB
URL_LIMIT_PHOTO = 5 * MB
URL_LIMIT_OTHER = 20 * MB
GET_FILE_LIMIT = 20 * MB
URL_FETCH_TIMEOUT_S = 30.0
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# sendDocument by URL: "works only for GIF, PDF and ZIP files" (Bot API, Sending files).
DOCUMENT_URL_TYPES = frozenset({"image/gif", "application/pdf", "application/zip"})

# file_id prefixes seen on real ids (opaque, but they make ids look like Telegram's).
_PREFIX = {
    "photo": "AgAC",
    "document": "BQAC",
    "video": "BAAC",
    "audio": "CQAC",
    "voice": "AwAC",
    "thumbnail": "AAMC",
}
_FOLDER = {
    "photo": ("photos", ".jpg"),
    "video": ("videos", ".mp4"),
    "voice": ("voice", ".oga"),
    "audio": ("music", ".mp3"),
    "thumbnail": ("thumbnails", ".jpg"),
}
# Sizes Telegram derives from a photo, by the longest side (s, m, x, y).
PHOTO_SIDES = (90, 320, 800, 1280)
PHOTO_DIMENSIONS_MAX = 10_000  # width + height of a photo a bot sends


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    kind: str
    data: bytes
    file_size: int
    mime_type: str
    file_name: str | None
    file_path: str
    width: int | None = None
    height: int | None = None

    def file_json(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.file_size,
            "file_path": self.file_path,
        }


@dataclass(frozen=True)
class IncomingFile:
    """Bytes on their way in (an upload or a fetched URL), before they get an id."""

    data: bytes
    file_name: str | None
    mime_type: str | None
    declared_size: int | None = None

    @property
    def size(self) -> int:
        return max(len(self.data), self.declared_size or 0)


class FileStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, StoredFile] = {}
        self._by_path: dict[str, StoredFile] = {}
        self._counter = itertools.count(1)

    def get(self, file_id: str) -> StoredFile | None:
        with self._lock:
            return self._by_id.get(file_id)

    def by_path(self, file_path: str) -> StoredFile | None:
        with self._lock:
            return self._by_path.get(file_path)

    def put(
        self,
        kind: str,
        incoming: IncomingFile,
        *,
        from_bot: bool,
        width: int | None = None,
        height: int | None = None,
        size: int | None = None,
    ) -> StoredFile:
        number = next(self._counter)
        origin = "D" if from_bot else "B"  # bot-sent ids carry AxkD, received ones AxkB
        file_id = f"{_PREFIX.get(kind, 'BQAC')}AgIAAxk{origin}AAI{secrets.token_urlsafe(40)}"
        unique = f"AgAD{secrets.token_urlsafe(10)}"
        mime = incoming.mime_type or _guess_mime(incoming.file_name, kind)
        folder, extension = _FOLDER.get(kind, ("documents", ""))
        if not extension:
            extension = _extension(incoming.file_name, mime)
        stored = StoredFile(
            file_id=file_id,
            file_unique_id=unique,
            kind=kind,
            data=incoming.data,
            file_size=size if size is not None else incoming.size,
            mime_type=mime,
            file_name=incoming.file_name,
            file_path=f"{folder}/file_{number}{extension}",
            width=width,
            height=height,
        )
        with self._lock:
            self._by_id[file_id] = stored
            self._by_path[stored.file_path] = stored
        return stored

    def put_photo(self, incoming: IncomingFile, *, from_bot: bool) -> list[StoredFile]:
        """Every PhotoSize Telegram would make, smallest first; they share the original bytes."""
        width, height = image_size(incoming.data) or (1280, 960)
        if width <= 0 or height <= 0:  # a header claiming no pixels: Telegram's default size
            width, height = 1280, 960
        # sendPhoto: "width and height must not exceed 10000 in total. Width and height ratio
        # must be at most 20." (Bot API); such an image can go as a document.
        if from_bot and (
            width + height > PHOTO_DIMENSIONS_MAX or max(width, height) > 20 * min(width, height)
        ):
            raise errors.bad_request(errors.PHOTO_INVALID_DIMENSIONS)
        longest = max(width, height)
        sides = [side for side in PHOTO_SIDES if side < longest] + [min(longest, 2560)]
        sizes: list[StoredFile] = []
        for side in sides:
            scale = side / longest
            w, h = max(1, round(width * scale)), max(1, round(height * scale))
            is_original = side == sides[-1]
            estimated = incoming.size if is_original else max(1, int(incoming.size * scale * scale))
            sizes.append(
                self.put(
                    "photo",
                    IncomingFile(incoming.data, None, "image/jpeg", incoming.declared_size),
                    from_bot=from_bot,
                    width=w,
                    height=h,
                    size=estimated,
                )
            )
        return sizes


def photo_size_json(stored: StoredFile) -> dict[str, Any]:
    return {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": stored.file_size,
        "width": stored.width or 0,
        "height": stored.height or 0,
    }


def check_upload_size(kind: str, incoming: IncomingFile) -> None:
    if incoming.size == 0:
        raise errors.bad_request(errors.FILE_MUST_BE_NON_EMPTY)
    if kind == "photo" and incoming.size > UPLOAD_LIMIT_PHOTO:
        raise errors.bad_request(errors.PHOTO_TOO_BIG)
    if incoming.size > UPLOAD_LIMIT_OTHER:
        raise BotApiError(413, errors.ENTITY_TOO_LARGE)


_fetch_client: httpx.Client | None = None
_fetch_client_lock = threading.Lock()


def _fetcher() -> httpx.Client:
    """One client per process for by-URL fetches: a new one per fetch would build a TLS
    context (the CA bundle, tens of ms of CPU) and a new connection every time."""
    global _fetch_client
    with _fetch_client_lock:
        if _fetch_client is None:
            _fetch_client = httpx.Client(timeout=URL_FETCH_TIMEOUT_S, follow_redirects=True)
        return _fetch_client


def fetch_url(url: str, kind: str) -> IncomingFile:
    """Fetch media by URL as Telegram would, but only from this machine (no internet here)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise errors.bad_request(errors.WRONG_HTTP_URL)
    if parts.hostname not in LOCAL_HOSTS:
        raise errors.bad_request(errors.FAILED_TO_GET_URL)
    limit = URL_LIMIT_PHOTO if kind == "photo" else URL_LIMIT_OTHER
    chunks: list[bytes] = []
    received = 0
    try:
        with _fetcher().stream("GET", url) as got:
            if not 200 <= got.status_code < 300:
                raise errors.bad_request(errors.FAILED_TO_GET_URL)
            declared = int(got.headers.get("content-length") or 0)
            if declared > limit:
                raise errors.bad_request(errors.WRONG_FILE_ID)
            mime = got.headers.get("content-type", "").split(";")[0].strip() or None
            for chunk in got.iter_bytes():
                received += len(chunk)
                if received > limit:
                    raise errors.bad_request(errors.WRONG_FILE_ID)
                chunks.append(chunk)
    except httpx.HTTPError as failure:
        raise errors.bad_request(errors.FAILED_TO_GET_URL) from failure
    if received == 0:
        raise errors.bad_request(errors.FAILED_TO_GET_URL)
    if kind == "document" and mime not in DOCUMENT_URL_TYPES:
        raise errors.bad_request("Bad Request: wrong type of the web page content")
    name = parts.path.rstrip("/").rsplit("/", 1)[-1] or None
    return IncomingFile(b"".join(chunks), name, mime)


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG, GIF or JPEG header; None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    if data.startswith(b"\xff\xd8"):
        index = 2
        while index + 9 < len(data):
            if data[index] != 0xFF:
                index += 1
                continue
            marker = data[index + 1]
            length = struct.unpack(">H", data[index + 2 : index + 4])[0]
            if marker in (0xC0, 0xC1, 0xC2):
                height, width = struct.unpack(">HH", data[index + 5 : index + 9])
                return int(width), int(height)
            index += 2 + length
    return None


def _guess_mime(file_name: str | None, kind: str) -> str:
    guessed = mimetypes.guess_type(file_name)[0] if file_name else None
    if guessed:
        return guessed
    return {
        "photo": "image/jpeg",
        "video": "video/mp4",
        "audio": "audio/mpeg",
        "voice": "audio/ogg",
    }.get(kind, "application/octet-stream")


def _extension(file_name: str | None, mime: str) -> str:
    if file_name and "." in file_name:
        return "." + file_name.rsplit(".", 1)[-1].lower()
    return mimetypes.guess_extension(mime) or ""


def kind_for_mime(mime: str | None) -> str:
    """The user API's default kind of an upload without `kind`: by its content type."""
    if not mime:
        return "document"
    if mime in ("image/jpeg", "image/png", "image/webp"):
        return "photo"
    if mime.startswith("video/"):
        return "video"
    if mime == "audio/ogg":
        return "voice"
    if mime.startswith("audio/"):
        return "audio"
    return "document"
