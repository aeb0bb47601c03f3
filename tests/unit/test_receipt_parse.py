"""Receipt text → fields, on text as tesseract writes it (clean and noisy), and payment codes."""

from __future__ import annotations

import re
from datetime import date

import pytest

from shared.payments.codes import (
    ALPHABET,
    find_expected_code,
    find_payment_code,
    new_payment_code,
)
from shared.payments.receipt_ocr import (
    parse_amount,
    parse_date,
    parse_receipt_text,
    parse_transaction_id,
)

SBER = """СберБанк
Чек по операции
03.01.2027 20:10:27 (МСК)
Операция
Перевод клиенту СберБанка
ФИО получателя
Дмитрий Андреевич В.
Номер карты получателя
•••• 1915
Сумма перевода
1 500,00 ₽
Комиссия
15,00 ₽
Сообщение получателю
Пополнение KS-ECAEEM
Номер документа
2970876
Код авторизации
714881
"""

TBANK = """Т-Банк
22 апреля 2027 в 19:07:13
Итого
500,80 ₽
Перевод По номеру телефона
Статус Успешно
Сумма 500,80 ₽
Комиссия Без комиссии
Телефон получателя +7 (546) 316-29-94
Банк получателя Т-Банк
Сообщение KS-6XC6CH
Идентификатор операции в СБП
B1121907130176205C246700041E0D86
Квитанция Ne 1-34-199-716-965
Служба поддержки fb@tbank.ru
"""

ALFA = """Альфа-Банк
Квитанция о переводе
Дата: 9 июня 2027 в 21:03
Номер операции: C240906278924465
Счёт списания: 408178106670****1328
Телефон: +7 (109) 424-67-91
Сумма: 179 382,20 руб.
Комиссия: 1 793,00 руб.
Назначение: Пополнение баланса KS-HPMT94
Статус: Исполнен
Остаток на счёте: 5 232 559,59 руб.
АО «Альфа-Банк», генеральная лицензия Банка России № 1326
"""

VTB = """ВТБ
Чек
Перевод выполнен
35 072 ₽
Дата и время операции
11 апреля 2026 в 18:37:48
Списано
35 072,00 ₽
Комиссия
350 ₽
Мастер-счёт в рублях •••• 3889
Сообщение получателю
KS-KPHAK4
Номер операции в СБП
A1011837483930AE90C63C3A60E728C5
"""

EN_BANK = """Global Bank
Payment receipt
Completed
Date Nov 26, 2026 14:32
Amount RUB 1,500.00
Fee RUB 15.00
From Ivan K.
Card •••• 1433
Reference KS-AEXEXA
Transaction ID 4267C3E9361AE7BD
"""

SBP = """Перевод по СБП
Выполнено
Дата 28.10.2027, 21:52:12 МСК
Сумма 4 122 р.
Комиссия 41 р.
Получатель Дмитрий Андреевич В.
Телефон +7 (189) 722-95-35
Идентификатор операции
B3012152123668D6662E903687A6DB1F
Сообщение
KS-HXHA9H
"""


@pytest.mark.parametrize(
    ("text", "kopecks", "paid_on", "code", "txn"),
    [
        (SBER, 150000, date(2027, 1, 3), "KS-ECAEEM", "2970876"),
        (TBANK, 50080, date(2027, 4, 22), "KS-6XC6CH", "B1121907130176205C246700041E0D86"),
        (ALFA, 17938220, date(2027, 6, 9), "KS-HPMT94", "C240906278924465"),
        (VTB, 3507200, date(2026, 4, 11), "KS-KPHAK4", "A1011837483930AE90C63C3A60E728C5"),
        (EN_BANK, 150000, date(2026, 11, 26), "KS-AEXEXA", "4267C3E9361AE7BD"),
        (SBP, 412200, date(2027, 10, 28), "KS-HXHA9H", "B3012152123668D6662E903687A6DB1F"),
    ],
    ids=["sber", "tbank", "alfa", "vtb", "en", "sbp"],
)
def test_bank_receipts_give_every_field(
    text: str, kopecks: int, paid_on: date, code: str, txn: str
) -> None:
    fields = parse_receipt_text(text)
    assert fields.amount_kopecks == kopecks
    assert fields.paid_on == paid_on
    assert fields.payment_code == code
    assert fields.transaction_id == txn


@pytest.mark.parametrize(
    ("text", "kopecks"),
    [
        ("Сумма 1 500,00 ₽", 150000),
        ("Итого: 1500 руб.", 150000),
        ("1 500 ₽", 150000),
        ("RUB 1,500.00", 150000),
        ("Amount: 1,500.00 RUB", 150000),
        ("Total 12,345.67", 1234567),
        ("Сумма\u00a01\u00a0500,00\u00a0₽", 150000),  # no-break spaces
        ("Сумма 1\u2009500,00\u202f₽", 150000),  # thin and narrow no-break spaces
        ("Сумма перевода\n2 000 ₽", 200000),  # the label above the value
        ("Списано 999,99 ₽", 99999),
        ("К оплате: 300 р.", 30000),
        ("Перевод 750 руб", 75000),
        ("Сумма 12 345 678,90 ₽", 1234567890),
        ("ИТОГО =1500.00", 150000),
        ("Итого 1 500 Р", 150000),  # ₽ read as a Cyrillic Р
        ("Итого 1 500 P", 150000),  # ... or a Latin P
    ],
)
def test_amount_formats(text: str, kopecks: int) -> None:
    assert parse_amount(text) == kopecks


@pytest.mark.parametrize(
    ("text", "kopecks"),
    [
        # Commission lines never win, with or without a keyword on them.
        ("Комиссия 30 ₽\nСумма 1 500 ₽", 150000),
        ("Сумма 1 500 ₽\nКомиссия 1 500,01 ₽", 150000),
        ("Комиссия\n45,00 ₽\nСумма перевода\n4 500,00 ₽", 450000),
        ("Amount RUB 500.00\nFee RUB 5.00", 50000),
        ("Сумма 1 000 ₽\nКомиссия за перевод 1 000 000 ₽", 100000),
        # Balances, phones, cards, dates, ids and codes are not money.
        ("Остаток: 99 999,00 ₽\nСумма: 250,00 ₽", 25000),
        ("Телефон +7 (912) 345-67-89\nСумма 700 ₽", 70000),
        ("Карта •••• 4276\nИтого 800 ₽", 80000),
        ("26.11.2026 14:32\nИтого 900 ₽", 90000),
        ("Номер документа 1000000123456789\nИтого 1 200 ₽", 120000),
        ("Код авторизации 123456\nСумма 3 000 ₽", 300000),
        ("Сообщение KS-7HX4PT\nСумма 400 ₽", 40000),
        # The same amount in the header and the details adds up against a stray one.
        ("5 000 ₽\nПеревод выполнен\n120 ₽\nСумма 5 000 ₽", 500000),
    ],
)
def test_amount_prefers_amount_lines(text: str, kopecks: int) -> None:
    assert parse_amount(text) == kopecks


@pytest.mark.parametrize(
    ("text", "kopecks"),
    [
        # ₽ read as "2" glued to a decimal amount, and then a bare "4162" is "416 ₽".
        ("Сумма перевода\n310,002\nКомиссия\n0,002", 31000),
        ("Сумма перевода\n4162\nКомиссия\n4,002", 41600),
        ("Сумма 500,80 2", 50080),
        # A space after the decimal comma; O for zero.
        ("ИТОГО\n300, 59 руб.", 30059),
        ("Сумма: 1 5OO,OO ₽", 150000),
        ("Cумма 2 500 ₽", 250000),  # a Latin C in "Сумма"
        # Labels lost in a photo: the first amount with a currency wins a tie.
        ("Перевод кл\n404 р.\n4,00 р.\nПополнение KS-X6X934", 40400),
    ],
)
def test_amount_in_noisy_ocr(text: str, kopecks: int) -> None:
    assert parse_amount(text) == kopecks


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Комиссия 30 ₽",
        "Остаток 10 000 ₽",
        "Номер документа 2970876",
        "Телефон +7 (912) 345-67-89",
        "СберБанк\nЧек по операции\nПо вопросам зачисления обращайтесь к получателю",
        "Дата 26.11.2026 14:32",
    ],
)
def test_no_amount(text: str) -> None:
    assert parse_amount(text) is None


@pytest.mark.parametrize(
    ("text", "paid_on"),
    [
        ("26.11.2026", date(2026, 11, 26)),
        ("Дата операции 26.11.2026 14:32:05", date(2026, 11, 26)),
        ("26 ноября 2026 в 14:32", date(2026, 11, 26)),
        ("1 марта 2026, 09:00", date(2026, 3, 1)),
        ("3 нояб. 2026, 10:15", date(2026, 11, 3)),
        ("2026-11-26 14:32", date(2026, 11, 26)),
        ("Nov 26, 2026 14:32", date(2026, 11, 26)),
        ("26 November 2026, 14:32", date(2026, 11, 26)),
        ("26.11.26 14:32", date(2026, 11, 26)),
        ("28.10.2027, 21:52:12 МСК", date(2027, 10, 28)),
        ("Дата: 2O.O5.2O26", date(2026, 5, 20)),  # O for zero
        # A labelled date wins over one elsewhere; impossible dates are skipped.
        ("Карта действует до 01.12.2030\nДата операции 05.06.2026", date(2026, 6, 5)),
        ("31.02.2026\n15.03.2026", date(2026, 3, 15)),
    ],
)
def test_dates(text: str, paid_on: date) -> None:
    assert parse_date(text) == paid_on


@pytest.mark.parametrize("text", ["", "28.19.2027", "Сумма 1 500 ₽", "14:32:05"])
def test_no_date(text: str) -> None:
    assert parse_date(text) is None


SBP_ID = "A6330123456789010000001234ABCDEF"


@pytest.mark.parametrize(
    ("text", "txn"),
    [
        ("Номер операции: C240906278924465", "C240906278924465"),
        ("Идентификатор операции\nA6330123456789010000001234ABCDEF", SBP_ID),
        ("Номер документа\n1000000123456789", "1000000123456789"),
        ("№ документа 123456789", "123456789"),
        ("Квитанция № 1-34-199-716-965", "1-34-199-716-965"),
        ("Квитанция Ne 1-34-199-716-965", "1-34-199-716-965"),
        ("Transaction ID 4267C3E9361AE7BD", "4267C3E9361AE7BD"),
        ("Homep документа\n5310100474147693", "5310100474147693"),  # Latin look-alikes
        # An SBP id anywhere wins, even split by a space or with Cyrillic twins.
        ("Квитанция № 1-2-3-4567\nA6330123456789010000001 234ABCDEF", SBP_ID),
        ("А273084700А523ЕВСВ88С0С6А87Е2Е05", "A273084700A523EBCB88C0C6A87E2E05"),
        # The operation id outranks the document number.
        ("Номер документа 7654321\nНомер операции 99887766", "99887766"),
    ],
)  # fmt: skip
def test_transaction_ids(text: str, txn: str) -> None:
    assert parse_transaction_id(text) == txn


@pytest.mark.parametrize(
    "text", ["", "Код авторизации 714881", "Номер карты •••• 1234", "Квитанция о переводе"]
)
def test_no_transaction_id(text: str) -> None:
    assert parse_transaction_id(text) is None


def test_new_payment_codes_are_well_formed_and_varied() -> None:
    codes = {new_payment_code() for _ in range(500)}
    # 500 draws from 15**6 codes repeat one with a chance of about 1%: a few may repeat.
    assert len(codes) >= 495
    for code in codes:
        assert re.fullmatch(rf"KS-[{ALPHABET}]{{6}}", code)
        assert find_payment_code(f"Пополнение {code}") == code
    assert not set(ALPHABET) & set("0O1IL5S8B2ZDQGUV")


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Пополнение KS-7HX4PT", "KS-7HX4PT"),
        ("ks-7hx4pt", "KS-7HX4PT"),
        ("KS 7HX4PT", "KS-7HX4PT"),
        ("KS7HX4PT", "KS-7HX4PT"),
        ("KS - 7HX 4PT.", "KS-7HX4PT"),
        ("KS—7HX4PT", "KS-7HX4PT"),  # an em dash
        ("KS–7HX4PT", "KS-7HX4PT"),  # an en dash
        ("К$-КбТМАЭ", "KS-K6TMA9"),  # Cyrillic twins, $ for S, б for 6, Э for 9
        ("К5-37ЕМ7Х", "KS-37EM7X"),
        ("Сообщение KS -37EFTW", None),  # W is not in the alphabet
        ("KS-7HX4PTA", None),  # a seventh character: a longer word
        ("MAKS-7HX4PT", None),  # inside a word
        ("KS-7HX", None),
        ("нет кода", None),
    ],
)
def test_find_payment_code(text: str, code: str | None) -> None:
    assert find_payment_code(text) == code


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Пополнение KS-A4EEAE", True),
        ("Пополнение KS-A4EEAFE\nНомер документа", True),  # an added F (a CI run)
        ("Код: KS-AAEEAE", True),  # 4 read as A, as on a rotated receipt in a CI run
        ("К$-А4ЕЕА Е", True),  # Cyrillic twins and a split
        ("KS-A4EEA\nНомер", True),  # the last character dropped
        ("KS-A4EWAE", True),  # one character outside the alphabet
        ("KS-A4EXAX", False),  # two characters off: another payment's code
        ("KS-7HX9PT", False),
        ("KS-A4EEAE7Y", False),  # two added characters: a longer word
        ("MAKS-A4EEAE", False),  # inside a word
        ("A4EEAE", False),  # no prefix
    ],
)
def test_the_expected_code_is_found_despite_one_ocr_slip(text: str, found: bool) -> None:
    assert find_expected_code(text, "KS-A4EEAE") is found


def test_the_expected_code_replaces_a_slipped_reading_and_only_that() -> None:
    text = "Сумма 1 000 ₽\nСообщение получателю\nПополнение KS-A4EEAFE\n"
    assert parse_receipt_text(text).payment_code is None  # seven characters: not a code
    assert parse_receipt_text(text, "KS-A4EEAE").payment_code == "KS-A4EEAE"
    assert parse_receipt_text("Пополнение KS-7HX9PT", "KS-A4EEAE").payment_code == "KS-7HX9PT"
