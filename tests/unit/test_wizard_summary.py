"""What the wizard's summary shows for each kind of value: the user's words, not our data."""

from __future__ import annotations

from shared.bot.i18n import LOCALES, I18n, MissingText
from shared.bot.routers.wizard import SHOWN_MAX, _files_max, _label, quoted_price, summary_lines
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


def test_every_field_of_every_model_has_a_name_in_both_languages() -> None:
    """Questions ("Выберите {field}:", "Включить {field}?") and the summary name fields in
    the user's language, never by the schema's own (English, camelCase) name; a registry
    sync that brings a new field fails here until the field has its words."""
    i18n = I18n.load()
    unnamed: set[tuple[str, str]] = set()
    for entry in enabled_models():
        for name in entry.inputs:
            for locale in LOCALES:
                try:
                    i18n.get(f"field.{name}", locale)
                except MissingText:
                    unnamed.add((locale, name))
    assert sorted(unnamed) == []


def test_a_default_shows_under_its_russian_name_on_the_summary() -> None:
    entry = next(e for e in enabled_models() if "nsfw_checker" in e.inputs)
    [line] = summary_lines(entry, {"nsfw_checker": True}, I18n.load(), "ru")
    assert line == "• фильтр откровенного контента: Да"


def test_a_per_token_quote_reads_up_to_and_a_flat_one_does_not() -> None:
    i18n = I18n.load()
    claude = next(e for e in enabled_models() if "messages" in e.inputs)
    flat = next(e for e in enabled_models() if e.price is not None and e.price.unit == "per_run")
    assert quoted_price(claude, 1234, i18n, "ru") == "до 12,34 ₽"
    assert quoted_price(claude, 1234, i18n, "en").startswith("up to ")
    assert quoted_price(flat, 1234, i18n, "ru") == "12,34 ₽"


def test_field_names_fit_the_questions_they_go_into() -> None:
    """English names go after "the" (so no article of their own), a list of files has a
    plural name in Russian, and no name carries a unit after a comma ("…, s")."""
    i18n = I18n.load()
    for entry in enabled_models():
        for name, spec in entry.inputs.items():
            en = i18n.get(f"field.{name}", "en")
            ru = i18n.get(f"field.{name}", "ru")
            assert not en.lower().startswith(("a ", "an ", "the ")), (name, en)
            assert "," not in en and "," not in ru, (name, en, ru)
            if spec.type == "file_list" and _files_max(spec) > 1:
                many = _label(name, i18n, "ru", many=True)
                # Not a singular adjective or noun first ("референсное изображение").
                assert not many.split()[0].endswith(("ое", "ие", "ый", "ий", "ая")), (name, many)


def test_a_switch_is_asked_as_a_question() -> None:
    i18n = I18n.load()
    assert i18n.get("wizard.ask_bool", "ru", field="водяной знак") == "Включить водяной знак?"
