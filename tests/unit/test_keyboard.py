"""Keyboard builds what aiogram's InlineKeyboardBuilder builds, without its deep copies."""

from __future__ import annotations

import pytest
from aiogram.utils.keyboard import InlineKeyboardBuilder

from shared.bot.callbacks import MenuCb
from shared.bot.keyboard import Keyboard


def fill(kb: InlineKeyboardBuilder, buttons: int, sizes: tuple[int, ...]) -> None:
    for n in range(buttons):
        kb.button(text=f"b{n}", callback_data=MenuCb(screen=f"s{n}"))
    kb.adjust(*sizes)
    kb.row(*(kb._button_type(text="last", callback_data="x") for _ in range(2)))


@pytest.mark.parametrize(("buttons", "sizes"), [(5, (1, 2, 2)), (3, (1,)), (9, (2,)), (1, ())])
def test_the_same_markup_as_aiograms_builder(buttons: int, sizes: tuple[int, ...]) -> None:
    ours, theirs = Keyboard(), InlineKeyboardBuilder()
    fill(ours, buttons, sizes)
    fill(theirs, buttons, sizes)
    assert ours.as_markup().model_dump() == theirs.as_markup().model_dump()


def test_an_exported_row_is_a_copy() -> None:
    kb = Keyboard()
    fill(kb, 3, (2,))
    rows = kb.export()
    rows[0].clear()
    rows.append([])
    assert [len(row) for row in kb.export()] == [2, 1, 2]
