"""Deep-link payloads of `/start` (t.me/<bot>?start=<payload>), parsed into typed values.

Telegram allows 1-64 characters from A-Z a-z 0-9 _ - in a payload. Ours are
`ref_<referrer's Telegram id>`, `promo_<code>` and `tpl_<template id>`; anything
else is not ours and is ignored, never an error (links get mangled and shared).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PAYLOAD_MAX = 64
_ALPHABET = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CODE = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Referral:
    referrer_telegram_id: int

    def raw(self) -> str:
        return f"ref_{self.referrer_telegram_id}"


@dataclass(frozen=True)
class Promo:
    code: str

    def raw(self) -> str:
        return f"promo_{self.code}"


@dataclass(frozen=True)
class Template:
    template_id: str

    def raw(self) -> str:
        return f"tpl_{self.template_id}"


StartPayload = Referral | Promo | Template


def parse_start_payload(text: str | None) -> StartPayload | None:
    """The payload's typed value, or None for an empty or unknown one."""
    if not text or not _ALPHABET.fullmatch(text):
        return None
    prefix, _, rest = text.partition("_")
    if prefix == "ref" and rest.isascii() and rest.isdigit() and 0 < int(rest) < 2**63:
        return Referral(int(rest))
    if not _CODE.fullmatch(rest):
        return None
    if prefix == "promo":
        return Promo(rest)
    if prefix == "tpl":
        return Template(rest)
    return None
