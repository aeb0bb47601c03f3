"""Receipt OCR with the real tesseract: rendered receipts, bad input, no OCR, the smoke script.

Tesseract runs single-threaded (OMP_THREAD_LIMIT=1), which is the fastest on a
small machine; each reading takes one to two seconds.
"""

from __future__ import annotations

import io
import os
import stat
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from PIL import Image

from scripts.receipts.render import render_receipt
from shared.payments.receipt_ocr import (
    MAX_IMAGE_BYTES,
    OcrUnavailable,
    ReceiptImageError,
    read_receipt,
)

ROOT = Path(__file__).resolve().parents[2]
os.environ.setdefault("OMP_THREAD_LIMIT", "1")


@pytest.mark.parametrize(
    ("seed", "layout", "degradation", "turned"),
    [
        (101, "sber", "clean", 0),
        (102, "tbank", "rotate90", 90),
        (103, "vtb", "rotate180", 180),
        (104, "alfa", "low_contrast", 0),
        (105, "sbp", "photo", 0),
    ],
)
def test_rendered_receipts_are_read(seed: int, layout: str, degradation: str, turned: int) -> None:
    receipt = render_receipt(seed, layout=layout, degradation=degradation)
    reading = read_receipt(receipt.image)
    assert reading.amount_kopecks == receipt.truth.amount_kopecks, reading.text
    assert reading.paid_on == receipt.truth.paid_on, reading.text
    assert reading.payment_code == receipt.truth.payment_code, reading.text
    assert reading.rotated_degrees == turned
    assert "\n" in reading.text


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares `width`×`height` pixels in a few hundred bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\0" * 4096, 9)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def _image_bytes(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def test_not_an_image_is_refused() -> None:
    for data in (b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n", b"hello", b"\0" * 100):
        with pytest.raises(ReceiptImageError, match="not an image"):
            read_receipt(data)
    with pytest.raises(ReceiptImageError, match="empty"):
        read_receipt(b"")


def test_a_picture_without_text_is_read_as_nothing_not_as_ocr_down() -> None:
    """Tesseract's "too few characters" is an answer about the picture, not an outage."""
    picture = Image.new("RGB", (800, 600), (120, 160, 200))
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    reading = read_receipt(buffer.getvalue())
    assert (reading.amount_kopecks, reading.transaction_id, reading.paid_on) == (None, None, None)


def test_a_25_mb_image_is_refused() -> None:
    data = _image_bytes(Image.new("RGB", (2900, 2900), "white"), "BMP")
    assert len(data) > 25_000_000 > MAX_IMAGE_BYTES
    with pytest.raises(ReceiptImageError, match=r"25\.\d MB; the limit is 20 MB"):
        read_receipt(data)


def test_decompression_bombs_are_refused() -> None:
    # 2.5 gigapixels: Pillow itself calls it a bomb before reading a pixel.
    with pytest.raises(ReceiptImageError, match="decompression bomb"):
        read_receipt(_png_header(50_000, 50_000))
    # 64 megapixels in a few hundred bytes: over our own limit.
    with pytest.raises(ReceiptImageError, match="megapixels"):
        read_receipt(_png_header(8_000, 8_000))
    with pytest.raises(ReceiptImageError, match="pixels a side"):
        read_receipt(_png_header(20_000, 100))


def test_a_truncated_or_tiny_image_is_refused() -> None:
    whole = render_receipt(1, layout="sber").image
    with pytest.raises(ReceiptImageError, match="damaged or truncated"):
        read_receipt(whole[: len(whole) // 2])
    with pytest.raises(ReceiptImageError, match="too small"):
        read_receipt(_image_bytes(Image.new("RGB", (20, 20), "white"), "PNG"))


def test_ocr_unavailable_without_the_binary(monkeypatch: pytest.MonkeyPatch) -> None:
    import pytesseract

    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", "/nonexistent/tesseract")
    with pytest.raises(OcrUnavailable, match="not installed"):
        read_receipt(render_receipt(1, layout="sber").image)


def test_ocr_unavailable_without_russian(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import pytesseract

    fake = tmp_path / "tesseract"
    fake.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        '  --version) echo "tesseract 5.3.0" ;;\n'
        "  --list-langs) printf 'List of available languages in \"/x/\" (2):\\neng\\nosd\\n' ;;\n"
        "esac\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", str(fake))
    with pytest.raises(OcrUnavailable, match="lacks language data rus"):
        read_receipt(render_receipt(1, layout="sber").image)


def _smoke(**env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "OMP_THREAD_LIMIT": "1", **env}
    return subprocess.run(
        [sys.executable, "-m", "scripts.ocr_smoke"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_ocr_smoke_reads_its_receipt() -> None:
    done = _smoke()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rus: yes" in done.stdout
    assert "OK: the amount and the date were read right" in done.stdout


def test_ocr_smoke_fails_without_tesseract() -> None:
    done = _smoke(TESSERACT_CMD="/nonexistent/tesseract")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "UNAVAILABLE" in done.stdout
