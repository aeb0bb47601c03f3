"""The Telegram Bot API emulator over real HTTP on 127.0.0.1, driven by aiogram's own Bot.

aiogram is imported once for the module (about 5 s here); each test runs its coroutine with
asyncio.run and a Bot whose session is closed at the end.
"""

from __future__ import annotations

import asyncio
import json
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    LabeledPrice,
    Message,
    Update,
)
from werkzeug.exceptions import NotFound
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.serving import make_server

from scripts.telegram_emulator import TelegramEmulator
from scripts.telegram_emulator.client import UserApiClient

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "telegram" / "updates"
SECRET = "emulator-test_secret-42"
HTTP = httpx.Client(timeout=30)
ANNA = {
    "first_name": "Анна",
    "last_name": "Смирнова",
    "username": "anna_smm_pro",
    "language_code": "ru",
}
MB = 1024 * 1024
T = TypeVar("T")


def png(width: int, height: int, padding: int = 0) -> bytes:
    """A valid PNG of that size; `padding` bytes of an ancillary chunk make it as big as needed."""
    raw = b"".join(b"\x00" + b"\x10\x80\xf0" * width for _ in range(height))

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    extra = chunk(b"teXt", b"pad\x00" + b"x" * padding) if padding else b""
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + extra
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


PNG_1280 = png(1280, 960)


# --- a local webhook receiver that plays the bot's server and a file host -------------------


@dataclass
class Received:
    headers: dict[str, str]
    raw: bytes
    body: dict[str, Any]


@dataclass
class Receiver:
    secret: str
    updates: list[Received] = field(default_factory=list)
    refused_secrets: int = 0
    # Statuses to answer with before answering 200 (a webhook that fails, then recovers).
    failures: list[int] = field(default_factory=list)
    on_update: Callable[[dict[str, Any]], None] | None = None
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r.body for r in self.updates if kind in r.body]

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with self.lock:
                found = [r.body for r in self.updates if predicate(r.body)]
            if found:
                return found[-1]
            time.sleep(0.02)
        raise AssertionError("no such update arrived within 5 s")


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return None

        def do_GET(self) -> None:
            data, mime = receiver.files.get(self.path, (b"", ""))
            self.send_response(200 if data else 404)
            self.send_header("Content-Type", mime or "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.headers.get("X-Telegram-Bot-Api-Secret-Token") != receiver.secret:
                with receiver.lock:
                    receiver.refused_secrets += 1
                self._answer(401)
                return
            with receiver.lock:
                failure = receiver.failures.pop(0) if receiver.failures else None
            if failure is not None:
                self._answer(failure)
                return
            body = json.loads(raw)
            with receiver.lock:
                receiver.updates.append(Received(dict(self.headers.items()), raw, body))
            if receiver.on_update is not None:
                receiver.on_update(body)
            self._answer(200)

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler


@pytest.fixture(scope="module")
def receiver_server() -> Iterator[tuple[Receiver, str]]:
    receiver = Receiver(SECRET)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def receiver(receiver_server: tuple[Receiver, str]) -> Receiver:
    receiver = receiver_server[0]
    with receiver.lock:
        receiver.updates.clear()
        receiver.failures.clear()
        receiver.refused_secrets = 0
        receiver.on_update = None
    return receiver


@pytest.fixture
def receiver_url(receiver_server: tuple[Receiver, str]) -> str:
    return receiver_server[1]


@pytest.fixture
def emulator() -> Iterator[TelegramEmulator]:
    emulator = TelegramEmulator(webhook_retry_delay_s=0.05)
    emulator.start()
    yield emulator
    emulator.stop()


def run_with_bot(
    emulator: TelegramEmulator,
    scenario: Callable[[Bot], Awaitable[T]],
    token: str | None = None,
) -> T:
    async def main() -> T:
        session = AiohttpSession(api=TelegramAPIServer.from_base(emulator.base_url))
        bot = Bot(token or emulator.token, session=session)
        try:
            return await scenario(bot)
        finally:
            await bot.session.close()

    return asyncio.run(main())


def add_anna(emulator: TelegramEmulator) -> None:
    """The fixtures' user, so the Updates built for her have the fixtures' optional fields."""
    emulator.add_user(
        6418327705, "Анна", last_name="Смирнова", username="anna_smm_pro", language_code="ru"
    )


def user_api(emulator: TelegramEmulator, path: str, **kwargs: Any) -> httpx.Response:
    method = "GET" if path.endswith("/chat") or path in ("/calls", "/updates", "/users") else "POST"
    return HTTP.request(method, f"{emulator.user_api_url}{path}", **kwargs)


def shape(value: Any) -> Any:
    """The keys of an object, recursively; lists by their first item."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return None


def fixture(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_bytes())
    return body


def assert_like_fixture(update: dict[str, Any], name: str) -> None:
    expected = fixture(name)
    assert shape(update) == shape(expected), name
    parsed = Update.model_validate(update)
    assert parsed.update_id == update["update_id"]


# --- tests ---------------------------------------------------------------------------------


def test_every_fixture_parses_with_aiogram() -> None:
    names = sorted(FIXTURES.glob("*.json"))
    assert len(names) == 28
    for path in names:
        raw = path.read_bytes()
        assert raw.isascii(), path.name
        update = Update.model_validate_json(raw)
        assert update.update_id > 0
        assert raw.startswith(b'{"update_id":%d,\n"' % update.update_id), path.name


def test_importing_the_emulator_does_not_import_aiogram() -> None:
    code = (
        "import sys, scripts.telegram_emulator as e; e.TelegramEmulator(); "
        "assert 'aiogram' not in sys.modules"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], check=False
    )
    assert completed.returncode == 0


def test_the_command_line_serves_until_terminated() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "scripts.telegram_emulator", "--port", "0", "--token", "42:abc"],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("telegram emulator listening on http://127.0.0.1:")
        base_url = line.split()[4]
        me = HTTP.get(f"{base_url}/bot42:abc/getMe").json()
        assert me["ok"] is True and me["result"]["id"] == 42
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


def test_messages_edits_and_commands_through_aiogram(emulator: TelegramEmulator) -> None:
    add_anna(emulator)

    async def scenario(bot: Bot) -> None:
        me = await bot.get_me()
        assert me.is_bot and me.id == emulator.bot_id and me.username == "emulated_bot"
        keyboard = InlineKeyboardMarkup(
            inline_keyboard=[
                [InlineKeyboardButton(text="✅ Подтвердить", callback_data="job:confirm:1")],
                [InlineKeyboardButton(text="Сайт", url="https://example.com")],
            ]
        )
        sent = await bot.send_message(
            6418327705, "<b>Баннер</b> готов &lt;3", parse_mode="HTML", reply_markup=keyboard
        )
        assert isinstance(sent, Message)
        assert sent.text == "Баннер готов <3"
        assert sent.from_user is not None and sent.from_user.id == emulator.bot_id
        assert sent.entities is not None and sent.entities[0].type == "bold"
        assert (sent.entities[0].offset, sent.entities[0].length) == (0, 6)
        assert sent.reply_markup is not None
        assert sent.reply_markup.model_dump(exclude_none=True) == keyboard.model_dump(
            exclude_none=True
        )
        second = await bot.send_message(6418327705, "второе")
        assert second.message_id == sent.message_id + 1
        assert abs(second.date.timestamp() - time.time()) < 5

        edited = await bot.edit_message_text(
            "Генерация… 60%",
            chat_id=6418327705,
            message_id=sent.message_id,
            reply_markup=keyboard,
        )
        assert isinstance(edited, Message)
        assert edited.edit_date is not None and edited.text == "Генерация… 60%"
        with pytest.raises(TelegramBadRequest, match="message is not modified"):
            await bot.edit_message_text(
                "Генерация… 60%",
                chat_id=6418327705,
                message_id=sent.message_id,
                reply_markup=keyboard,
            )
        with pytest.raises(TelegramBadRequest, match="message to edit not found"):
            await bot.edit_message_text("x", chat_id=6418327705, message_id=9999)
        markup_only = await bot.edit_message_reply_markup(
            chat_id=6418327705, message_id=sent.message_id, reply_markup=None
        )
        assert isinstance(markup_only, Message) and markup_only.reply_markup is None
        with pytest.raises(TelegramBadRequest, match="chat not found"):
            await bot.send_message(1234, "nobody")
        assert await bot.send_chat_action(6418327705, "typing")
        assert await bot.delete_message(6418327705, second.message_id)
        with pytest.raises(TelegramBadRequest, match="message to delete not found"):
            await bot.delete_message(6418327705, second.message_id)

        commands = [BotCommand(command="start", description="Главное меню")]
        assert await bot.set_my_commands(commands, language_code="ru")
        stored = await bot.get_my_commands(language_code="ru")
        assert [(c.command, c.description) for c in stored] == [("start", "Главное меню")]
        assert await bot.get_my_commands() == []

    run_with_bot(emulator, scenario)
    view = user_api(emulator, "/users/6418327705/chat").json()
    first = view["messages"][0]
    assert first["edit_count"] == 2 and first["text"] == "Генерация… 60%"
    assert "keyboard" not in first  # the last edit removed it
    assert view["messages"][1]["deleted"] is True
    methods = [call["method"].lower() for call in user_api(emulator, "/calls").json()["calls"]]
    assert methods[:3] == ["getme", "sendmessage", "sendmessage"]


def test_limits_and_errors_use_telegrams_codes_and_texts(emulator: TelegramEmulator) -> None:
    emulator.add_user(501, "Limits")

    async def scenario(bot: Bot) -> None:
        long_data = InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="x", callback_data="й" * 33)]]
        )
        with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
            await bot.send_message(501, "buttons", reply_markup=long_data)
        exactly_64 = InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="x", callback_data="й" * 32)]]
        )
        await bot.send_message(501, "buttons", reply_markup=exactly_64)
        with pytest.raises(TelegramBadRequest, match="message is too long"):
            await bot.send_message(501, "я" * 4097)
        # 4096 visible characters: the tags do not count.
        visible = await bot.send_message(501, "<b>" + "я" * 4096 + "</b>", parse_mode="HTML")
        assert visible.text == "я" * 4096
        with pytest.raises(TelegramBadRequest, match="message is too long"):
            await bot.send_message(501, "<i>" + "я" * 4097 + "</i>", parse_mode="HTML")
        with pytest.raises(TelegramBadRequest, match="can't parse entities: Can't find end tag"):
            await bot.send_message(501, "<b>open", parse_mode="HTML")
        with pytest.raises(TelegramBadRequest, match='Unsupported start tag "div"'):
            await bot.send_message(501, "<div>x</div>", parse_mode="HTML")
        with pytest.raises(TelegramBadRequest, match="reserved and must be escaped"):
            await bot.send_message(501, "Цена 5.5", parse_mode="MarkdownV2")
        emoji = await bot.send_message(
            501, "<b>🔥</b> <blockquote expandable>q</blockquote>", parse_mode="HTML"
        )
        assert emoji.entities is not None
        # Offsets and lengths count UTF-16 units: the emoji is a surrogate pair.
        assert [(e.type, e.offset, e.length) for e in emoji.entities] == [
            ("bold", 0, 2),
            ("expandable_blockquote", 3, 1),
        ]
        md = await bot.send_message(501, "*жирный* и \\.", parse_mode="MarkdownV2")
        assert md.text == "жирный и ." and md.entities is not None
        with pytest.raises(TelegramBadRequest, match="message text is empty"):
            await bot.send_message(501, "   ")
        photo = BufferedInputFile(PNG_1280, "p.png")
        with pytest.raises(TelegramBadRequest, match="message caption is too long"):
            await bot.send_photo(501, photo, caption="c" * 1025)
        with pytest.raises(TelegramBadRequest, match="PHOTO_SAVE_FILE_INVALID"):
            await bot.send_photo(501, BufferedInputFile(png(8, 8, 11 * MB), "big.png"))
        with pytest.raises(TelegramEntityTooLarge, match="Request Entity Too Large"):
            await bot.send_document(501, BufferedInputFile(b"\0" * (60 * MB), "big.bin"))
        with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
            await bot.send_photo(501, "AgACnot-a-real-file-id")
        with pytest.raises(TelegramBadRequest, match="query is too old"):
            await bot.answer_callback_query("12345")

    run_with_bot(emulator, scenario)

    async def wrong_token(bot: Bot) -> None:
        with pytest.raises(TelegramUnauthorizedError, match="Unauthorized"):
            await bot.get_me()

    run_with_bot(emulator, wrong_token, token="123456:wrong-token")
    raw = HTTP.post(f"{emulator.base_url}/bot{emulator.token}/sendMessage", json={})
    assert raw.status_code == 400 and raw.json()["ok"] is False
    assert list(raw.json()) == ["ok", "error_code", "description"]
    unknown = HTTP.post(f"{emulator.base_url}/bot{emulator.token}/noSuchMethod")
    assert unknown.json() == {
        "ok": False,
        "error_code": 404,
        "description": "Not Found: method not found",
    }
    lower = HTTP.post(f"{emulator.base_url}/bot{emulator.token}/getme")
    assert lower.json()["ok"] is True


def test_flood_limit_answers_429_with_retry_after(emulator: TelegramEmulator) -> None:
    emulator.add_user(502, "Flood")
    emulator.flood_per_chat_per_s = 1

    async def scenario(bot: Bot) -> None:
        await bot.send_message(502, "one")
        with pytest.raises(TelegramRetryAfter) as caught:
            await bot.send_message(502, "two")
        assert caught.value.retry_after >= 1
        assert "Too Many Requests: retry after" in caught.value.message

    run_with_bot(emulator, scenario)
    raw = HTTP.post(
        f"{emulator.base_url}/bot{emulator.token}/sendMessage", json={"chat_id": 502, "text": "3"}
    )
    assert raw.status_code == 429 and raw.headers["Retry-After"] == str(
        raw.json()["parameters"]["retry_after"]
    )


def test_media_upload_url_album_and_download(
    emulator: TelegramEmulator, receiver: Receiver, receiver_url: str
) -> None:
    emulator.add_user(503, "Media")
    receiver.files["/banner.png"] = (PNG_1280, "image/png")
    receiver.files["/big.png"] = (png(8, 8, 6 * MB), "image/png")
    receiver.files["/brief.pdf"] = (b"%PDF-1.4 brief", "application/pdf")

    async def scenario(bot: Bot) -> None:
        uploaded = await bot.send_photo(
            503,
            BufferedInputFile(PNG_1280, "banner.png"),
            caption="<i>Готово</i>",
            parse_mode="HTML",
        )
        assert uploaded.photo is not None and len(uploaded.photo) == 4
        largest = uploaded.photo[-1]
        assert (largest.width, largest.height) == (1280, 960)
        assert largest.file_size == len(PNG_1280)
        assert uploaded.caption == "Готово" and uploaded.caption_entities is not None

        file = await bot.get_file(largest.file_id)
        assert file.file_path is not None and file.file_path.startswith("photos/")
        downloaded = await bot.download(file)
        assert downloaded is not None and downloaded.read() == PNG_1280

        by_url = await bot.send_photo(503, f"{receiver_url}/banner.png")
        assert by_url.photo is not None and by_url.photo[-1].width == 1280
        with pytest.raises(TelegramBadRequest, match="wrong file identifier/HTTP URL"):
            await bot.send_photo(503, f"{receiver_url}/big.png")  # over 5 MB by URL
        with pytest.raises(TelegramBadRequest, match="failed to get HTTP URL content"):
            await bot.send_photo(503, "https://example.com/banner.png")
        resent = await bot.send_photo(503, largest.file_id)
        assert resent.photo is not None and resent.photo[-1].file_id == largest.file_id
        with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
            await bot.send_document(503, largest.file_id)  # a photo stays a photo

        document = await bot.send_document(503, f"{receiver_url}/brief.pdf", caption="Бриф")
        assert document.document is not None
        assert document.document.mime_type == "application/pdf"
        video = await bot.send_video(
            503, BufferedInputFile(b"\0\0\0\x18ftypmp42" + b"v" * 1000, "clip.mp4"), duration=8
        )
        assert video.video is not None and video.video.duration == 8
        assert video.video.thumbnail is not None
        audio = await bot.send_audio(
            503, BufferedInputFile(b"ID3" + b"a" * 500, "voiceover.mp3"), title="Озвучка"
        )
        assert audio.audio is not None and audio.audio.title == "Озвучка"
        voice = await bot.send_voice(503, BufferedInputFile(b"OggS" + b"o" * 300, "v.ogg"))
        assert voice.voice is not None and voice.voice.file_size == 304

        album = await bot.send_media_group(
            503,
            [
                InputMediaPhoto(media=BufferedInputFile(PNG_1280, "a.png"), caption="Вариации"),
                InputMediaPhoto(media=f"{receiver_url}/banner.png"),
            ],
        )
        assert len(album) == 2
        assert album[0].media_group_id is not None
        assert album[0].media_group_id == album[1].media_group_id
        assert album[0].caption == "Вариации" and album[1].caption is None
        assert album[1].message_id == album[0].message_id + 1
        with pytest.raises(TelegramBadRequest):
            await bot.send_media_group(503, [InputMediaPhoto(media=largest.file_id)])

    run_with_bot(emulator, scenario)
    chat = user_api(emulator, "/users/503/chat").json()["messages"]
    assert chat[0]["media"]["kind"] == "photo"
    assert HTTP.get(chat[0]["media"]["url"]).content == PNG_1280


def test_user_api_delivers_real_updates_to_the_webhook(
    emulator: TelegramEmulator, receiver: Receiver, receiver_url: str
) -> None:
    async def set_webhook(bot: Bot) -> None:
        assert await bot.set_webhook(f"{receiver_url}/hook", secret_token=SECRET)
        info = await bot.get_webhook_info()
        assert info.url == f"{receiver_url}/hook" and info.pending_update_count == 0

    run_with_bot(emulator, set_webhook)
    user = "/users/6418327705"
    start = user_api(emulator, f"{user}/send", json={"text": "/start", **ANNA}).json()
    assert start["delivered"] is True and start["webhook_status"] == 200
    first = receiver.updates[0]
    assert first.headers["X-Telegram-Bot-Api-Secret-Token"] == SECRET
    assert first.headers["Content-Type"] == "application/json"
    assert first.raw.startswith(b'{"update_id":%d,\n"message":' % start["update_id"])
    assert first.raw.isascii()
    assert_like_fixture(first.body, "message_start")
    text = user_api(emulator, f"{user}/send", json={"text": "Сделай баннер 🔥"}).json()
    assert text["update_id"] == start["update_id"] + 1
    assert_like_fixture(receiver.updates[-1].body, "message_text")

    uploads = [
        ("photo.png", PNG_1280, "image/png", {}, "message_photo"),
        ("Бриф.pdf", b"%PDF-1.4", "application/pdf", {}, "message_document_pdf"),
        ("banner.png", PNG_1280, "image/png", {"kind": "document"}, "message_document_image"),
        ("reels.mp4", b"\0\0\0\x18ftypmp42", "video/mp4", {"duration": "15"}, "message_video"),
        ("jingle.mp3", b"ID3mp3", "audio/mpeg", {"performer": "Studio"}, "message_audio"),
        ("note.ogg", b"OggS", "audio/ogg", {}, "message_voice"),
    ]
    for name, data, mime, extra, fixture_name in uploads:
        caption = (
            {"caption": "Подпись"}
            if fixture_name in ("message_photo", "message_document_image", "message_video")
            else {}
        )
        sent = user_api(
            emulator,
            f"{user}/send",
            files={"file": (name, data, mime)},
            data={**extra, **caption},
        ).json()
        assert sent["delivered"] is True, fixture_name
        assert_like_fixture(receiver.updates[-1].body, fixture_name)

    album = user_api(
        emulator,
        f"{user}/send",
        files=[
            ("file", ("a.png", PNG_1280, "image/png")),
            ("file", ("b.png", PNG_1280, "image/png")),
        ],
        data={"caption": "Альбом"},
    ).json()
    assert [m["delivered"] for m in album["messages"]] == [True, True]
    assert_like_fixture(receiver.updates[-2].body, "message_media_group_1")
    assert_like_fixture(receiver.updates[-1].body, "message_media_group_2")
    assert receiver.updates[-1].body["message"]["media_group_id"] == album["media_group_id"]

    # A declared size lets a test present a big file cheaply; getFile refuses it above 20 MB.
    big = user_api(
        emulator,
        f"{user}/send",
        files={"file": ("big.mp4", b"v", "video/mp4")},
        data={"size": str(30 * MB)},
    ).json()
    assert receiver.updates[-1].body["message"]["video"]["file_size"] == 30 * MB

    async def files(bot: Bot) -> None:
        with pytest.raises(TelegramBadRequest, match="file is too big"):
            await bot.get_file(big["file_id"])
        with pytest.raises(TelegramBadRequest, match="invalid file_id"):
            await bot.get_file("nonsense")
        with pytest.raises(TelegramConflictError, match="can't use getUpdates method"):
            await bot.get_updates()
        markup = InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="✅ Подтвердить", callback_data="job:1")]]
        )
        await bot.send_message(
            6418327705, "<b>Баннер</b>\nПодтвердить?", parse_mode="HTML", reply_markup=markup
        )

    run_with_bot(emulator, files)
    quote = user_api(emulator, f"{user}/chat").json()["messages"][-1]
    assert quote["direction"] == "out"
    assert quote["keyboard"] == [[{"text": "✅ Подтвердить", "callback_data": "job:1"}]]

    answers: list[bool] = []

    def answer_callback(update: dict[str, Any]) -> None:
        query = update.get("callback_query")
        if query is not None:
            reply = HTTP.post(
                f"{emulator.base_url}/bot{emulator.token}/answerCallbackQuery",
                data={"callback_query_id": query["id"], "text": "Принято"},
            )
            answers.append(reply.json()["result"])

    receiver.on_update = answer_callback
    pressed = user_api(
        emulator, f"{user}/press", json={"message_id": quote["message_id"], "button": "job:1"}
    ).json()
    assert pressed["answered"] is True and pressed["answer"]["text"] == "Принято"
    assert answers == [True]
    assert_like_fixture(receiver.updates[-1].body, "callback_query")
    by_text = user_api(
        emulator,
        f"{user}/press",
        json={"message_id": quote["message_id"], "button": "✅ Подтвердить"},
    )
    assert by_text.status_code == 200
    missing = user_api(
        emulator, f"{user}/press", json={"message_id": quote["message_id"], "button": "nope"}
    )
    assert missing.status_code == 400
    old_button = user_api(
        emulator,
        f"{user}/press",
        json={"message_id": quote["message_id"], "button": "job:1", "inaccessible": True},
    )
    assert old_button.status_code == 200
    assert_like_fixture(receiver.updates[-1].body, "callback_query_inaccessible")

    blocked = user_api(emulator, f"{user}/block").json()
    assert blocked["delivered"] is True
    assert_like_fixture(receiver.updates[-1].body, "my_chat_member_blocked")

    async def after_block(bot: Bot) -> None:
        with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
            await bot.send_message(6418327705, "still there?")

    run_with_bot(emulator, after_block)
    # Writing again restarts the bot: first the unblock, then the message.
    user_api(emulator, f"{user}/send", json={"text": "/start"})
    assert_like_fixture(receiver.updates[-2].body, "my_chat_member_unblocked")
    assert_like_fixture(receiver.updates[-1].body, "message_start")
    for received in receiver.updates:
        assert Update.model_validate_json(received.raw).update_id == received.body["update_id"]
    update_ids = [r.body["update_id"] for r in receiver.updates]
    assert update_ids == sorted(update_ids) and len(set(update_ids)) == len(update_ids)
    assert receiver.refused_secrets == 0


def test_failed_webhook_answers_are_retried_then_dropped(
    emulator: TelegramEmulator, receiver: Receiver, receiver_url: str
) -> None:
    HTTP.post(
        f"{emulator.base_url}/bot{emulator.token}/setWebhook",
        data={"url": f"{receiver_url}/hook", "secret_token": SECRET},
    )
    receiver.failures.extend([500, 502])
    sent = user_api(emulator, "/users/504/send", json={"text": "hello"}).json()
    assert sent["delivered"] is True and sent["attempts"] == 3
    assert len(receiver.updates) == 1

    receiver.failures.extend([500, 500, 500])
    dropped = user_api(emulator, "/users/504/send", json={"text": "lost"}).json()
    assert dropped["delivered"] is False and dropped["webhook_status"] == 500
    info = HTTP.get(f"{emulator.base_url}/bot{emulator.token}/getWebhookInfo").json()["result"]
    assert "last_error_message" in info and "last_error_date" in info
    # The chat goes on in order after a dropped update.
    after = user_api(emulator, "/users/504/send", json={"text": "after"}).json()
    assert after["delivered"] is True and after["update_id"] == dropped["update_id"] + 1


def test_payments_stars_and_rubles(
    emulator: TelegramEmulator, receiver: Receiver, receiver_url: str
) -> None:
    def answer_pre_checkout(update: dict[str, Any]) -> None:
        query = update.get("pre_checkout_query")
        if query is not None:
            HTTP.post(
                f"{emulator.base_url}/bot{emulator.token}/answerPreCheckoutQuery",
                json={"pre_checkout_query_id": query["id"], "ok": True},
            )

    receiver.on_update = answer_pre_checkout
    add_anna(emulator)
    emulator.add_user(7245081936, "Дмитрий", language_code="ru", is_premium=True)

    async def invoices(bot: Bot) -> tuple[int, int]:
        await bot.set_webhook(f"{receiver_url}/hook", secret_token=SECRET)
        stars = await bot.send_invoice(
            6418327705,
            "Пополнение 250 ⭐",
            "Пополнение баланса",
            "topup:xtr:250:1",
            currency="XTR",
            prices=[LabeledPrice(label="250 ⭐", amount=250)],
        )
        assert stars.invoice is not None and stars.invoice.total_amount == 250
        assert stars.invoice.start_parameter == ""
        rub = await bot.send_invoice(
            7245081936,
            "Пополнение 500 ₽",
            "Пополнение баланса",
            "topup:rub:50000:2",
            provider_token="381764678:TEST:100",
            currency="RUB",
            need_email=True,
            prices=[
                LabeledPrice(label="Баланс", amount=45000),
                LabeledPrice(label="Бонус", amount=5000),
            ],
        )
        assert rub.invoice is not None and rub.invoice.total_amount == 50000
        with pytest.raises(TelegramBadRequest):
            await bot.send_invoice(
                6418327705,
                "t",
                "d",
                "p",
                currency="RUB",
                prices=[LabeledPrice(label="x", amount=100)],
            )
        return stars.message_id, rub.message_id

    stars_id, rub_id = run_with_bot(emulator, invoices)
    paid = user_api(emulator, "/users/6418327705/pay", json={"message_id": stars_id}).json()
    assert paid["paid"] is True
    assert_like_fixture(receiver.of_kind("pre_checkout_query")[-1], "pre_checkout_query_stars")
    stars_payment = receiver.updates[-1].body
    assert_like_fixture(stars_payment, "message_successful_payment_stars")
    charge = stars_payment["message"]["successful_payment"]
    assert charge["telegram_payment_charge_id"] == paid["telegram_payment_charge_id"]
    assert charge["provider_payment_charge_id"] == "6418327705_1"
    again = user_api(emulator, "/users/6418327705/pay", json={"message_id": stars_id})
    assert again.status_code == 409

    rub = user_api(
        emulator, "/users/7245081936/pay", json={"message_id": rub_id, "email": "d@example.com"}
    ).json()
    assert rub["paid"] is True
    assert_like_fixture(receiver.of_kind("pre_checkout_query")[-1], "pre_checkout_query_rub")
    assert_like_fixture(receiver.updates[-1].body, "message_successful_payment_rub")
    assert receiver.updates[-1].body["message"]["successful_payment"]["total_amount"] == 50000
    assert rub["telegram_payment_charge_id"] != paid["telegram_payment_charge_id"]

    async def refund(bot: Bot) -> None:
        assert await bot.refund_star_payment(6418327705, paid["telegram_payment_charge_id"])
        with pytest.raises(TelegramBadRequest, match="CHARGE_ALREADY_REFUNDED"):
            await bot.refund_star_payment(6418327705, paid["telegram_payment_charge_id"])

    run_with_bot(emulator, refund)
    refunded = receiver.wait_for(lambda body: "refunded_payment" in body.get("message", {}))
    assert_like_fixture(refunded, "message_refunded_payment")

    # A pre-checkout the bot refuses: no payment message.
    def refuse_pre_checkout(update: dict[str, Any]) -> None:
        query = update.get("pre_checkout_query")
        if query is not None:
            HTTP.post(
                f"{emulator.base_url}/bot{emulator.token}/answerPreCheckoutQuery",
                json={
                    "pre_checkout_query_id": query["id"],
                    "ok": False,
                    "error_message": "Товар закончился",
                },
            )

    receiver.on_update = refuse_pre_checkout

    async def third(bot: Bot) -> int:
        sent = await bot.send_invoice(
            6418327705,
            "Ещё",
            "Ещё раз",
            "topup:xtr:1:3",
            currency="XTR",
            prices=[LabeledPrice(label="1", amount=1)],
        )
        return sent.message_id

    refused = user_api(
        emulator, "/users/6418327705/pay", json={"message_id": run_with_bot(emulator, third)}
    ).json()
    assert refused["paid"] is False and refused["error_message"] == "Товар закончился"
    chat = user_api(emulator, "/users/6418327705/chat").json()["messages"]
    assert chat[0]["invoice"]["paid"] is True and chat[0]["invoice"]["currency"] == "XTR"


def test_long_polling_with_get_updates(emulator: TelegramEmulator) -> None:
    async def scenario(bot: Bot) -> list[Update]:
        timer = threading.Timer(
            0.3, lambda: user_api(emulator, "/users/505/send", json={"text": "polled"})
        )
        timer.start()
        first = await bot.get_updates(timeout=5)
        timer.join()
        assert len(first) == 1 and first[0].message is not None
        assert first[0].message.text == "polled"
        user_api(emulator, "/users/505/send", json={"text": "second"})
        confirmed = await bot.get_updates(offset=first[0].update_id + 1, timeout=1)
        assert [u.message.text for u in confirmed if u.message] == ["second"]
        empty = await bot.get_updates(offset=confirmed[0].update_id + 1, timeout=0)
        return empty

    assert run_with_bot(emulator, scenario) == []


def test_user_api_rejects_bad_requests(emulator: TelegramEmulator) -> None:
    assert user_api(emulator, "/users/506/send", json={}).status_code == 400
    assert user_api(emulator, "/users/999/chat").status_code == 404
    assert (
        user_api(emulator, "/users/999/press", json={"message_id": 1, "button": "x"}).status_code
        == 404
    )
    user_api(emulator, "/users/506/send", json={"text": "hi"})
    assert user_api(emulator, "/users/506/pay", json={"message_id": 1}).status_code == 404
    assert user_api(emulator, "/users/506/press", json={"button": "x"}).status_code == 400
    assert HTTP.get(f"{emulator.user_api_url}/nowhere").status_code == 404
    calls = user_api(emulator, "/calls").json()["calls"]
    assert calls == []
    updates = user_api(emulator, "/updates").json()["updates"]
    assert [u["kind"] for u in updates] == ["message"]


def test_download_needs_the_token(emulator: TelegramEmulator) -> None:
    sent = emulator.send_file(507, PNG_1280, file_name="p.png", mime_type="image/png")
    path = emulator.files.get(sent["file_id"])
    assert path is not None
    good = HTTP.get(f"{emulator.base_url}/file/bot{emulator.token}/{path.file_path}")
    assert good.status_code == 200 and good.content == PNG_1280
    bad = HTTP.get(f"{emulator.base_url}/file/bot1:other/{path.file_path}")
    assert bad.status_code == 401
    assert good.headers["Content-Type"] == "image/jpeg"  # a photo is served as Telegram's JPEG


def test_a_chats_updates_arrive_one_at_a_time_in_order(
    emulator: TelegramEmulator, receiver: Receiver, receiver_url: str
) -> None:
    HTTP.post(
        f"{emulator.base_url}/bot{emulator.token}/setWebhook",
        json={"url": f"{receiver_url}/hook", "secret_token": SECRET},
    )
    busy: dict[int, int] = {}
    overlaps: list[int] = []
    lock = threading.Lock()

    def slow_bot(update: dict[str, Any]) -> None:
        chat_id = update["message"]["chat"]["id"]
        with lock:
            busy[chat_id] = busy.get(chat_id, 0) + 1
            if busy[chat_id] > 1:
                overlaps.append(chat_id)
        time.sleep(0.03)
        with lock:
            busy[chat_id] -= 1

    receiver.on_update = slow_bot
    threads = [
        threading.Thread(
            target=user_api,
            args=(emulator, f"/users/{600 + n % 2}/send"),
            kwargs={"json": {"text": f"m{n}"}},
        )
        for n in range(8)
    ]
    for thread in threads:
        thread.start()
        time.sleep(0.005)  # start order = update order, so the check below is meaningful
    for thread in threads:
        thread.join()
    assert overlaps == []
    for chat_id in (600, 601):
        ids = [
            b["update_id"]
            for b in receiver.of_kind("message")
            if b["message"]["chat"]["id"] == chat_id
        ]
        assert len(ids) == 4 and ids == sorted(ids)
    users = {u["id"]: u for u in user_api(emulator, "/users").json()["users"]}
    assert users[600]["messages"] == 4 and users[601]["first_name"] == "User 601"


def test_a_host_can_mount_the_emulator_under_a_path() -> None:
    emulator = TelegramEmulator(user_api_prefix="/api")
    host = make_server(
        "127.0.0.1",
        0,
        DispatcherMiddleware(NotFound(), {"/tg": emulator.wsgi_app}),
        threaded=True,
    )
    thread = threading.Thread(target=host.serve_forever, daemon=True)
    thread.start()
    emulator.public_base_url = f"http://127.0.0.1:{host.server_port}/tg"
    emulator.start(serve=False)
    try:
        sent = HTTP.post(f"{emulator.user_api_url}/users/508/send", json={"text": "hi"}).json()
        assert sent["queued"] is True

        async def scenario(bot: Bot) -> None:
            updates = await bot.get_updates(timeout=1)
            assert [u.update_id for u in updates] == [sent["update_id"]]
            await bot.send_photo(508, BufferedInputFile(PNG_1280, "p.png"))

        async def main() -> None:
            api = TelegramAPIServer.from_base(emulator.public_base_url or "")
            bot = Bot(emulator.token, session=AiohttpSession(api=api))
            try:
                await scenario(bot)
            finally:
                await bot.session.close()

        asyncio.run(main())
        photo = HTTP.get(f"{emulator.user_api_url}/users/508/chat").json()["messages"][-1]
        assert photo["media"]["url"].startswith(f"{emulator.public_base_url}/api/files/")
        assert HTTP.get(photo["media"]["url"]).content == PNG_1280
    finally:
        emulator.stop()
        host.shutdown()
        host.server_close()


def test_user_api_client_profile_and_long_polled_chat(emulator: TelegramEmulator) -> None:
    users = UserApiClient(emulator.user_api_url)
    try:
        users.add_user(507, "Борис", language_code="en")
        profile = user_api(emulator, "/users").json()["users"]
        assert {"id": 507, "first_name": "Борис", "language_code": "en"}.items() <= next(
            u for u in profile if u["id"] == 507
        ).items()
        quiet = users.chat(507)
        assert quiet["messages"] == []

        # Nothing new: the long poll answers after its wait, with the same revision.
        began = time.monotonic()
        unchanged = users.chat(507, after=quiet["revision"], wait_s=0.3)
        assert time.monotonic() - began >= 0.25
        assert unchanged["revision"] == quiet["revision"]

        # The bot writes while the user waits: the poll answers at once with the message.
        async def write_later(bot: Bot) -> None:
            await asyncio.sleep(0.2)
            await bot.send_message(507, "Hello from the bot")

        waiter = threading.Thread(target=lambda: run_with_bot(emulator, write_later))
        waiter.start()
        began = time.monotonic()
        changed = users.chat(507, after=quiet["revision"], wait_s=10)
        waited = time.monotonic() - began
        waiter.join()
        assert waited < 5
        assert changed["revision"] > quiet["revision"]
        assert [m["text"] for m in changed["messages"]] == ["Hello from the bot"]

        # Blocking the bot changes what the chat view shows: a waiting poll answers with it.
        blocker = threading.Timer(0.2, lambda: user_api(emulator, "/users/507/block"))
        blocker.start()
        began = time.monotonic()
        blocked = users.chat(507, after=changed["revision"], wait_s=10)
        waited = time.monotonic() - began
        blocker.join()
        assert waited < 5
        assert blocked["blocked"] is True
        assert blocked["revision"] > changed["revision"]
    finally:
        users.close()
