"""Small but real result files, generated in memory at start: PNG, MP3, MP4, TXT and JSON.

No downloads and no codecs: the PNG is zlib + struct, the MP3 is silent MPEG-1 Layer III frames,
the MP4 is an H.264 Baseline stream of I_PCM macroblocks (raw samples, no transform) in an
ISO BMFF container (see mp4.py). Every file is small enough to keep in memory.
"""

from __future__ import annotations

import functools
import json
import struct
import threading
import zlib
from dataclasses import dataclass

from scripts.kie_simulator.mp4 import build_mp4

PNG_SIZE = 64
MP3_SECONDS = 2.0
VIDEO_WIDTH = 64
VIDEO_HEIGHT = 48
VIDEO_FPS = 10
VIDEO_SECONDS = 2

# MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, mono: 1152 samples per frame, 417 bytes without padding.
MP3_FRAME_HEADER = bytes((0xFF, 0xFB, 0x90, 0xC4))
MP3_FRAME_BYTES = 144 * 128_000 // 44_100
MP3_SAMPLES_PER_FRAME = 1152
MP3_SAMPLE_RATE = 44_100


GENERATED_BY_EXTENSION = {
    "png": "result.png",
    "mp3": "result.mp3",
    "mp4": "result.mp4",
    "txt": "result.txt",
    "json": "result.json",
}


@dataclass(frozen=True)
class MediaFile:
    name: str
    content_type: str
    data: bytes


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def make_png(size: int = PNG_SIZE) -> bytes:
    """An RGB gradient: recognisably generated, and a decoder must really inflate it to see it."""
    rows = bytearray()
    for y in range(size):
        rows.append(0)  # filter type None for each scanline
        for x in range(size):
            rows += bytes((x * 255 // (size - 1), y * 255 // (size - 1), 160))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + _png_chunk(b"IEND", b"")
    )


def make_mp3(seconds: float = MP3_SECONDS) -> bytes:
    """Silent frames: an all-zero side info means part2_3_length 0, i.e. no coded samples.

    A decoder plays them as digital silence of the right length; that is enough for a player,
    a duration probe or a Telegram upload, which is what a result file is for here.
    """
    frames = int(seconds * MP3_SAMPLE_RATE / MP3_SAMPLES_PER_FRAME) + 1
    frame = MP3_FRAME_HEADER + bytes(MP3_FRAME_BYTES - len(MP3_FRAME_HEADER))
    return frame * frames


def make_text(task_hint: str = "") -> bytes:
    text = "Simulated KIE text result.\n" + (f"Prompt: {task_hint}\n" if task_hint else "")
    return text.encode()


@functools.cache
def generated_files() -> tuple[MediaFile, ...]:
    """Made once per process, on first use: the MP4 takes ~0.2 s of pure Python."""
    text = make_text()
    return (
        MediaFile("result.png", "image/png", make_png()),
        MediaFile("result.mp3", "audio/mpeg", make_mp3()),
        MediaFile(
            "result.mp4",
            "video/mp4",
            build_mp4(VIDEO_WIDTH, VIDEO_HEIGHT, VIDEO_FPS, VIDEO_FPS * VIDEO_SECONDS),
        ),
        MediaFile("result.txt", "text/plain; charset=utf-8", text),
        MediaFile(
            "result.json",
            "application/json",
            json.dumps({"text": text.decode()}).encode(),
        ),
    )


class MediaStore:
    """The files the simulator serves at /files/<name>: the generated ones and uploads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[str, MediaFile] = {item.name: item for item in generated_files()}

    def get(self, name: str) -> MediaFile | None:
        return self._files.get(name)

    def resolve(self, path: str) -> MediaFile | None:
        """An upload by its path, else the generated file of the same type (`<task>/<any>.mp4`)."""
        item = self._files.get(path)
        if item is not None or path.startswith("uploads/"):
            return item
        extension = path.rsplit(".", 1)[-1].lower() if "." in path else ""
        return self._files.get(GENERATED_BY_EXTENSION.get(extension, ""))

    def put(self, name: str, content_type: str, data: bytes) -> MediaFile:
        item = MediaFile(name, content_type, data)
        with self._lock:
            self._files[name] = item
        return item

    def names(self) -> tuple[str, ...]:
        return tuple(self._files)
