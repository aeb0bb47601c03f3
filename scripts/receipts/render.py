"""Realistic bank-transfer receipts drawn with Pillow, with their ground truth.

    render_receipt(seed, layout="sber", degradation="photo") -> RenderedReceipt

Six bank-like layouts (Сбер, Т-Банк light and dark, Альфа, ВТБ, an SBP transfer,
an English bank), fonts from /usr/share/fonts/truetype (DejaVu and Liberation;
a font without "₽" writes "руб." or "RUB" instead), amounts grouped by ordinary,
no-break or thin spaces, and degradations a user's picture suffers: JPEG, a turn
by 90/180/270 degrees, a small skew, low contrast, a photo of a screen
(perspective, blur, noise, moiré, JPEG) and a small, recompressed screenshot.
Everything is deterministic by seed.
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Literal

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

from shared.payments.codes import ALPHABET as CODE_ALPHABET

FONT_DIR = Path("/usr/share/fonts/truetype")
FONTS: dict[str, tuple[str, str, bool]] = {
    # name: (regular file, bold file, has "₽")
    "DejaVuSans": ("dejavu/DejaVuSans.ttf", "dejavu/DejaVuSans-Bold.ttf", True),
    "DejaVuSerif": ("dejavu/DejaVuSerif.ttf", "dejavu/DejaVuSerif-Bold.ttf", True),
    "DejaVuSansMono": ("dejavu/DejaVuSansMono.ttf", "dejavu/DejaVuSansMono-Bold.ttf", True),
    "DejaVuSansCondensed": (
        "dejavu/DejaVuSansCondensed.ttf",
        "dejavu/DejaVuSansCondensed-Bold.ttf",
        True,
    ),
    "LiberationSans": (
        "liberation/LiberationSans-Regular.ttf",
        "liberation/LiberationSans-Bold.ttf",
        False,
    ),
    "LiberationSerif": (
        "liberation/LiberationSerif-Regular.ttf",
        "liberation/LiberationSerif-Bold.ttf",
        False,
    ),
    "LiberationMono": (
        "liberation/LiberationMono-Regular.ttf",
        "liberation/LiberationMono-Bold.ttf",
        False,
    ),
}
LAYOUTS = ("sber", "tbank", "tbank_dark", "alfa", "vtb", "sbp", "en_bank")
DEGRADATIONS = (
    "clean",
    "jpeg",
    "rotate90",
    "rotate180",
    "rotate270",
    "skew",
    "low_contrast",
    "photo",
    "small",
)

MONTHS_RU = (
    "января", "февраля", "марта", "апреля", "мая", "июня",
    "июля", "августа", "сентября", "октября", "ноября", "декабря",
)  # fmt: skip
MONTHS_RU_SHORT = (
    "янв.", "февр.", "мар.", "апр.", "мая", "июн.",
    "июл.", "авг.", "сент.", "окт.", "нояб.", "дек.",
)  # fmt: skip
MONTHS_EN = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
NAMES = ("Анна Сергеевна П.", "Иван Петрович К.", "Мария Олеговна Л.", "Дмитрий Андреевич В.")
NAMES_EN = ("Anna P.", "Ivan K.", "Maria L.", "Dmitry V.")
BANKS = ("Сбербанк", "Т-Банк", "Альфа-Банк", "ВТБ", "Райффайзенбанк", "Газпромбанк")

Color = tuple[int, int, int]


@dataclass(frozen=True)
class ReceiptTruth:
    """What the receipt says, for checking a reading."""

    amount_kopecks: int
    paid_on: date
    paid_at: datetime
    payment_code: str
    transaction_id: str
    layout: str
    language: Literal["ru", "en"]
    degradation: str
    font: str
    commission_kopecks: int


@dataclass(frozen=True)
class RenderedReceipt:
    image: bytes
    image_format: Literal["PNG", "JPEG"]
    width: int
    height: int
    truth: ReceiptTruth


@dataclass
class Row:
    kind: Literal["title", "big", "pair", "stack", "text", "rule", "gap", "status"]
    left: str = ""
    right: str = ""
    scale: float = 1.0
    bold: bool = False


@dataclass
class Layout:
    width: int
    background: Color
    ink: Color
    muted: Color
    header: Color | None
    header_text: str
    header_ink: Color
    rows: list[Row] = field(default_factory=list)


@dataclass(frozen=True)
class Facts:
    amount_kopecks: int
    commission_kopecks: int
    paid_at: datetime
    code: str
    rub: str  # the currency mark this font can draw: "₽", "руб.", "р."
    rng: random.Random


# --- amounts and dates as banks write them ------------------------------------------------


def _group(rubles: int, separator: str) -> str:
    digits = str(rubles)
    groups: list[str] = []
    while len(digits) > 3:
        groups.insert(0, digits[-3:])
        digits = digits[:-3]
    groups.insert(0, digits)
    return separator.join(groups)


def ru_amount(kopecks: int, rng: random.Random, *, decimals: bool | None = None) -> str:
    """Like "1 500,00" or "1 500", with an ordinary, no-break, thin or narrow no-break space."""
    separator = rng.choice((" ", "\u00a0", "\u2009", "\u202f"))
    if decimals is None:
        decimals = kopecks % 100 != 0 or rng.random() < 0.5
    text = _group(kopecks // 100, separator)
    return f"{text},{kopecks % 100:02d}" if decimals else text


def en_amount(kopecks: int) -> str:
    return f"{_group(kopecks // 100, ',')}.{kopecks % 100:02d}"


def ru_date(moment: datetime, rng: random.Random) -> str:
    style = rng.randrange(4)
    clock = moment.strftime("%H:%M:%S") if rng.random() < 0.5 else moment.strftime("%H:%M")
    if style == 0:
        return f"{moment:%d.%m.%Y} {clock}"
    if style == 1:
        return f"{moment.day} {MONTHS_RU[moment.month - 1]} {moment.year} в {clock}"
    if style == 2:
        return f"{moment.day} {MONTHS_RU_SHORT[moment.month - 1]} {moment.year}, {clock}"
    return f"{moment:%d.%m.%Y}, {clock} МСК"


def en_date(moment: datetime, rng: random.Random) -> str:
    style = rng.randrange(3)
    if style == 0:
        return f"{moment:%Y-%m-%d %H:%M}"
    if style == 1:
        return f"{MONTHS_EN[moment.month - 1][:3]} {moment.day}, {moment.year} {moment:%H:%M}"
    return f"{moment.day} {MONTHS_EN[moment.month - 1]} {moment.year}, {moment:%H:%M}"


def sbp_id(rng: random.Random, moment: datetime) -> str:
    """An SBP operation id: "A" or "B", the day of the year, then 28 characters."""
    head = rng.choice("AB") + f"{moment.timetuple().tm_yday:03d}" + f"{moment:%H%M%S}"
    tail = "".join(rng.choice("0123456789ABCDEF") for _ in range(32 - len(head)))
    return head + tail


def _digits(rng: random.Random, count: int) -> str:
    return str(rng.randrange(1, 10)) + "".join(str(rng.randrange(10)) for _ in range(count - 1))


def _phone(rng: random.Random) -> str:
    return (
        f"+7 ({_digits(rng, 3)}) {_digits(rng, 3)}-{rng.randrange(10, 99)}-{rng.randrange(10, 99)}"
    )


def _card(rng: random.Random) -> str:
    return f"•••• {_digits(rng, 4)}"


# --- layouts ------------------------------------------------------------------------------


def _commission(f: Facts, *, free_text: str | None = None) -> str:
    if f.commission_kopecks == 0 and free_text is not None:
        return free_text
    return f"{ru_amount(f.commission_kopecks, f.rng)} {f.rub}"


def layout_sber(f: Facts) -> tuple[Layout, str]:
    rng = f.rng
    document = _digits(rng, rng.choice((7, 10, 16)))
    rows = [
        Row("title", "Чек по операции", scale=1.3, bold=True),
        Row("text", f"{f.paid_at:%d.%m.%Y} {f.paid_at:%H:%M:%S} (МСК)"),
        Row("rule"),
        Row("stack", "Операция", "Перевод клиенту СберБанка"),
        Row("stack", "ФИО получателя", rng.choice(NAMES)),
        Row("stack", "Номер карты получателя", _card(rng)),
        Row("stack", "ФИО отправителя", rng.choice(NAMES)),
        Row("stack", "Счёт отправителя", _card(rng)),
        Row("stack", "Сумма перевода", f"{ru_amount(f.amount_kopecks, rng)} {f.rub}", bold=True),
        Row("stack", "Комиссия", _commission(f)),
        Row("stack", "Сообщение получателю", f"Пополнение {f.code}"),
        Row("stack", "Номер документа", document),
        Row("stack", "Код авторизации", _digits(rng, 6)),
        Row("rule"),
        Row("text", "По вопросам зачисления обращайтесь к получателю", scale=0.8),
    ]
    green = rng.choice(((33, 160, 56), (25, 135, 84)))
    return Layout(900, (255, 255, 255), (20, 20, 20), (120, 120, 120), green, "СберБанк",
                  (255, 255, 255), rows), document  # fmt: skip


def _tbank_rows(f: Facts) -> tuple[list[Row], str]:
    rng = f.rng
    receipt_no = f"1-{rng.randrange(10, 99)}-{_digits(rng, 3)}-{_digits(rng, 3)}-{_digits(rng, 3)}"
    operation = sbp_id(rng, f.paid_at)
    amount = f"{ru_amount(f.amount_kopecks, rng, decimals=False)} {f.rub}"
    if f.amount_kopecks % 100:
        amount = f"{ru_amount(f.amount_kopecks, rng)} {f.rub}"
    use_sbp = rng.random() < 0.6
    rows = [
        Row("text", ru_date(f.paid_at, rng), scale=0.9),
        Row("title", "Итого", scale=1.1),
        Row("big", amount, scale=2.0, bold=True),
        Row("rule"),
        Row("pair", "Перевод", "По номеру телефона"),
        Row("pair", "Статус", "Успешно"),
        Row("pair", "Сумма", amount),
        Row("pair", "Комиссия", _commission(f, free_text="Без комиссии")),
        Row("pair", "Отправитель", rng.choice(NAMES)),
        Row("pair", "Телефон получателя", _phone(rng)),
        Row("pair", "Получатель", rng.choice(NAMES)),
        Row("pair", "Банк получателя", rng.choice(BANKS)),
        Row("pair", "Сообщение", f.code),
    ]
    if use_sbp:
        rows += [Row("stack", "Идентификатор операции в СБП", operation)]
    rows += [
        Row("rule"),
        Row("text", f"Квитанция № {receipt_no}", scale=0.9),
        Row("text", "Служба поддержки fb@tbank.ru", scale=0.8),
    ]
    return rows, operation if use_sbp else receipt_no


def layout_tbank(f: Facts) -> tuple[Layout, str]:
    rows, txn = _tbank_rows(f)
    return Layout(880, (255, 255, 255), (0, 0, 0), (110, 110, 110), (255, 221, 45), "Т-Банк",
                  (0, 0, 0), rows), txn  # fmt: skip


def layout_tbank_dark(f: Facts) -> tuple[Layout, str]:
    rows, txn = _tbank_rows(f)
    return Layout(860, (28, 28, 30), (240, 240, 240), (150, 150, 155), None, "",
                  (255, 255, 255), rows), txn  # fmt: skip


def layout_alfa(f: Facts) -> tuple[Layout, str]:
    rng = f.rng
    operation = "C" + _digits(rng, 2) + f"{f.paid_at:%d%m%y}" + _digits(rng, 7)
    rub = "руб." if rng.random() < 0.5 else f.rub
    balance = rng.randrange(1000, 9_000_000)
    rows = [
        Row("title", "Квитанция о переводе", scale=1.3, bold=True),
        Row("rule"),
        Row("text", f"Дата: {ru_date(f.paid_at, rng)}"),
        Row("text", f"Номер операции: {operation}"),
        Row("text", f"Счёт списания: 40817810{_digits(rng, 4)}****{_digits(rng, 4)}"),
        Row("text", f"Получатель: {rng.choice(NAMES)}"),
        Row("text", f"Телефон: {_phone(rng)}"),
        Row("text", f"Сумма: {ru_amount(f.amount_kopecks, rng, decimals=True)} {rub}", bold=True),
        Row("text", f"Комиссия: {ru_amount(f.commission_kopecks, rng, decimals=True)} {rub}"),
        Row("text", f"Назначение: Пополнение баланса {f.code}"),
        Row("text", "Статус: Исполнен"),
        Row("rule"),
        Row("text", f"Остаток на счёте: {ru_amount(balance, rng)} {rub}", scale=0.85),
        Row("text", "АО «Альфа-Банк», генеральная лицензия Банка России № 1326", scale=0.7),
    ]
    return Layout(940, (250, 250, 250), (10, 10, 10), (100, 100, 100), (239, 49, 36),
                  "Альфа-Банк", (255, 255, 255), rows), operation  # fmt: skip


def layout_vtb(f: Facts) -> tuple[Layout, str]:
    rng = f.rng
    operation = sbp_id(rng, f.paid_at)
    rows = [
        Row("title", "Чек", scale=1.4, bold=True),
        Row("status", "Перевод выполнен"),
        Row("big", f"{ru_amount(f.amount_kopecks, rng)} {f.rub}", scale=1.8, bold=True),
        Row("rule"),
        Row("stack", "Дата и время операции", ru_date(f.paid_at, rng)),
        Row("stack", "Списано", f"{ru_amount(f.amount_kopecks, rng)} {f.rub}"),
        Row("stack", "Комиссия", _commission(f, free_text="0 " + f.rub)),
        Row("stack", "Счёт списания", f"Мастер-счёт в рублях {_card(rng)}"),
        Row("stack", "Получатель", rng.choice(NAMES)),
        Row("stack", "Банк получателя", rng.choice(BANKS)),
        Row("stack", "Сообщение получателю", f.code),
        Row("stack", "Номер операции в СБП", operation),
        Row("rule"),
        Row("text", "Банк ВТБ (ПАО)", scale=0.8),
    ]
    return Layout(900, (255, 255, 255), (12, 25, 60), (110, 120, 140), (0, 40, 130), "ВТБ",
                  (255, 255, 255), rows), operation  # fmt: skip


def layout_sbp(f: Facts) -> tuple[Layout, str]:
    rng = f.rng
    operation = sbp_id(rng, f.paid_at)
    rub = rng.choice((f.rub, "р.", "руб."))
    amount = ru_amount(f.amount_kopecks, rng)
    rows = [
        Row("title", "Перевод по СБП", scale=1.3, bold=True),
        Row("status", "Выполнено"),
        Row("rule"),
        Row("pair", "Дата", ru_date(f.paid_at, rng)),
        Row("pair", "Сумма", f"{amount} {rub}", bold=True),
        Row("pair", "Комиссия", _commission(f, free_text="0 " + rub)),
        Row("pair", "Получатель", rng.choice(NAMES)),
        Row("pair", "Банк", rng.choice(BANKS)),
        Row("pair", "Телефон", _phone(rng)),
        Row("stack", "Идентификатор операции", operation),
        Row("stack", "Сообщение", f"{f.code}"),
        Row("rule"),
        Row("text", "Система быстрых платежей", scale=0.8),
    ]
    return Layout(860, (244, 246, 250), (30, 30, 40), (120, 125, 135), (80, 40, 160), "СБП",
                  (255, 255, 255), rows), operation  # fmt: skip


def layout_en_bank(f: Facts) -> tuple[Layout, str]:
    rng = f.rng
    txn = "".join(rng.choice("0123456789ABCDEF") for _ in range(rng.choice((12, 16))))
    amount = en_amount(f.amount_kopecks)
    money = f"RUB {amount}" if rng.random() < 0.5 else f"{amount} RUB"
    fee = f"RUB {en_amount(f.commission_kopecks)}"
    rows = [
        Row("title", "Payment receipt", scale=1.3, bold=True),
        Row("status", "Completed"),
        Row("rule"),
        Row("pair", "Date", en_date(f.paid_at, rng)),
        Row("pair", "Amount", money, bold=True),
        Row("pair", "Fee", fee),
        Row("pair", "From", rng.choice(NAMES_EN)),
        Row("pair", "To", rng.choice(NAMES_EN)),
        Row("pair", "Card", _card(rng)),
        Row("pair", "Reference", f.code),
        Row("pair", "Transaction ID", txn),
        Row("rule"),
        Row("text", "Thank you for banking with us", scale=0.8),
    ]
    return Layout(880, (255, 255, 255), (25, 25, 25), (115, 115, 115), (0, 94, 184),
                  "Global Bank", (255, 255, 255), rows), txn  # fmt: skip


LAYOUT_BUILDERS: dict[str, Callable[[Facts], tuple[Layout, str]]] = {
    "sber": layout_sber,
    "tbank": layout_tbank,
    "tbank_dark": layout_tbank_dark,
    "alfa": layout_alfa,
    "vtb": layout_vtb,
    "sbp": layout_sbp,
    "en_bank": layout_en_bank,
}


# --- drawing ------------------------------------------------------------------------------


@cache
def _font(name: str, size: int, bold: bool) -> ImageFont.FreeTypeFont:
    regular, heavy, _ = FONTS[name]
    return ImageFont.truetype(str(FONT_DIR / (heavy if bold else regular)), size)


def _draw(layout: Layout, font_name: str, size: int) -> Image.Image:
    margin = int(size * 1.6)
    line = int(size * 1.55)
    height_estimate = 200 + sum(int(line * 2.4 * row.scale) for row in layout.rows) + 4 * size
    image = Image.new("RGB", (layout.width, height_estimate), layout.background)
    draw = ImageDraw.Draw(image)
    y = 0
    if layout.header is not None:
        band = int(size * 3.2)
        draw.rectangle((0, 0, layout.width, band), fill=layout.header)
        head_font = _font(font_name, int(size * 1.25), True)
        draw.text((margin, band // 2), layout.header_text, font=head_font,
                  fill=layout.header_ink, anchor="lm")  # fmt: skip
        y = band
    y += size
    right_edge = layout.width - margin
    for row in layout.rows:
        font = _font(font_name, max(10, int(size * row.scale)), row.bold)
        small = _font(font_name, max(10, int(size * 0.85)), False)
        row_line = int(line * row.scale)
        if row.kind == "gap":
            y += line // 2
        elif row.kind == "rule":
            y += line // 3
            draw.line((margin, y, right_edge, y), fill=layout.muted, width=max(1, size // 14))
            y += line // 2
        elif row.kind in {"title", "big", "status"}:
            ink = (30, 150, 70) if row.kind == "status" else layout.ink
            draw.text((layout.width // 2, y), row.left, font=font, fill=ink, anchor="ma")
            y += row_line
        elif row.kind == "text":
            draw.text((margin, y), row.left, font=font, fill=layout.ink)
            y += row_line
        elif row.kind == "pair":
            draw.text((margin, y), row.left, font=small, fill=layout.muted)
            draw.text((right_edge, y), row.right, font=font, fill=layout.ink, anchor="ra")
            y += row_line
        elif row.kind == "stack":
            draw.text((margin, y), row.left, font=small, fill=layout.muted)
            y += int(line * 0.9)
            draw.text((margin, y), row.right, font=font, fill=layout.ink)
            y += int(row_line * 1.25)
    return image.crop((0, 0, layout.width, y + size * 2))


# --- degradations -------------------------------------------------------------------------


def _stripes(size: tuple[int, int], period: float, angle: float, depth: float) -> Image.Image:
    """A sinusoidal grey stripe pattern (255 = no change), for moiré by multiplication."""
    width, height = size
    diagonal = int(math.hypot(width, height)) + 2
    values = bytes(
        int(255 - depth * 255 * (1 + math.sin(2 * math.pi * x / period)) / 2)
        for x in range(diagonal)
    )
    strip = Image.frombytes("L", (diagonal, 1), values).resize((diagonal, diagonal))
    turned = strip.rotate(angle, resample=Image.Resampling.BILINEAR)
    left = (diagonal - width) // 2
    top = (diagonal - height) // 2
    return turned.crop((left, top, left + width, top + height))


def photo_of_screen(image: Image.Image, rng: random.Random) -> Image.Image:
    """A phone photo of the receipt on a monitor: bezel, perspective, moiré, glare, blur, noise."""
    width, height = image.size
    pad_x, pad_y = int(width * 0.12), int(height * 0.08)
    canvas = Image.new("RGB", (width + 2 * pad_x, height + 2 * pad_y), (22, 22, 26))
    canvas.paste(image, (pad_x, pad_y))
    cw, ch = canvas.size
    for period, angle, depth in ((rng.uniform(3.0, 4.5), rng.uniform(5, 30), 0.10),
                                 (rng.uniform(5.0, 8.0), rng.uniform(-40, -10), 0.06)):  # fmt: skip
        pattern = _stripes(canvas.size, period, angle, depth).convert("RGB")
        canvas = ImageChops.multiply(canvas, pattern)
    glare = Image.radial_gradient("L").resize(canvas.size)
    glare = glare.point(lambda v: int(255 - v * 0.35))
    canvas = ImageChops.multiply(canvas, Image.merge("RGB", (glare, glare, glare)))

    def jitter(limit_x: float, limit_y: float) -> tuple[float, float]:
        return rng.uniform(-limit_x, limit_x), rng.uniform(-limit_y, limit_y)

    jx, jy = cw * 0.05, ch * 0.035
    corners: list[float] = []
    for base_x, base_y in ((0, 0), (0, ch), (cw, ch), (cw, 0)):  # QUAD: nw, sw, se, ne
        dx, dy = jitter(jx, jy)
        corners += [base_x + dx, base_y + dy]
    canvas = canvas.transform(
        canvas.size,
        Image.Transform.QUAD,
        tuple(corners),
        resample=Image.Resampling.BICUBIC,
        fillcolor=(15, 15, 18),
    )
    canvas = canvas.filter(ImageFilter.GaussianBlur(rng.uniform(0.7, 1.3)))
    noise = Image.effect_noise(canvas.size, rng.uniform(18, 30)).convert("RGB")
    canvas = Image.blend(canvas, noise, 0.12)
    scale = rng.uniform(0.85, 1.1)
    return canvas.resize((int(cw * scale), int(ch * scale)), Image.Resampling.BILINEAR)


def low_contrast(image: Image.Image, rng: random.Random) -> Image.Image:
    low = rng.randrange(120, 150)
    high = rng.randrange(185, 215)
    return image.point(lambda v: int(low + (high - low) * v / 255))


def degrade(image: Image.Image, degradation: str, rng: random.Random) -> Image.Image:
    background = image.getpixel((2, image.height - 2))
    fill = background if isinstance(background, tuple) else (255, 255, 255)
    if degradation in {"clean", "jpeg"}:
        return image
    if degradation.startswith("rotate"):
        turn = {"rotate90": Image.Transpose.ROTATE_90, "rotate180": Image.Transpose.ROTATE_180,
                "rotate270": Image.Transpose.ROTATE_270}[degradation]  # fmt: skip
        return image.transpose(turn)
    if degradation == "skew":
        angle = rng.choice((-1, 1)) * rng.uniform(2.0, 6.0)
        return image.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=fill)
    if degradation == "low_contrast":
        return low_contrast(image, rng)
    if degradation == "photo":
        return photo_of_screen(image, rng)
    if degradation == "small":
        factor = rng.uniform(0.42, 0.55)
        size = (int(image.width * factor), int(image.height * factor))
        return image.resize(size, Image.Resampling.LANCZOS)
    raise ValueError(f"unknown degradation {degradation!r}; known: {', '.join(DEGRADATIONS)}")


# --- the entry points ---------------------------------------------------------------------


def _facts(rng: random.Random, rub: str) -> Facts:
    rubles = rng.choice(
        (
            rng.randrange(100, 1000),
            rng.randrange(1000, 20_000),
            rng.randrange(20_000, 200_000),
            rng.choice((300, 500, 1000, 3000)),
        )
    )
    kopecks = rubles * 100 + (rng.randrange(1, 100) if rng.random() < 0.25 else 0)
    commission = 0 if rng.random() < 0.6 else max(100, kopecks // 100) // 100 * 100
    start = datetime(2025, 1, 1, 0, 0)
    moment = start + timedelta(
        minutes=rng.randrange(0, 3 * 365 * 24 * 60), seconds=rng.randrange(60)
    )
    code = "KS-" + "".join(rng.choice(CODE_ALPHABET) for _ in range(6))
    return Facts(kopecks, commission, moment, code, rub, rng)


def render_receipt(
    seed: int,
    *,
    layout: str | None = None,
    degradation: str = "clean",
    font: str | None = None,
    image_format: Literal["PNG", "JPEG"] | None = None,
    amount_kopecks: int | None = None,
    payment_code: str | None = None,
) -> RenderedReceipt:
    """One receipt, the same for the same arguments. Layout and font are drawn from the
    seed unless given; the format is JPEG for "jpeg", "photo" and "small", else PNG.
    `amount_kopecks` and `payment_code` replace the drawn ones (a receipt for a real
    payment in the end-to-end tests)."""
    rng = random.Random(f"receipt-{seed}")
    layout_name = layout or rng.choice(LAYOUTS)
    if layout_name not in LAYOUT_BUILDERS:
        raise ValueError(f"unknown layout {layout_name!r}; known: {', '.join(LAYOUTS)}")
    font_name = font or rng.choice(sorted(FONTS))
    has_rub_sign = FONTS[font_name][2]
    rub = "₽" if has_rub_sign else rng.choice(("руб.", "р.", "руб"))
    facts = _facts(rng, rub)
    if amount_kopecks is not None:
        facts = replace(facts, amount_kopecks=amount_kopecks)
    if payment_code is not None:
        facts = replace(facts, code=payment_code)
    spec, transaction_id = LAYOUT_BUILDERS[layout_name](facts)
    size = rng.randrange(24, 33)
    image = _draw(spec, font_name, size)
    image = degrade(image, degradation, rng)
    fmt = image_format or ("JPEG" if degradation in {"jpeg", "photo", "small"} else "PNG")
    buffer = io.BytesIO()
    if fmt == "JPEG":
        image.save(buffer, "JPEG", quality=rng.randrange(60, 85))
    else:
        image.save(buffer, "PNG")
    truth = ReceiptTruth(
        amount_kopecks=facts.amount_kopecks,
        paid_on=facts.paid_at.date(),
        paid_at=facts.paid_at,
        payment_code=facts.code,
        transaction_id=transaction_id,
        layout=layout_name,
        language="en" if layout_name == "en_bank" else "ru",
        degradation=degradation,
        font=font_name,
        commission_kopecks=facts.commission_kopecks,
    )
    return RenderedReceipt(buffer.getvalue(), fmt, image.width, image.height, truth)


def receipt_set(
    count: int, *, seed: int = 0, degradations: Sequence[str] = DEGRADATIONS
) -> list[RenderedReceipt]:
    """`count` receipts that walk through every layout and every degradation in turn."""
    receipts: list[RenderedReceipt] = []
    for index in range(count):
        layout = LAYOUTS[index % len(LAYOUTS)]
        degradation = degradations[index % len(degradations)]
        receipts.append(
            render_receipt(seed * 10_000 + index, layout=layout, degradation=degradation)
        )
    return receipts
