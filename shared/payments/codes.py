"""Payment codes a user writes into a bank transfer's comment, and finding them in OCR text.

A code is "KS-" and six characters from an alphabet without the characters OCR
confuses with one another (0/O/D/Q, 1/I/L, 5/S, 8/B, 2/Z, 6/G, U/V). Its letters
are only those with a Cyrillic twin (A C E H K M P T X Y): Russian-and-English
OCR reads a Latin letter as Cyrillic whenever the word looks Russian, and letters
without a twin (F, N, R, W, J) come back as some other letter (Е, И, Я, Ш, ...).
15**6 = 11 million codes. Finding one tolerates what OCR and people do to it:
lowercase, spaces, any dash or none, Cyrillic twins, "$" or "5" for "S", and the
confusable characters mapped back. Where the code to expect is known (a transfer's
receipt), find_expected_code also forgives one slip of OCR inside it.
"""

from __future__ import annotations

import re
import secrets

PREFIX = "KS-"
ALPHABET = "34679ACEHKMPTXY"
CODE_BODY_LENGTH = 6

# What OCR writes → the alphabet's character it most likely was.
_CONFUSIONS: dict[str, str] = {
    # Cyrillic twins of the Latin capitals (and their lowercase forms).
    "А": "A", "а": "A", "С": "C", "с": "C", "Е": "E", "е": "E", "Н": "H", "н": "H",
    "К": "K", "к": "K", "М": "M", "м": "M", "Р": "P", "р": "P", "Т": "T", "т": "T",
    "Х": "X", "х": "X", "У": "Y", "у": "Y",
    # Digits as OCR draws them in either alphabet.
    "Ч": "4", "ч": "4", "б": "6", "Б": "6", "З": "3", "з": "3", "Э": "9", "э": "9",
    "G": "6", "b": "6", "g": "9", "q": "9",
    # Letters outside the alphabet → the alphabet's look-alike.
    "F": "E", "Ё": "E", "ё": "E", "€": "E", "R": "P", "V": "Y", "v": "Y", "Z": "7",
}  # fmt: skip

_PREFIX_RE = re.compile(r"(?<![0-9A-Za-zА-Яа-яЁё])[KkКк]\s?[SsЅ5$]\s?[-‐‑‒–—―−_.:=~]?", re.UNICODE)
_SEPARATORS = frozenset(" \t-‐‑‒–—―−_.:")


def new_payment_code() -> str:
    """A fresh code such as "KS-7HX4PT", from the secrets module."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(CODE_BODY_LENGTH))
    return PREFIX + body


def normalise_code_char(char: str) -> str | None:
    """The alphabet character OCR most likely meant, or None when it is not one."""
    upper = char.upper() if char.isascii() else char
    if upper in ALPHABET:
        return upper
    mapped = _CONFUSIONS.get(char) or _CONFUSIONS.get(upper)
    return mapped if mapped is not None and mapped in ALPHABET else None


def find_payment_code(text: str) -> str | None:
    """The first payment code in `text` ("KS-XXXXXX" in canonical form), or None.

    After the prefix, six alphabet characters must follow, perhaps split by spaces
    or dashes; a seventh letter or digit right after them means it was a longer
    word, not a code.
    """
    for match in _PREFIX_RE.finditer(text):
        body: list[str] = []
        position = match.end()
        while position < len(text) and len(body) < CODE_BODY_LENGTH:
            char = text[position]
            if char in _SEPARATORS:
                if char in " \t" and not body and position - match.end() > 1:
                    break
                position += 1
                continue
            mapped = normalise_code_char(char)
            if mapped is None:
                break
            body.append(mapped)
            position += 1
        if len(body) != CODE_BODY_LENGTH:
            continue
        if position < len(text) and text[position].isalnum():
            continue
        return PREFIX + "".join(body)
    return None


def _body_after(text: str, start: int, longest: int) -> str | None:
    """The characters of a code body starting at `start`, each mapped to the alphabet ("?"
    for one that is not in it), up to `longest`; None when the run is longer (a word)."""
    body: list[str] = []
    position = start
    while position < len(text):
        char = text[position]
        if char in _SEPARATORS:
            if char in " \t" and (len(body) >= longest - 2 or (not body and position - start > 1)):
                break  # the code ended, or nothing follows the prefix
            position += 1
            continue
        if not char.isalnum():
            break
        body.append(normalise_code_char(char) or "?")
        if len(body) > longest:
            return None
        position += 1
    return "".join(body)


def _within_one_edit(read: str, expected: str) -> bool:
    """Levenshtein distance at most 1."""
    if abs(len(read) - len(expected)) > 1:
        return False
    if len(read) == len(expected):
        return sum(a != b for a, b in zip(read, expected, strict=True)) <= 1
    shorter, longer = sorted((read, expected), key=len)
    for index, (a, b) in enumerate(zip(shorter, longer, strict=False)):
        if a != b:
            return shorter[index:] == longer[index + 1 :]
    return True  # the longer one only has one more character at its end


def find_expected_code(text: str, expected: str) -> bool:
    """Whether `text` shows the code `expected`, forgiving one slip of OCR in its body: a
    character misread, added or dropped. Pairs inside the alphabet still blur on a rotated
    or degraded image (4/A and 9/Y were seen), and a serif "AE" came out as "AFE". Another
    payment's code lies within one slip of `expected` with a chance of about 1 in 100,000.
    """
    body = expected.removeprefix(PREFIX)
    for match in _PREFIX_RE.finditer(text):
        read = _body_after(text, match.end(), len(body) + 1)
        if read is not None and _within_one_edit(read, body):
            return True
    return False
