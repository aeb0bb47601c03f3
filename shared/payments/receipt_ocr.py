"""Reading a bank-transfer receipt (a screenshot or a photo) with tesseract.

    read_receipt(image_bytes) -> ReceiptReading(amount_kopecks, paid_on, payment_code,
                                                transaction_id, text, rotated_degrees)

The reading is a suggestion for the admin who approves the payment; it never
credits money by itself. The work, in order:

1. Check the bytes (size, a known image format, dimensions, decompression bombs),
   else ReceiptImageError; check tesseract and its Russian data, else OcrUnavailable.
2. Pillow: EXIF transpose, grayscale, invert a dark theme, autocontrast, scale so
   that text is large enough for tesseract (small screenshots up, big photos down).
3. Orientation: tesseract's OSD when it is confident; otherwise the candidates are
   tried in turn and the best-scoring reading kept (word confidence plus receipt
   keywords and fields found).
4. Recognition (rus+eng, LSTM, one column of text of varied sizes); when the first
   reading is weak (no amount, few words recognised with confidence), again on an
   adaptively binarised image (local-mean threshold: glare, uneven light, low
   contrast), keeping the better reading.
5. Parsing the text (parse_receipt_text, pure and tested on its own): the amount
   from lines with amount keywords or a currency mark, never from commission,
   balance or id lines; the date; the transaction id (an SBP id first, then a
   labelled operation or document number); the payment code (codes.find_payment_code).
"""

from __future__ import annotations

import io
import os
import re
import threading
import warnings
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from shared.payments.codes import find_expected_code, find_payment_code

if TYPE_CHECKING:
    from PIL import Image

MAX_IMAGE_BYTES = 20_000_000  # Telegram lets a bot download files up to 20 MB
MAX_PIXELS = 40_000_000
MAX_SIDE = 12_000
MIN_SIDE = 32
LANGUAGES = "rus+eng"
ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF")
OCR_TIMEOUT_S = 30
MAX_AMOUNT_KOPECKS = 100_000_000_00  # 100 million rubles: anything larger is an id


class ReceiptOcrError(Exception):
    """Base of the errors read_receipt raises."""


class ReceiptImageError(ReceiptOcrError):
    """The bytes are not an image we can read (the message says why, for the user)."""


class OcrUnavailable(ReceiptOcrError):
    """Tesseract or its Russian language data is missing, or it failed to run."""


@dataclass(frozen=True)
class ReceiptFields:
    amount_kopecks: int | None
    paid_on: date | None
    payment_code: str | None
    transaction_id: str | None


@dataclass(frozen=True)
class ReceiptReading:
    amount_kopecks: int | None
    paid_on: date | None
    payment_code: str | None
    transaction_id: str | None
    text: str
    rotated_degrees: int  # how far the picture was turned clockwise to read it: 0/90/180/270


# --- text → fields ------------------------------------------------------------------------

_SPACES = str.maketrans(
    {"\u00a0": " ", "\u2009": " ", "\u202f": " ", "\u2007": " ", "\u2002": " ", "\t": " "}
)
_DASHES = str.maketrans({c: "-" for c in "‐‑‒–—―−"})
_WORD_CHAR = r"A-Za-zА-Яа-яЁё"
_OCR_ZERO = re.compile(rf"(?<=\d)[OoОо]+|[OoОо]+(?=\d)|(?<=\d[.,])[OoОо]{{2}}(?![{_WORD_CHAR}])")
_CURRENCY = rf"(?:₽|руб\.?|рублей|рубля|рубль|р\.|RUB|RUR|Р(?![{_WORD_CHAR}])|P(?![{_WORD_CHAR}]))"
# ₽ read as "2" glued to a Russian decimal amount: "310,002" is "310,00 ₽".
_RUBLE_AS_TWO = re.compile(r"(?<![\d,])(\d{1,3}(?: \d{3})*,\d\d)2(?=\s|$)")
_RUBLE_AS_TWO_SPACED = re.compile(r"(\d,\d\d|\d{3}) 2$")
_BARE_NUMBER_TWO = re.compile(r"\d{1,3}(?: \d{3})*2")
_AMOUNT = re.compile(
    r"(?<![\d.,])"
    r"(?P<int>\d{1,3}(?: \d{3})+|\d{1,3}(?:,\d{3})+(?=\.\d\d(?!\d))|\d+)"
    r"(?:(?P<sep>[.,])(?P<frac>\d{2})|\s?(?P<dash>[.,]-{1,2}))?"
    r"(?![\d])(?!,\d)(?!\.\d)"
)
_CURRENCY_AFTER = re.compile(rf"^\s?{_CURRENCY}", re.IGNORECASE)
_CURRENCY_BEFORE = re.compile(r"(?:RUB|RUR|₽)\s?$", re.IGNORECASE)
_STRONG_AMOUNT_WORDS = re.compile(
    r"сумм|итог|amount|total|к оплате|оплачено|списан|зачислен|переведено|sum\b|paid|debited",
    re.IGNORECASE,
)
_WEAK_AMOUNT_WORDS = re.compile(r"перев[оe]д|платеж|платёж|оплат|transfer|payment", re.IGNORECASE)
_NOT_AMOUNT_WORDS = re.compile(
    r"комисс|commission|\bfee\b|fees|остат|баланс|balance|доступн|available|кэшб|кешб|cashback"
    r"|бонус|bonus|лимит|limit|курс|rate",
    re.IGNORECASE,
)
_ID_WORDS = re.compile(
    r"номер|№|\bкод\b|код авториз|телефон|phone|сч[её]т|account|карт|card|инн|бик|кпп|\bid\b"
    r"|идентификатор|квитанц|документ|транзакц|transaction|reference|огрн|лиценз|license|\+7",
    re.IGNORECASE,
)

_MONTHS_RU = {
    "янв": 1, "фев": 2, "мар": 3, "апр": 4, "мая": 5, "май": 5, "июн": 6, "июл": 7,
    "авг": 8, "сен": 9, "окт": 10, "ноя": 11, "дек": 12,
}  # fmt: skip
_MONTHS_EN = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8,
    "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_DATE_NUMERIC = re.compile(r"(?<!\d)(\d{1,2})[./](\d{1,2})[./](\d{4}|\d{2})(?!\d)")
_DATE_ISO = re.compile(r"(?<!\d)(\d{4})[-./](\d{2})[-./](\d{2})(?!\d)")
_DATE_RU_WORDS = re.compile(
    r"(?<!\d)(\d{1,2})\s*(янв|фев|мар|апр|ма[йя]|июн|июл|авг|сен|окт|ноя|дек)[а-яё]*\.?,?\s*"
    r"(\d{4})(?!\d)",
    re.IGNORECASE,
)
_DATE_EN_DAY_FIRST = re.compile(
    r"(?<!\d)(\d{1,2})\s+(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?,?\s+(\d{4})",
    re.IGNORECASE,
)
_DATE_EN_MONTH_FIRST = re.compile(
    r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+(\d{1,2}),?\s+(\d{4})",
    re.IGNORECASE,
)
_TIME = re.compile(r"(?<!\d)\d{1,2}[:.]\d{2}(?:[:.]\d{2})?(?!\d)")
_DATE_WORDS = re.compile(r"дата|date|время|time|операци|оплат|перевод|paid", re.IGNORECASE)

_HOMOGLYPHS = str.maketrans(
    {"А": "A", "В": "B", "С": "C", "Е": "E", "Н": "H", "К": "K", "М": "M", "О": "O",
     "Р": "P", "Т": "T", "Х": "X", "У": "Y", "З": "3"}
)  # fmt: skip
# Latin letters OCR puts into Russian words ("Homep" for "Номер"), for matching labels.
_CYRILLISE = str.maketrans("aceHhkKmMoOpPTtxXyBu", "асеННккммооррттххуви")
_SBP_ID = re.compile(r"(?<![0-9A-Z])([AB]\d{4}[0-9A-Z]{27})(?![0-9A-Z])")
_TXN_LABELS: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"(?:идентификатор|номер|id|№)\s*(?:операции|транзакции|платежа)"
                r"(?:\s*в\s*сбп)?", re.IGNORECASE), 3),
    (re.compile(r"(?:transaction|operation|payment)\s*(?:id|no\.?|number|#)", re.IGNORECASE), 3),
    (re.compile(r"(?:номер|№)\s*(?:документа|перевода|квитанции|чека)", re.IGNORECASE), 2),
    (re.compile(r"квитанция\s*(?:№|N[o°]?|#)", re.IGNORECASE), 1),
    (re.compile(r"(?:документ|чек)\s*(?:№|N[o°]?|#)", re.IGNORECASE), 1),
)  # fmt: skip
_TXN_VALUE = re.compile(r"[0-9A-ZА-ЯЁ][0-9A-ZА-ЯЁ\-/]{3,47}", re.IGNORECASE)


@dataclass(frozen=True)
class _AmountCandidate:
    kopecks: int
    score: float
    position: int


def _cyrillised(text: str) -> str:
    """The same text, same length, with Latin look-alikes read as Cyrillic (labels only)."""
    return text.translate(_CYRILLISE)


def _mentions(pattern: re.Pattern[str], text: str) -> bool:
    return bool(pattern.search(text) or pattern.search(_cyrillised(text)))


# "300, 59 руб.": OCR puts a space after the decimal comma.
_SPLIT_DECIMAL = re.compile(r"(?<=\d)([.,]) (?=\d\d(?![\d:]))")
_NUMERO = re.compile(r"(?<![A-Za-z])(?:N[eoº°]|Ne|N)\.?(?=\s?\d)")


def normalise_text(text: str) -> str:
    """Unify spaces and dashes, and read O as 0 where it touches digits."""
    lines = []
    for raw in text.translate(_SPACES).translate(_DASHES).splitlines():
        line = re.sub(r" {2,}", " ", raw).strip()
        line = _OCR_ZERO.sub(lambda m: "0" * len(m.group(0)), line)
        line = _SPLIT_DECIMAL.sub(r"\1", line)
        lines.append(_NUMERO.sub("№", line))
    return "\n".join(lines)


def _strip_dates_and_times(line: str) -> str:
    for pattern in (_DATE_ISO, _DATE_NUMERIC, _DATE_RU_WORDS, _DATE_EN_DAY_FIRST,
                    _DATE_EN_MONTH_FIRST, _TIME):  # fmt: skip
        line = pattern.sub(lambda m: " " * len(m.group(0)), line)
    return line


def _letters(line: str) -> str:
    return re.sub(rf"[^{_WORD_CHAR}]", "", re.sub(_CURRENCY, "", line, flags=re.IGNORECASE))


def _to_kopecks(match: re.Match[str]) -> int | None:
    whole = match.group("int").replace(" ", "").replace(",", "")
    if len(whole) > 1 and whole.startswith("0"):
        return None
    frac = match.group("frac") or "00"
    kopecks = int(whole) * 100 + int(frac)
    if kopecks <= 0 or kopecks >= MAX_AMOUNT_KOPECKS:
        return None
    return kopecks


def _amount_candidates(lines: list[str]) -> list[_AmountCandidate]:
    candidates: list[_AmountCandidate] = []
    previous_label = ""
    # Tesseract's models do not know "₽" and often write "2". Where a decimal amount
    # shows it ("310,002" cannot be Russian money), a bare number ending in 2 alone on
    # its line ("4162" under "Сумма перевода") is read as "416 ₽" too.
    ruble_as_two = any(_RUBLE_AS_TWO.search(line) for line in lines)
    for index, raw in enumerate(lines):
        line = _RUBLE_AS_TWO.sub(r"\1 ₽", raw)
        if ruble_as_two and _BARE_NUMBER_TWO.fullmatch(line):
            line = line[:-1].rstrip() + " ₽"
        label_here = _letters(line)
        # A value-only line takes its meaning from the label line above it.
        context = line if len(label_here) >= 3 else f"{previous_label} {line}"
        if len(label_here) >= 3 and not re.search(r"\d", line):
            previous_label = line
            continue
        if not line:
            continue
        previous_label = line if len(label_here) >= 3 else previous_label
        if _mentions(_NOT_AMOUNT_WORDS, context):
            continue
        id_line = _mentions(_ID_WORDS, context)
        searchable = _strip_dates_and_times(line)
        if re.fullmatch(r"[^\d]*\d[\d ,.]*\d[^\d]*", searchable) and _RUBLE_AS_TWO_SPACED.search(
            searchable
        ):
            searchable = searchable[:-2] + " ₽"
        for match in _AMOUNT.finditer(searchable):
            kopecks = _to_kopecks(match)
            if kopecks is None:
                continue
            before = searchable[: match.start()]
            after = searchable[match.end() :]
            has_currency = bool(_CURRENCY_AFTER.match(after) or _CURRENCY_BEFORE.search(before))
            digits = len(match.group("int").replace(" ", "").replace(",", ""))
            grouped = " " in match.group("int") or "," in match.group("int")
            if id_line and not has_currency:
                continue
            if digits >= 7 and not grouped and not has_currency:
                continue  # a long bare number is an id, not money
            score = 0.0
            if _mentions(_STRONG_AMOUNT_WORDS, context):
                score += 4
            elif _mentions(_WEAK_AMOUNT_WORDS, context):
                score += 2
            if has_currency:
                score += 3
            if grouped:
                score += 0.5
            if not _letters(searchable.replace(match.group(0), "")):
                score += 0.5  # the amount stands alone, as the big number on top does
            if score < 2:
                continue  # a bare number without a keyword or a currency
            candidates.append(_AmountCandidate(kopecks, score, index))
    return candidates


def parse_amount(text: str) -> int | None:
    """The transferred amount in kopecks, or None when no line looks like one."""
    candidates = _amount_candidates(normalise_text(text).splitlines())
    if not candidates:
        return None
    totals: dict[int, float] = {}
    for candidate in candidates:
        # The same amount in the big header and in the "Сумма" row adds up.
        totals[candidate.kopecks] = totals.get(candidate.kopecks, 0) + candidate.score
    first_seen = {c.kopecks: c.position for c in reversed(candidates)}
    return max(totals, key=lambda k: (totals[k], -first_seen[k]))


def _valid_date(year: int, month: int, day: int) -> date | None:
    if year < 100:
        year += 2000
    if not 2000 <= year <= 2100:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _dates_in(line: str) -> list[date]:
    found: list[tuple[int, date]] = []
    for m in _DATE_ISO.finditer(line):
        if (value := _valid_date(int(m[1]), int(m[2]), int(m[3]))) is not None:
            found.append((m.start(), value))
    for m in _DATE_NUMERIC.finditer(line):
        if (value := _valid_date(int(m[3]), int(m[2]), int(m[1]))) is not None:
            found.append((m.start(), value))
    for m in _DATE_RU_WORDS.finditer(line):
        month = _MONTHS_RU[m[2].lower()[:3]]
        if (value := _valid_date(int(m[3]), month, int(m[1]))) is not None:
            found.append((m.start(), value))
    for m in _DATE_EN_DAY_FIRST.finditer(line):
        month = _MONTHS_EN[m[2].lower()[:3]]
        if (value := _valid_date(int(m[3]), month, int(m[1]))) is not None:
            found.append((m.start(), value))
    for m in _DATE_EN_MONTH_FIRST.finditer(line):
        month = _MONTHS_EN[m[1].lower()[:3]]
        if (value := _valid_date(int(m[3]), month, int(m[2]))) is not None:
            found.append((m.start(), value))
    return [value for _, value in sorted(found, key=lambda item: item[0])]


def parse_date(text: str) -> date | None:
    """The operation's date: one on (or under) a date label first, else the first date."""
    lines = normalise_text(text).splitlines()
    best: tuple[int, int, date] | None = None
    for index, line in enumerate(lines):
        dates = _dates_in(line)
        if not dates:
            continue
        context = line
        if index > 0 and len(_letters(_strip_dates_and_times(line))) < 3:
            context = f"{lines[index - 1]} {line}"  # a value-only line under its label
        rank = 0 if _mentions(_DATE_WORDS, context) else 1
        if re.search(r"рожд|birth|выдан|действ|valid|expir", context, re.IGNORECASE):
            rank = 2
        if best is None or (rank, index) < best[:2]:
            best = (rank, index, dates[0])
    return best[2] if best is not None else None


def _clean_id(value: str) -> str:
    return value.strip(" .,:;-/").translate(_HOMOGLYPHS).upper()


def parse_transaction_id(text: str) -> str | None:
    """An SBP operation id anywhere, else the value of an operation/document number label."""
    normalised = normalise_text(text)
    upper = normalised.translate(_HOMOGLYPHS).upper()
    for line in upper.splitlines():
        joined = re.sub(r"(?<=[0-9A-Z]) (?=[0-9A-Z])", "", line)
        for token in re.findall(r"[0-9A-Z]{30,34}", joined):
            token = token.replace("O", "0") if token[1:5].isdigit() else token
            if (m := _SBP_ID.search(token)) is not None:
                return m.group(1)
        if (m := _SBP_ID.search(line)) is not None:
            return m.group(1)
    lines = normalised.splitlines()
    best: tuple[int, int, str] | None = None
    for index, line in enumerate(lines):
        for label, priority in _TXN_LABELS:
            found = label.search(line) or label.search(_cyrillised(line))
            if found is None:
                continue
            rest = line[found.end() :].lstrip(" :№#.")
            values = [rest] + ([lines[index + 1]] if index + 1 < len(lines) else [])
            for value in values:
                m = _TXN_VALUE.search(value)
                if m is None or sum(ch.isdigit() for ch in m.group(0)) < 4:
                    continue
                candidate = _clean_id(m.group(0))
                if best is None or (priority, -index) > best[:2]:
                    best = (priority, -index, candidate)
                break
    return best[2] if best is not None else None


def parse_receipt_text(text: str, expected_code: str | None = None) -> ReceiptFields:
    """Every field tesseract's text gives; each is None when the text does not show it.
    With `expected_code`, a code within one OCR slip of it is that code."""
    if expected_code is not None and find_expected_code(text, expected_code):
        payment_code: str | None = expected_code
    else:
        payment_code = find_payment_code(text)
    return ReceiptFields(
        amount_kopecks=parse_amount(text),
        paid_on=parse_date(text),
        payment_code=payment_code,
        transaction_id=parse_transaction_id(text),
    )


# --- bytes → image ------------------------------------------------------------------------


def load_image(data: bytes) -> Image.Image:
    """The first frame as an RGB or L image, after every check; else ReceiptImageError."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not data:
        raise ReceiptImageError("the file is empty")
    if len(data) > MAX_IMAGE_BYTES:
        raise ReceiptImageError(
            f"the file is {len(data) / 1_000_000:.1f} MB; "
            f"the limit is {MAX_IMAGE_BYTES // 1_000_000} MB"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
            width, height = opened.size
            if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
                raise ReceiptImageError(
                    f"the image is {width}×{height} pixels; the limit is "
                    f"{MAX_PIXELS // 1_000_000} megapixels and {MAX_SIDE} pixels a side"
                )
            if min(width, height) < MIN_SIDE:
                raise ReceiptImageError(f"the image is {width}×{height} pixels, too small to read")
            opened.seek(0)
            opened.load()
            picture = ImageOps.exif_transpose(opened)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ReceiptImageError(f"the image is a decompression bomb: {error}") from error
    except UnidentifiedImageError as error:
        formats = ", ".join(ALLOWED_FORMATS)
        raise ReceiptImageError(f"the file is not an image (accepted: {formats})") from error
    except (OSError, ValueError, SyntaxError) as error:
        raise ReceiptImageError(f"the image is damaged or truncated: {error}") from error
    if picture.mode in {"RGBA", "LA", "PA"} or "transparency" in picture.info:
        rgba = picture.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return picture.convert("RGB") if picture.mode not in {"RGB", "L"} else picture


# --- preprocessing ------------------------------------------------------------------------

_TARGET_SHORT_SIDE = 1000
_MAX_UPSCALE = 3.0
_MAX_SHORT_SIDE = 1800


def _percentile(histogram: list[int], fraction: float) -> int:
    total = sum(histogram)
    running = 0
    for value, count in enumerate(histogram):
        running += count
        if running >= total * fraction:
            return value
    return 255


def prepare(picture: Image.Image) -> Image.Image:
    """Grayscale, dark text on light, full contrast, text at a size tesseract reads well."""
    from PIL import Image, ImageOps

    gray = picture.convert("L")
    width, height = gray.size
    centre = gray.crop((width // 5, height // 5, width - width // 5, height - height // 5))
    if _percentile(centre.histogram(), 0.5) < 100:
        gray = ImageOps.invert(gray)  # a dark theme: light text on a dark background
    short = min(width, height)
    factor = 1.0
    if short < _TARGET_SHORT_SIDE:
        factor = min(_MAX_UPSCALE, _TARGET_SHORT_SIDE / short)
    elif short > _MAX_SHORT_SIDE:
        factor = _MAX_SHORT_SIDE / short
    if factor != 1.0:
        size = (round(width * factor), round(height * factor))
        gray = gray.resize(size, Image.Resampling.LANCZOS)
    return ImageOps.autocontrast(gray, cutoff=(1, 1))


def binarise(gray: Image.Image) -> Image.Image:
    """Black text on white by comparing each pixel to its neighbourhood's mean, which
    survives glare, uneven light and low contrast better than one global threshold."""
    from PIL import ImageChops, ImageFilter, ImageOps

    smooth = gray.filter(ImageFilter.MedianFilter(3))
    radius = max(8, min(gray.size) // 40)
    background = smooth.filter(ImageFilter.BoxBlur(radius))
    darker = ImageChops.subtract(background, smooth)  # > 0 where darker than around it
    spread = _percentile(darker.histogram(), 0.99)
    threshold = max(8, spread // 3)
    ink = darker.point(lambda v: 255 if v > threshold else 0)
    return ImageOps.invert(ink)


# --- tesseract ----------------------------------------------------------------------------

_availability_lock = threading.Lock()
_available: dict[str, str] = {}


def _pytesseract() -> Any:
    import pytesseract

    return pytesseract


def check_ocr() -> str:
    """Tesseract's version when it and the Russian data are installed; else OcrUnavailable."""
    pytesseract = _pytesseract()
    command = str(pytesseract.pytesseract.tesseract_cmd)
    with _availability_lock:
        if command in _available:
            return _available[command]
    try:
        version = str(pytesseract.get_tesseract_version())
        languages = set(pytesseract.get_languages(config=""))
    except (pytesseract.TesseractNotFoundError, OSError) as error:
        raise OcrUnavailable(f"tesseract is not installed or not runnable ({command})") from error
    except pytesseract.TesseractError as error:
        raise OcrUnavailable(f"tesseract failed to start: {error}") from error
    missing = {"rus", "eng"} - languages
    if missing:
        raise OcrUnavailable(
            f"tesseract {version} lacks language data {', '.join(sorted(missing))} "
            f"(has: {', '.join(sorted(languages)) or 'none'})"
        )
    with _availability_lock:
        _available[command] = version
    return version


def _run(call: Any, *args: Any, **kwargs: Any) -> Any:
    pytesseract = _pytesseract()
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # one thread is faster on small machines
    try:
        return call(*args, timeout=OCR_TIMEOUT_S, **kwargs)
    except pytesseract.TesseractNotFoundError as error:
        raise OcrUnavailable("tesseract is not installed or not runnable") from error
    except pytesseract.TesseractError:
        raise  # an answer about the picture ("too few characters"): the caller decides
    except RuntimeError as error:  # pytesseract's timeout (TesseractError is one too)
        raise OcrUnavailable(f"tesseract did not finish: {error}") from error


@dataclass(frozen=True)
class _Pass:
    text: str
    confidence: float  # mean word confidence, 0..100
    fields: ReceiptFields
    rotated: int
    score: float


_KEYWORDS = re.compile(
    r"сумма|итого|комисси|перевод|операци|получател|отправител|дата|банк|amount|total|date"
    r"|transfer|payment|receipt",
    re.IGNORECASE,
)


def _score(text: str, confidence: float, fields: ReceiptFields) -> float:
    score = confidence
    score += 6 * min(5, len(_KEYWORDS.findall(text)))
    score += 15 * (fields.amount_kopecks is not None) + 10 * (fields.paid_on is not None)
    score += 5 * (fields.transaction_id is not None) + 5 * (fields.payment_code is not None)
    return score


def _recognise(image: Image.Image, rotated: int, expected_code: str | None) -> _Pass:
    pytesseract = _pytesseract()
    try:
        data = _run(
            pytesseract.image_to_data,
            image,
            lang=LANGUAGES,
            config="--oem 1 --psm 4",
            output_type=pytesseract.Output.DICT,
        )
    except pytesseract.TesseractError as error:
        raise OcrUnavailable(f"tesseract failed: {error}") from error
    lines: dict[tuple[int, int, int, int], list[str]] = {}
    confidences: list[tuple[float, int]] = []
    for i, word in enumerate(data["text"]):
        word = str(word).strip()
        confidence = float(data["conf"][i])
        if not word or confidence < 0:
            continue
        key = (data["page_num"][i], data["block_num"][i], data["par_num"][i], data["line_num"][i])
        lines.setdefault(key, []).append(word)
        confidences.append((confidence, len(word)))
    text = "\n".join(" ".join(words) for words in lines.values())
    weight = sum(length for _, length in confidences)
    mean = sum(c * n for c, n in confidences) / weight if weight else 0.0
    fields = parse_receipt_text(text, expected_code)
    return _Pass(text, mean, fields, rotated, _score(text, mean, fields))


def _osd_rotation(image: Image.Image) -> tuple[int, float] | None:
    """(clockwise degrees that make the text upright, confidence), or None if OSD gave up."""
    pytesseract = _pytesseract()
    try:
        osd = _run(
            pytesseract.image_to_osd,
            image,
            config="--psm 0 -c min_characters_to_try=10",
            output_type=pytesseract.Output.DICT,
        )
    except pytesseract.TesseractError:
        return None
    return int(osd["rotate"]) % 360, float(osd["orientation_conf"])


def _turn(image: Image.Image, clockwise: int) -> Image.Image:
    from PIL import Image

    turns = {
        90: Image.Transpose.ROTATE_270,  # Pillow's ROTATE_n is counter-clockwise
        180: Image.Transpose.ROTATE_180,
        270: Image.Transpose.ROTATE_90,
    }
    return image.transpose(turns[clockwise]) if clockwise in turns else image


_GOOD_ENOUGH = 95.0  # a pass scoring this much (clear words, fields found) ends the search
_OSD_TRUSTED = 2.0


def read_receipt(image: bytes, expected_code: str | None = None) -> ReceiptReading:
    """Recognise a receipt image's text and the payment fields in it; `expected_code` is
    the payment code the transfer should carry, when known (see parse_receipt_text).

    Raises ReceiptImageError for bytes that are not a readable image within the
    limits, OcrUnavailable when tesseract (with rus data) cannot run. Takes about
    one to a few seconds on one core; it runs tesseract as a subprocess.
    """
    picture = load_image(image)
    check_ocr()
    gray = prepare(picture)

    orientations = [0, 90, 180, 270]
    guess = _osd_rotation(gray)
    if guess is not None and guess[1] >= _OSD_TRUSTED:
        orientations = [guess[0]]
    elif guess is not None:
        orientations.remove(guess[0])
        orientations.insert(0, guess[0])

    best: _Pass | None = None
    for rotated in orientations:
        upright = _turn(gray, rotated)
        # Autocontrast alone reads low contrast best (measured: 14 of 14 amounts against
        # 11 of 14 binarised first); binarising is the second try for a weak reading.
        for attempt in range(2):
            variant = upright if attempt == 0 else binarise(upright)
            reading = _recognise(variant, rotated, expected_code)
            if best is None or reading.score > best.score:
                best = reading
            if best.score >= _GOOD_ENOUGH and best.fields.amount_kopecks is not None:
                break
        if best is not None and best.score >= _GOOD_ENOUGH:
            break
    assert best is not None
    return ReceiptReading(
        amount_kopecks=best.fields.amount_kopecks,
        paid_on=best.fields.paid_on,
        payment_code=best.fields.payment_code,
        transaction_id=best.fields.transaction_id,
        text=best.text,
        rotated_degrees=best.rotated,
    )
