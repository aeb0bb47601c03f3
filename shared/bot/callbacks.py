"""Typed callback payloads (aiogram's CallbackData: packed ≤ 64 bytes, checked on pack).

Prefixes are versioned ("v1…"), so buttons from an older release still parse or are
recognised as expired instead of being misread.
"""

from __future__ import annotations

import hashlib

from aiogram.filters.callback_data import CallbackData


class MenuCb(CallbackData, prefix="v1m"):
    screen: str  # main | create | balance | help


class CategoryCb(CallbackData, prefix="v1c"):
    slug: str
    page: int = 0


class ModelCb(CallbackData, prefix="v1d"):
    key: str  # model_key(model id): ids can be long and contain the separator


class WizardCb(CallbackData, prefix="v1w"):
    action: str  # pick | skip | run | cancel
    value: str = ""


def model_key(model_id: str) -> str:
    """A short stable handle for a model id (10 hex characters)."""
    return hashlib.sha1(model_id.encode(), usedforsecurity=False).hexdigest()[:10]


class TopUpCb(CallbackData, prefix="v1p"):
    """The wallet top-up flow (payments): open the menu, pick a pack, pick a method."""

    action: str  # open | below (a new message) | pack | custom | promo | method | cancel
    value: str = ""


class HistoryCb(CallbackData, prefix="v2h"):
    """History: a page of jobs, one job's card, and what a card offers."""

    action: str  # list | job | again | repeat | edit | retry (run again after a refusal)
    page: int = 0
    job: str = ""  # the job's uuid as 32 hex digits


class ResultCb(CallbackData, prefix="v2r"):
    """The buttons under a delivered result; each answers with a new message."""

    action: str  # repeat | edit | again | menu
    job: str = ""


class SettingsCb(CallbackData, prefix="v2s"):
    action: str  # open | lang
    value: str = ""
