"""scripts/ux_audit.py in make test: the bot passes it in both languages, and it catches
each kind of problem it is there for when one is planted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiogram.filters.callback_data import CallbackData

from scripts import ux_audit
from scripts.job_stack import Stack, job_stack
from tests.conftest import DatabaseFactory


@pytest.fixture(scope="module")
def stack(make_test_database: DatabaseFactory, pg_server_url: str) -> Iterator[Stack]:
    db = make_test_database(max_size=8)
    url = pg_server_url.rsplit("/", 1)[0] + "/" + db.params.database
    with job_stack(db, url, seed=14, delay_s=0.2) as running:
        yield running


def test_every_screen_passes_the_audit_in_both_languages(stack: Stack) -> None:
    report = ux_audit.audit(stack)
    ux_audit.print_report(report)
    assert report.problems == []
    assert report.screens >= 20  # menu, categories, pages, cards, wizard, balance, history…
    pressed = {data.split(":", 1)[0] for _, _, data in report.edges}
    assert {"v1m", "v1c", "v1d", "v1w", "v2h", "v2s", "v1p"} <= pressed


PLANTED = """
async def on_hello(message, i18n, locale, kb):
    await message.answer("Привет, это не из локали")
    await message.edit_text(f"Цена: {locale}")
    kb.button(text="Назад", callback_data="x")
    kb.button(text="›", callback_data="y")  # a symbol, not text: allowed
    await message.answer(i18n.get("menu.title", locale))  # from the locale: allowed
    await message.answer(i18n.get("no.such_key", locale))
"""


def test_planted_hard_coded_texts_and_a_missing_key_fail_the_audit(tmp_path: Path) -> None:
    (tmp_path / "planted.py").write_text(PLANTED, encoding="utf-8")
    problems = ux_audit.check_static(tmp_path)
    assert len([p for p in problems if "hard-coded text" in p]) == 3, problems
    assert any("'no.such_key' missing in ru" in p for p in problems)
    assert ux_audit.main(["--static-only", "--routers", str(tmp_path)]) == 1


def test_the_real_routers_pass_the_static_checks() -> None:
    assert ux_audit.main(["--static-only"]) == 0


def test_planted_screen_problems_are_caught() -> None:
    too_long = {"text": "я" * 4097, "keyboard": [[{"text": "‹", "callback_data": "v1m:main"}]]}
    dead_end = {"text": "Экран", "keyboard": [[{"text": "Дальше", "callback_data": "v1d:abc"}]]}
    fat_data = {"text": "Экран", "keyboard": [[{"text": "‹", "callback_data": "v1m:" + "x" * 61}]]}
    big_caption = {"caption": "c" * 1025, "media": {"kind": "photo"}}
    bare_key = {"text": "menu.title"}
    assert "text of 4097" in ux_audit.check_screen(too_long, "ru")[0]
    assert "no way back" in ux_audit.check_screen(dead_end, "ru")[0]
    assert "over 64 bytes" in ux_audit.check_screen(fat_data, "ru")[0]
    assert "caption of 1025" in ux_audit.check_screen(big_caption, "en")[0]
    assert "bare key" in ux_audit.check_screen(bare_key, "en")[0]
    fine = {"text": "Меню", "keyboard": [[{"text": "‹", "callback_data": "v1m:main"}]]}
    assert ux_audit.check_screen(fine, "ru") == []


def test_a_callback_class_without_a_handler_is_caught() -> None:
    class Orphan(CallbackData, prefix="v9z"):
        action: str

    classes: list[type[Any]] = [*ux_audit.callback_classes(), Orphan]
    problems = ux_audit.check_handlers(ux_audit.built_dispatcher(), classes)
    assert problems == ["callbacks: Orphan (prefix 'v9z') has no handler"]
