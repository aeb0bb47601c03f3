"""Telegram's size limits decide how each result travels: by URL, upload, or link."""

from __future__ import annotations

import pytest

from shared.delivery.plan import MB, Media, Route, media_for, route_for, split_text


@pytest.mark.parametrize(
    ("media", "size", "route"),
    [
        (Media.PHOTO, 5 * MB, Route.BY_URL),
        (Media.PHOTO, 5 * MB + 1, Route.UPLOAD),
        (Media.PHOTO, 10 * MB + 1, Route.LINK),
        (Media.VIDEO, 20 * MB, Route.BY_URL),
        (Media.VIDEO, 20 * MB + 1, Route.UPLOAD),
        (Media.VIDEO, 50 * MB, Route.UPLOAD),
        (Media.VIDEO, 50 * MB + 1, Route.LINK),
        (Media.AUDIO, None, Route.BY_URL),
    ],
)
def test_route_by_size(media: Media, size: int | None, route: Route) -> None:
    assert route_for(media, size) is route


@pytest.mark.parametrize(
    ("kind", "content_type", "media"),
    [
        ("t2i", "image/png", Media.PHOTO),
        ("upscale", "video/mp4", Media.VIDEO),  # the file decides, not the model
        ("t2v", "application/octet-stream", Media.VIDEO),  # no type: the model decides
        ("music", "audio/mpeg", Media.AUDIO),
        ("t2i", "image/gif", Media.DOCUMENT),
        ("text", "application/pdf", Media.DOCUMENT),
    ],
)
def test_media_kind(kind: str, content_type: str, media: Media) -> None:
    assert media_for(kind, content_type) is media


def test_long_text_is_cut_at_paragraphs_within_the_limit() -> None:
    paragraph = "Пост про кофе. " * 60
    text = "\n\n".join([paragraph] * 8)
    parts = split_text(text)
    assert all(len(part) <= 4096 for part in parts)
    assert len(parts) > 1
    assert "".join(parts).replace("\n", "").replace(" ", "") == text.replace("\n", "").replace(
        " ", ""
    )


def test_a_text_without_spaces_is_still_cut() -> None:
    assert [len(p) for p in split_text("x" * 9000)] == [4096, 4096, 808]
