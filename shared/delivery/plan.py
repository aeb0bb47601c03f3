"""How each result file reaches Telegram: by URL, by upload, or as a download link.

Telegram fetches a URL itself up to 5 MB for a photo and 20 MB for anything
else; a bot may upload up to 10 MB for a photo and 50 MB for anything else;
past that only a link works. Pure functions, so the limits are tested alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

MB = 1024 * 1024
PHOTO_BY_URL_MAX = 5 * MB
OTHER_BY_URL_MAX = 20 * MB
PHOTO_UPLOAD_MAX = 10 * MB
OTHER_UPLOAD_MAX = 50 * MB
TEXT_MESSAGE_MAX = 4096
TEXT_MESSAGES_MAX = 3  # longer texts go as a .txt file
ALBUM_MAX = 10


class Media(StrEnum):
    PHOTO = "photo"
    VIDEO = "video"
    AUDIO = "audio"
    DOCUMENT = "document"


class Route(StrEnum):
    BY_URL = "by_url"
    UPLOAD = "upload"
    LINK = "link"


# The registry's kinds, as the media a marketer expects to receive.
_MEDIA_BY_KIND = {
    "t2i": Media.PHOTO,
    "i2i": Media.PHOTO,
    "upscale": Media.PHOTO,
    "bg_remove": Media.PHOTO,
    "t2v": Media.VIDEO,
    "i2v": Media.VIDEO,
    "v2v": Media.VIDEO,
    "lip_sync": Media.VIDEO,
    "avatar": Media.VIDEO,
    "video_extend": Media.VIDEO,
    "watermark_remove": Media.VIDEO,
    "tts": Media.AUDIO,
    "music": Media.AUDIO,
    "sfx": Media.AUDIO,
    "audio_isolation": Media.AUDIO,
}


def media_for(kind: str, content_type: str) -> Media:
    """What the file is, by its content type first (an upscale may return a video)."""
    main = content_type.split("/", 1)[0]
    if main == "image":
        return Media.PHOTO if content_type != "image/gif" else Media.DOCUMENT
    if main == "video":
        return Media.VIDEO
    if main == "audio":
        return Media.AUDIO
    if content_type in ("", "application/octet-stream"):
        return _MEDIA_BY_KIND.get(kind, Media.DOCUMENT)
    return Media.DOCUMENT


@dataclass(frozen=True)
class FilePlan:
    url: str
    media: Media
    route: Route
    size_bytes: int | None


def route_for(media: Media, size_bytes: int | None) -> Route:
    """Unknown size: try by URL (Telegram checks it and answers an error we handle)."""
    by_url_max = PHOTO_BY_URL_MAX if media is Media.PHOTO else OTHER_BY_URL_MAX
    upload_max = PHOTO_UPLOAD_MAX if media is Media.PHOTO else OTHER_UPLOAD_MAX
    if size_bytes is None or size_bytes <= by_url_max:
        return Route.BY_URL
    if size_bytes <= upload_max:
        return Route.UPLOAD
    return Route.LINK


def split_text(text: str, limit: int = TEXT_MESSAGE_MAX) -> list[str]:
    """Messages of at most `limit` characters, cut at paragraph, line or word ends."""
    parts: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = max(
            rest.rfind("\n\n", 0, limit), rest.rfind("\n", 0, limit), rest.rfind(" ", 0, limit)
        )
        if cut <= limit // 2:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts
