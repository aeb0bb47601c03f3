"""Smoke test of receipt OCR: is tesseract there, with Russian, and does it read a receipt?

    python -m scripts.ocr_smoke [--tesseract-cmd PATH] [--layout sber] [--degradation clean]

Prints tesseract's version and languages, renders a receipt itself
(scripts/receipts/render.py), reads it with shared.payments.receipt_ocr and prints
the fields next to the truth. Exit status: 0 when the amount and the date are read
right, 1 when recognition fails, 2 when OCR is unavailable (no tesseract binary,
or no rus/eng data). The tesseract command is --tesseract-cmd, else $TESSERACT_CMD,
else "tesseract" on PATH.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from scripts.receipts.render import DEGRADATIONS, LAYOUTS, render_receipt
from shared.payments.receipt_ocr import (
    OcrUnavailable,
    ReceiptReading,
    check_ocr,
    read_receipt,
)


def _rubles(kopecks: int | None) -> str:
    return "—" if kopecks is None else f"{kopecks // 100}.{kopecks % 100:02d} ₽"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tesseract-cmd", default=os.environ.get("TESSERACT_CMD"))
    parser.add_argument("--layout", choices=LAYOUTS, default="sber")
    parser.add_argument("--degradation", choices=DEGRADATIONS, default="clean")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    import pytesseract

    if args.tesseract_cmd:
        pytesseract.pytesseract.tesseract_cmd = args.tesseract_cmd
    command = pytesseract.pytesseract.tesseract_cmd
    try:
        version = check_ocr()
    except OcrUnavailable as error:
        print(f"tesseract ({command}): UNAVAILABLE — {error}")
        return 2
    languages = sorted(pytesseract.get_languages(config=""))
    print(f"tesseract ({command}): {version}")
    print(f"languages: {', '.join(languages)} (rus: {'yes' if 'rus' in languages else 'NO'})")

    receipt = render_receipt(args.seed, layout=args.layout, degradation=args.degradation)
    truth = receipt.truth
    print(
        f"receipt: {truth.layout}, {truth.degradation}, {truth.font}, "
        f"{receipt.width}×{receipt.height} {receipt.image_format}, {len(receipt.image)} bytes"
    )
    started = time.perf_counter()
    try:
        reading: ReceiptReading = read_receipt(receipt.image)
    except OcrUnavailable as error:
        print(f"OCR failed: {error}")
        return 2
    seconds = time.perf_counter() - started
    rows = (
        ("amount", _rubles(reading.amount_kopecks), _rubles(truth.amount_kopecks)),
        ("date", str(reading.paid_on), str(truth.paid_on)),
        ("payment code", str(reading.payment_code), truth.payment_code),
        ("transaction id", str(reading.transaction_id), truth.transaction_id),
        ("turned", f"{reading.rotated_degrees}°", "—"),
    )
    print(f"read in {seconds:.2f} s")
    for name, got, want in rows:
        mark = "" if want == "—" else ("  ok" if got == want else "  MISMATCH")
        print(f"  {name:<15} {got:<34} truth {want}{mark}")
    if reading.amount_kopecks == truth.amount_kopecks and reading.paid_on == truth.paid_on:
        print("OK: the amount and the date were read right")
        return 0
    print("FAILED: the amount or the date was not read right; the text was:")
    print(reading.text)
    return 1


if __name__ == "__main__":
    sys.exit(main())
