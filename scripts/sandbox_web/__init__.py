"""The sandbox's chat page: a browser view of the Telegram emulator's user API."""

from __future__ import annotations

from pathlib import Path

from werkzeug.wrappers import Request, Response

PAGE = Path(__file__).resolve().parent / "chat.html"


@Request.application
def chat_page(request: Request) -> Response:
    if request.path not in ("/", "/index.html"):
        return Response("not found", status=404, content_type="text/plain")
    return Response(PAGE.read_bytes(), content_type="text/html; charset=utf-8")
