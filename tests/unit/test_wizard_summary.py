"""What the wizard's summary shows for each kind of value: the user's words, not our data."""

from __future__ import annotations

from shared.bot.i18n import I18n
from shared.bot.routers.wizard import SHOWN_MAX, summary_lines
from shared.registry import enabled_models


def test_a_conversation_shows_its_words_not_a_python_list() -> None:
    claude = next(e for e in enabled_models() if "messages" in e.inputs)
    values = {"messages": [{"role": "user", "content": "Напиши пост про скидки"}]}
    [line] = summary_lines(claude, values, I18n.load(), "ru")
    assert line == "• запрос: Напиши пост про скидки"


def test_files_show_as_a_count_not_our_urls() -> None:
    entry = next(
        e for e in enabled_models() if any(s.type == "file_list" for s in e.inputs.values())
    )
    name = next(n for n, s in entry.inputs.items() if s.type == "file_list")
    urls = ["http://127.0.0.1:8082/files/uploads/a.png", "http://127.0.0.1:8082/files/b.png"]
    [line] = summary_lines(entry, {name: urls}, I18n.load(), "en")
    assert line.endswith(": 📎 attached: 2") and "127.0.0.1" not in line


def test_long_text_is_cut_with_an_ellipsis_and_yes_no_in_words() -> None:
    entry = next(
        e
        for e in enabled_models()
        if "prompt" in e.inputs and any(s.type == "boolean" for s in e.inputs.values())
    )
    switch = next(n for n, s in entry.inputs.items() if s.type == "boolean")
    lines = summary_lines(entry, {"prompt": "а" * 200, switch: True}, I18n.load(), "ru")
    prompt = lines[0].split(": ", 1)[1]
    assert len(prompt) == SHOWN_MAX and prompt.endswith("…")
    assert lines[1].endswith(": Да")
