"""A marketer's journey through HTTP only: the Telegram emulator plays the user, the
webhook runs aiogram, the wizard starts a real job on the KIE simulator, and the
result arrives in the chat; the balance drops by no more than the quote."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from PIL import Image

from scripts.job_stack import Stack, job_stack
from scripts.telegram_emulator.files import IncomingFile
from shared.bot.callbacks import WizardCb, model_key
from shared.bot.catalog_view import model_button
from shared.bot.routers.wizard import editable as wizard_editable
from shared.bot.routers.wizard import questions
from shared.domain.money import format_rubles
from shared.registry import categories, enabled_models
from shared.registry.schema import ModelEntry
from shared.services.ledger import Ledger
from shared.services.ledger_audit import audit_ledger
from shared.services.users import open_account
from tests.conftest import DatabaseFactory
from tests.ids import new_telegram_id


def _png() -> bytes:
    """A real 640×480 product shot (the emulator reads its size for the photo sizes)."""
    image = Image.new("RGB", (640, 480), (240, 240, 240))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


PNG = _png()
AUDIO = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 2048
AUDIO_SECONDS = 7
FUNDS = 1_000_000
CATEGORY_LABELS = {c.slug: c.label.ru for c in categories()}


@pytest.fixture(scope="module")
def stack(make_test_database: DatabaseFactory, pg_server_url: str) -> Iterator[Stack]:
    db = make_test_database(max_size=8)
    url = pg_server_url.rsplit("/", 1)[0] + "/" + db.params.database
    with job_stack(db, url, seed=11, delay_s=0.2) as running:
        yield running


def bot_messages(stack: Stack, user_id: int) -> list[dict[str, Any]]:
    chat: list[dict[str, Any]] = stack.telegram.chat(user_id)["messages"]
    return [m for m in chat if m["direction"] == "out" and not m["deleted"]]


def last_bot_message(stack: Stack, user_id: int) -> dict[str, Any]:
    return bot_messages(stack, user_id)[-1]


def buttons(message: dict[str, Any]) -> list[str]:
    return [button["text"] for row in message.get("keyboard", []) for button in row]


def press(stack: Stack, user_id: int, message: dict[str, Any], startswith: str) -> None:
    label = next(text for text in buttons(message) if text.startswith(startswith))
    stack.telegram.press(user_id, message["message_id"], label)


def wait_for(
    stack: Stack,
    user_id: int,
    predicate: Callable[[dict[str, Any]], bool],
    timeout_s: float = 30,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        messages: list[dict[str, Any]] = bot_messages(stack, user_id)
        for message in reversed(messages):
            if predicate(message):
                return dict(message)
        time.sleep(0.1)
    raise AssertionError(f"not seen in time; chat: {bot_messages(stack, user_id)[-3:]}")


def line_edits(stack: Stack, user_id: int, message_id: int) -> list[str]:
    """Every text the bot put into one message by editing it, in order."""
    return [
        str(call.params.get("text"))
        for call in stack.telegram.calls("editMessageText")
        if str(call.params.get("message_id")) == str(message_id)
        and str(call.params.get("chat_id")) == str(user_id)
    ]


def wait_for_edit(stack: Stack, user_id: int, message_id: int, fragment: str) -> None:
    """Until the bot has edited `fragment` into the message, however soon a later edit
    replaced it (a fast job goes from "started" to "done" between two looks at the chat)."""
    deadline = time.monotonic() + 30
    while not any(fragment in text for text in line_edits(stack, user_id, message_id)):
        if time.monotonic() > deadline:
            raise AssertionError(f"{fragment!r} never edited in: {bot_messages(stack, user_id)}")
        time.sleep(0.1)


def last_line(stack: Stack, user_id: int, message_id: int) -> str:
    message = next(m for m in bot_messages(stack, user_id) if m["message_id"] == message_id)
    return str(message.get("text") or "")


def fill_wizard(stack: Stack, user_id: int) -> dict[str, Any]:
    """Answer every question the wizard asks until the run button shows."""
    for _ in range(12):
        question = last_bot_message(stack, user_id)
        labels = buttons(question)
        if any(label.startswith("▶ Запустить") for label in labels):
            return question
        text = question.get("text") or ""
        if text.startswith("Пришлите") and "audio" in text:
            # A voice-over of AUDIO_SECONDS, as Telegram reports an audio upload.
            stack.telegram.actions.send_file(
                user_id,
                IncomingFile(AUDIO, "voiceover.mp3", "audio/mpeg"),
                kind="audio",
                attributes={"duration": AUDIO_SECONDS},
            )
        elif text.startswith("Пришлите"):
            stack.telegram.send_file(user_id, PNG, file_name="product.png", mime_type="image/png")
        elif options := [label for label in labels if label not in ("Пропустить", "Отмена")]:
            stack.telegram.press(user_id, question["message_id"], options[0])  # the first
        else:
            stack.telegram.send_text(user_id, "Кроссовки на белом фоне, мягкий студийный свет")
    raise AssertionError("the wizard never reached its summary")


@pytest.mark.parametrize(
    "category", ["video", "visuals", "audio", "texts", "avatars", "enhance", "experimental"]
)
def test_from_menu_to_a_delivered_result(stack: Stack, category: str) -> None:
    user_id = new_telegram_id()
    stack.telegram.send_text(user_id, "/start")
    account = open_account(stack.db, user_id)
    ledger = Ledger(stack.db, default_hold_ttl_s=3600)
    ledger.topup(account.wallet_id, FUNDS, f"journey-funds:{user_id}")

    stack.telegram.send_text(user_id, "/menu")
    press(stack, user_id, last_bot_message(stack, user_id), "✨ Создать")
    press(stack, user_id, last_bot_message(stack, user_id), CATEGORY_LABELS[category])
    models = last_bot_message(stack, user_id)
    assert "стр. 1" in models["text"]
    assert all(" ₽" in b or b.startswith(("‹", "›")) for b in buttons(models))
    stack.telegram.press(user_id, models["message_id"], buttons(models)[0])
    card = last_bot_message(stack, user_id)
    assert "Цена: от" in card["text"]
    press(stack, user_id, card, "Начать")
    summary = fill_wizard(stack, user_id)
    assert "Цена:" in summary["text"]
    run_label = next(b for b in buttons(summary) if b.startswith("▶ Запустить"))
    press(stack, user_id, summary, "▶ Запустить")
    result = wait_for(
        stack, user_id, lambda m: "Готово:" in (m.get("caption") or m.get("text") or "")
    )
    progress = wait_for(
        stack,
        user_id,
        lambda m: (
            m["message_id"] == summary["message_id"]
            and (m.get("text") or "").startswith("✓ Готово")
        ),
    )
    assert progress["edit_count"] >= 3  # summary → started → generating → done, in one message
    # The confirm screen itself became the progress line: started, generating, done.
    edits = line_edits(stack, user_id, summary["message_id"])
    assert any("запущена" in text for text in edits), edits
    assert any("генерирую, осталось ~" in text for text in edits), edits
    time.sleep(0.5)  # a late "generating" edit would have landed by now: the end still wins
    assert last_line(stack, user_id, summary["message_id"]).startswith("✓ Готово")
    kinds = {"video": "video", "visuals": "photo", "audio": "audio", "texts": None}
    kinds |= {"avatars": "video", "enhance": "photo", "experimental": None}
    expected = kinds[category]
    if expected:
        assert result["media"]["kind"] == expected, result
    spent = FUNDS - ledger.balance(account.wallet_id).balance_kopecks
    job = stack.db.run(
        "SELECT price_kopecks, state FROM jobs WHERE user_id = :u", u=account.user_id
    )
    assert len(job) == 1 and job[0][1] == "delivered"
    assert spent == job[0][0]  # exactly the quote
    assert run_label.endswith(format_rubles(job[0][0]))  # the price the confirm screen showed
    if category in ("avatars", "experimental"):  # priced by the uploaded audio's length
        # Repeating it quotes the same upload the same way, not at the model's maximum.
        press(stack, user_id, result, "🔁")
        again = wait_for(
            stack,
            user_id,
            lambda m: (
                any(b.startswith("▶ Запустить") for b in buttons(m))
                and m["message_id"] != summary["message_id"]
            ),
        )
        assert next(b for b in buttons(again) if b.startswith("▶ Запустить")) == run_label
    assert audit_ledger(stack.db).ok


def test_run_pressed_twice_makes_one_job(stack: Stack) -> None:
    user_id = new_telegram_id()
    stack.telegram.send_text(user_id, "/start")
    account = open_account(stack.db, user_id)
    Ledger(stack.db, default_hold_ttl_s=3600).topup(account.wallet_id, FUNDS, f"j2:{user_id}")
    stack.telegram.send_text(user_id, "/menu")
    press(stack, user_id, last_bot_message(stack, user_id), "✨ Создать")
    press(stack, user_id, last_bot_message(stack, user_id), CATEGORY_LABELS["visuals"])
    models = last_bot_message(stack, user_id)
    stack.telegram.press(user_id, models["message_id"], buttons(models)[0])
    press(stack, user_id, last_bot_message(stack, user_id), "Начать")
    summary = fill_wizard(stack, user_id)
    run_label = next(b for b in buttons(summary) if b.startswith("▶"))
    # A double tap: two presses of the same button before the bot has answered either.
    barrier = threading.Barrier(2)

    def tap() -> None:
        barrier.wait()
        stack.telegram.press(user_id, summary["message_id"], run_label)

    taps = [threading.Thread(target=tap) for _ in range(2)]
    for thread in taps:
        thread.start()
    for thread in taps:
        thread.join()
    wait_for(
        stack,
        user_id,
        lambda m: m["message_id"] == summary["message_id"] and "Запустить" not in str(m),
    )
    jobs = stack.db.run("SELECT count(*) FROM jobs WHERE user_id = :u", u=account.user_id)
    holds = stack.db.run("SELECT count(*) FROM holds WHERE wallet_id = :w", w=account.wallet_id)
    assert (jobs[0][0], holds[0][0]) == (1, 1)


def test_not_enough_money_is_said_plainly_and_nothing_is_held(stack: Stack) -> None:
    user_id = new_telegram_id()
    stack.telegram.send_text(user_id, "/start")
    account = open_account(stack.db, user_id)
    stack.telegram.send_text(user_id, "/menu")
    press(stack, user_id, last_bot_message(stack, user_id), "✨ Создать")
    press(stack, user_id, last_bot_message(stack, user_id), CATEGORY_LABELS["video"])
    models = last_bot_message(stack, user_id)
    stack.telegram.press(user_id, models["message_id"], buttons(models)[0])
    press(stack, user_id, last_bot_message(stack, user_id), "Начать")
    summary = fill_wizard(stack, user_id)
    press(stack, user_id, summary, "▶ Запустить")
    refusal = wait_for(stack, user_id, lambda m: "Не хватает средств" in (m.get("text") or ""))
    assert "доступно 0 ₽" in refusal["text"]
    holds = stack.db.run("SELECT count(*) FROM holds WHERE wallet_id = :w", w=account.wallet_id)
    assert holds[0][0] == 0

    # Top up from the refusal: the top-up screen opens below it, and the refusal keeps its
    # "run again", which still leads to this run after the money has come.
    press(stack, user_id, refusal, "➕ Пополнить")
    wait_for(stack, user_id, lambda m: (m.get("text") or "").startswith("💳 Пополнение"))
    assert last_line(stack, user_id, refusal["message_id"]) == refusal["text"]
    Ledger(stack.db, default_hold_ttl_s=3600).topup(account.wallet_id, FUNDS, f"nf:{user_id}")
    press(stack, user_id, refusal, "▶ Запустить снова")
    confirm = wait_for(
        stack,
        user_id,
        lambda m: (
            m["message_id"] > refusal["message_id"]
            and any(b.startswith("▶ Запустить за") for b in buttons(m))
        ),
    )
    press(stack, user_id, confirm, "▶ Запустить за")
    wait_for_edit(stack, user_id, confirm["message_id"], "Списано в резерв")
    holds = stack.db.run("SELECT count(*) FROM holds WHERE wallet_id = :w", w=account.wallet_id)
    assert holds[0][0] == 1


def test_run_again_after_the_run_itself_started_makes_no_second_job(stack: Stack) -> None:
    """The money came without leaving the dialogue (an admin approved a transfer), the user
    pressed the confirm screen's own Run, then "Run again" under the refusal: one job."""
    user_id = new_telegram_id()
    stack.telegram.send_text(user_id, "/start")
    account = open_account(stack.db, user_id)
    open_model(stack, user_id, first_model("visuals", lambda e: questions(e) == ["prompt"]))
    summary = fill_wizard(stack, user_id)
    press(stack, user_id, summary, "▶ Запустить")
    refusal = wait_for(stack, user_id, lambda m: "Не хватает средств" in (m.get("text") or ""))
    Ledger(stack.db, default_hold_ttl_s=3600).topup(account.wallet_id, FUNDS, f"ra:{user_id}")
    press(stack, user_id, summary, "▶ Запустить")
    wait_for_edit(stack, user_id, summary["message_id"], "Списано в резерв")
    label = next(b for b in buttons(refusal) if b.startswith("▶ Запустить снова"))
    answer = stack.telegram.press(user_id, refusal["message_id"], label)
    assert answer["answer"]["text"].startswith("Эта генерация уже запущена")
    jobs = stack.db.run("SELECT count(*) FROM jobs WHERE user_id = :u", u=account.user_id)
    assert jobs[0][0] == 1


def open_model(stack: Stack, user_id: int, entry: ModelEntry) -> None:
    """From /menu to the model's wizard, paging the category as a user would."""
    stack.telegram.send_text(user_id, "/menu")
    press(stack, user_id, last_bot_message(stack, user_id), "✨ Создать")
    press(stack, user_id, last_bot_message(stack, user_id), CATEGORY_LABELS[entry.category])
    for _ in range(40):
        page = last_bot_message(stack, user_id)
        label = model_button(entry, "ru")
        if label in buttons(page):
            stack.telegram.press(user_id, page["message_id"], label)
            break
        press(stack, user_id, page, "›")
    else:
        raise AssertionError(f"{entry.id} not found in its category")
    press(stack, user_id, last_bot_message(stack, user_id), "Начать")


def new_user_in_prompt_wizard(stack: Stack) -> tuple[int, ModelEntry]:
    """A new user at the first question of a visuals model that asks only for a prompt."""
    user_id = new_telegram_id()
    stack.telegram.send_text(user_id, "/start")
    entry = first_model("visuals", lambda e: questions(e) == ["prompt"])
    open_model(stack, user_id, entry)
    return user_id, entry


def first_model(category: str, wants: Callable[[ModelEntry], bool]) -> ModelEntry:
    return next(e for e in enabled_models() if e.category == category and wants(e))


def asks_for_a_file(entry: ModelEntry) -> bool:
    first = (questions(entry) or [""])[0]
    return (
        bool(first)
        and entry.inputs[first].is_file
        and "image/png" in (entry.inputs[first].accept or ())
    )


def nothing_held(stack: Stack, telegram_id: int) -> bool:
    account = open_account(stack.db, telegram_id)
    holds = stack.db.run("SELECT count(*) FROM holds WHERE wallet_id = :w", w=account.wallet_id)
    jobs = stack.db.run("SELECT count(*) FROM jobs WHERE user_id = :u", u=account.user_id)
    return bool(holds[0][0] == 0 and jobs[0][0] == 0)


def test_a_prompt_longer_than_the_model_takes_is_refused(stack: Stack) -> None:
    entry = first_model(
        "video",
        lambda e: (
            (questions(e) or [""])[0] == "prompt"
            and (e.inputs["prompt"].max_length or 10**6) < 4096
        ),
    )
    user_id = new_telegram_id()
    stack.telegram.send_text(user_id, "/start")
    open_model(stack, user_id, entry)
    stack.telegram.send_text(user_id, "я" * 4096)
    limit = entry.inputs["prompt"].max_length
    assert last_bot_message(stack, user_id)["text"] == (
        f"Слишком длинно: 4096 символов, а модель принимает до {limit}."
    )
    assert nothing_held(stack, user_id)


def test_a_pdf_where_an_image_is_expected_is_refused(stack: Stack) -> None:
    entry = first_model("visuals", asks_for_a_file)
    user_id = new_telegram_id()
    stack.telegram.send_text(user_id, "/start")
    open_model(stack, user_id, entry)
    stack.telegram.send_file(
        user_id, b"%PDF-1.7\n" + b"0" * 100, file_name="brief.pdf", mime_type="application/pdf"
    )
    assert last_bot_message(stack, user_id)["text"].startswith("Этот формат не подходит.")
    assert nothing_held(stack, user_id)


def test_a_30_mb_file_is_refused_before_anything_is_downloaded(stack: Stack) -> None:
    from scripts.telegram_emulator.files import IncomingFile

    entry = first_model("visuals", asks_for_a_file)
    user_id = new_telegram_id()
    stack.telegram.send_text(user_id, "/start")
    open_model(stack, user_id, entry)
    big = IncomingFile(PNG, "poster.png", "image/png", 30 * 1024 * 1024)
    downloads = len(stack.telegram.calls("getFile"))
    stack.telegram.actions.send_file(user_id, big, kind="document")
    assert last_bot_message(stack, user_id)["text"].startswith("Файл слишком большой")
    assert len(stack.telegram.calls("getFile")) == downloads  # refused before downloading
    assert nothing_held(stack, user_id)


def test_a_sticker_in_the_wizard_is_answered_and_nothing_is_held(stack: Stack) -> None:
    import json
    from pathlib import Path

    entry = first_model("visuals", asks_for_a_file)
    user_id = new_telegram_id()
    stack.telegram.send_text(user_id, "/start")
    open_model(stack, user_id, entry)
    # A real sticker message (tests/fixtures), sent by this user in this chat.
    fixture = Path(__file__).parents[1] / "fixtures/telegram/updates/message_sticker.json"
    message = json.loads(fixture.read_text())["message"]
    chat = stack.telegram.state.chat(user_id)
    assert chat is not None
    message["from"] = chat.profile.user_json()
    message["chat"] = {"id": user_id, "type": "private", "first_name": "Test"}
    message["message_id"] = 10**6
    stack.telegram.bus.publish(user_id, "message", message, wait=True)
    assert last_bot_message(stack, user_id)["text"] == (
        "Здесь нужен другой ответ — посмотрите на вопрос выше."
    )
    assert nothing_held(stack, user_id)


def test_a_stale_button_gets_a_clear_answer(stack: Stack) -> None:
    user_id, _entry = new_user_in_prompt_wizard(stack)
    summary = fill_wizard(stack, user_id)
    stack.telegram.send_text(user_id, "/start")  # the wizard is dropped
    before = len(stack.telegram.calls("answerCallbackQuery"))
    run = next(b for b in buttons(summary) if b.startswith("▶"))
    stack.telegram.press(user_id, summary["message_id"], run)
    [answer] = stack.telegram.calls("answerCallbackQuery")[before:]
    assert answer.params.get("text") == "Эта кнопка устарела. Откройте меню заново: /menu"
    assert str(answer.params.get("show_alert")).lower() == "true"
    assert nothing_held(stack, user_id)


def fsm_data(stack: Stack, user_id: int) -> dict[str, Any]:
    rows = stack.db.run(
        "SELECT data FROM ui_state WHERE key LIKE :key AND state IS NOT NULL",
        key=f"%:{user_id}:{user_id}:%",
    )
    return dict(rows[0][0]) if rows else {}


def set_fsm_data(stack: Stack, user_id: int, data: dict[str, Any]) -> None:
    import json

    stack.db.run(
        "UPDATE ui_state SET data = CAST(:data AS jsonb) WHERE key LIKE :key",
        data=json.dumps(data),
        key=f"%:{user_id}:{user_id}:%",
    )


def test_a_second_tap_on_start_is_answered_not_failed(stack: Stack) -> None:
    """The second tap of a double tap reaches the bot after the first has already turned the
    card into the first question, and Telegram has forgotten its query: nothing to change,
    nothing to fail (before, the update failed three times and held back the chat)."""
    import httpx

    from scripts.job_stack import TELEGRAM_SECRET

    user_id, entry = new_user_in_prompt_wizard(stack)
    question = last_bot_message(stack, user_id)
    start_data = WizardCb(action="start", value=model_key(entry.id)).pack()
    update = {
        "update_id": 990_000_000 + user_id % 1_000_000,
        "callback_query": {
            "id": "4382bfdwdsb323b2d9",  # Telegram no longer knows it
            "from": {"id": user_id, "is_bot": False, "first_name": "Анна", "language_code": "ru"},
            "message": {
                "message_id": question["message_id"],
                "from": {"id": 7903518264, "is_bot": True, "first_name": "Studio"},
                "chat": {"id": user_id, "type": "private", "first_name": "Анна"},
                "date": int(time.time()),
                "text": question["text"],
            },
            "chat_instance": "-1",
            "data": start_data,
        },
    }
    answer = httpx.post(
        stack.fn("telegram_webhook"),
        json=update,
        headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET},
        timeout=30,
    )
    assert (answer.status_code, answer.json().get("outcome")) == (200, "handled")
    assert last_bot_message(stack, user_id)["message_id"] == question["message_id"]
    assert fsm_data(stack, user_id)["todo"] == ["prompt"]


def test_a_choice_button_of_an_earlier_question_does_not_answer_the_current_one(
    stack: Stack,
) -> None:
    def two_choices(entry: ModelEntry) -> bool:
        choices = [n for n, s in entry.inputs.items() if s.enum and not s.is_file]
        return questions(entry) == ["prompt"] and len(choices) >= 2

    user_id = new_telegram_id()
    stack.telegram.send_text(user_id, "/start")
    entry = first_model("video", two_choices)
    open_model(stack, user_id, entry)
    summary = fill_wizard(stack, user_id)

    def edit_buttons(message: dict[str, Any]) -> list[str]:
        return [
            b["callback_data"]
            for row in message.get("keyboard", [])
            for b in row
            if b["callback_data"].startswith("v1w:edit:")
        ]

    # Change one choice: the summary turns into its question; pick an option there.
    fields = wizard_editable(entry, fsm_data(stack, user_id)["values"])
    first_edit, second_edit = [
        data
        for data, name in zip(edit_buttons(summary), fields, strict=True)
        if entry.inputs[name].enum
    ][:2]
    stack.telegram.press(user_id, summary["message_id"], first_edit)
    old_question = last_bot_message(stack, user_id)
    stack.telegram.press(user_id, old_question["message_id"], buttons(old_question)[0])
    new_summary = last_bot_message(stack, user_id)
    assert new_summary["message_id"] != old_question["message_id"]
    # Now another choice is asked; a button still showing under the old question is pressed.
    stack.telegram.press(user_id, new_summary["message_id"], second_edit)
    asked = fsm_data(stack, user_id)
    sent_before = len(bot_messages(stack, user_id))
    pressed = stack.telegram.press(user_id, old_question["message_id"], buttons(old_question)[0])
    assert pressed["answer"]["show_alert"] is True
    assert pressed["answer"]["text"] == "Эта кнопка устарела. Откройте меню заново: /menu"
    assert fsm_data(stack, user_id) == asked  # the current question still waits
    assert len(bot_messages(stack, user_id)) == sent_before


def test_an_input_the_model_no_longer_takes_is_dropped_not_asked_forever(stack: Stack) -> None:
    """ "Repeat" of a job saved before a registry sync removed one of its inputs."""
    user_id, entry = new_user_in_prompt_wizard(stack)
    fill_wizard(stack, user_id)
    data = fsm_data(stack, user_id)
    set_fsm_data(stack, user_id, {**data, "values": {**data["values"], "retired_input": "x"}})
    sent_before = len(bot_messages(stack, user_id))
    summary = last_bot_message(stack, user_id)
    prompt_at = wizard_editable(entry, data["values"]).index("prompt")
    edit = WizardCb(action="edit", value=str(prompt_at)).pack()
    stack.telegram.press(user_id, summary["message_id"], edit)
    reply = stack.telegram.send_text(user_id, "Новый текст для баннера")
    assert reply["webhook_status"] == 200 and reply["attempts"] == 1
    again = last_bot_message(stack, user_id)
    assert any(b.startswith("▶ Запустить") for b in buttons(again)), [
        (m.get("text"), buttons(m)) for m in bot_messages(stack, user_id)[-3:]
    ]
    assert len(bot_messages(stack, user_id)) == sent_before + 1
    assert "retired_input" not in fsm_data(stack, user_id)["values"]


def test_a_model_gone_mid_wizard_is_said_plainly_and_the_wizard_ends(stack: Stack) -> None:
    user_id, _entry = new_user_in_prompt_wizard(stack)
    # A registry sync removed the model while its first question waited for an answer.
    set_fsm_data(stack, user_id, {**fsm_data(stack, user_id), "model": "gone/removed-model"})
    reply = stack.telegram.send_text(user_id, "Баннер для распродажи")
    assert reply["webhook_status"] == 200 and reply["attempts"] == 1
    assert last_bot_message(stack, user_id)["text"] == (
        "Эта модель сейчас недоступна или изменилась. Выберите модель заново: /menu"
    )
    assert fsm_data(stack, user_id) == {}


def test_text_at_the_summary_gets_a_hint_not_silence(stack: Stack) -> None:
    user_id, entry = new_user_in_prompt_wizard(stack)
    summary = fill_wizard(stack, user_id)
    stack.telegram.send_text(user_id, "а можно побыстрее?")
    hint = last_bot_message(stack, user_id)
    assert hint["message_id"] != summary["message_id"]
    assert hint["text"].startswith("Всё заполнено: нажмите «▶ Запустить»")
    assert fsm_data(stack, user_id)["model"] == entry.id  # the summary still runs


def test_a_question_for_several_images_takes_an_album_then_done(stack: Stack) -> None:
    def several_images(entry: ModelEntry) -> bool:
        first = (questions(entry) or [""])[0]
        spec = entry.inputs.get(first)
        return (
            spec is not None
            and spec.type == "file_list"
            and (spec.max_items or 1) >= 4
            and "image/png" in (spec.accept or ())
        )

    user_id = new_telegram_id()
    stack.telegram.send_text(user_id, "/start")
    entry = next(e for e in enabled_models() if several_images(e))
    open_model(stack, user_id, entry)
    name = questions(entry)[0]
    assert last_bot_message(stack, user_id)["text"].startswith("Пришлите")
    for _ in range(3):  # an album of three photos: three messages
        stack.telegram.send_file(user_id, PNG, file_name="product.png", mime_type="image/png")
    counter = last_bot_message(stack, user_id)
    assert counter["text"].startswith("Получено файлов: 3 из")
    assert counter["edit_count"] == 2  # one counter, edited in place
    press(stack, user_id, counter, "✓ Готово")
    values = fsm_data(stack, user_id)["values"]
    assert len(values[name]) == 3 and len(set(values[name])) == 3
    assert fsm_data(stack, user_id)["todo"] != [name]  # the wizard moved on


def test_a_message_no_screen_waits_for_gets_a_pointer_to_the_menu(stack: Stack) -> None:
    user_id = new_telegram_id()
    stack.telegram.send_text(user_id, "/start")
    for text in ("привет", "/unknown"):
        reply = stack.telegram.send_text(user_id, text)
        assert reply["webhook_status"] == 200
        assert last_bot_message(stack, user_id)["text"].startswith("Я понимаю кнопки и команды.")


def test_a_prompt_the_schema_lets_out_is_still_asked_and_may_be_skipped(stack: Stack) -> None:
    """Seedance-like models take a prompt or a picture: a marketer is asked for the prompt
    (it is what they came to write), with "skip" for making do without one."""
    entry = first_model(
        "video",
        lambda e: (
            "prompt" in e.inputs
            and not e.inputs["prompt"].required
            and not e.inputs["prompt"].has_default
            and not asks_for_a_file(e)
        ),
    )
    assert "prompt" in questions(entry) and "prompt" in wizard_editable(entry, {})

    writer = new_telegram_id()
    stack.telegram.send_text(writer, "/start")
    open_model(stack, writer, entry)
    question = last_bot_message(stack, writer)
    assert "Пропустить" in buttons(question)
    stack.telegram.send_text(writer, "Кроссовки бегут по мокрому асфальту, закат")
    summary = fill_wizard(stack, writer)
    assert "Кроссовки бегут по мокрому асфальту" in (summary.get("text") or "")
    assert any(label.endswith("описание") or "prompt" in label for label in buttons(summary))

    skipper = new_telegram_id()
    stack.telegram.send_text(skipper, "/start")
    open_model(stack, skipper, entry)
    press(stack, skipper, last_bot_message(stack, skipper), "Пропустить")
    summary = fill_wizard(stack, skipper)
    assert "Кроссовки" not in (summary.get("text") or "")
    assert any(label.startswith("▶ Запустить") for label in buttons(summary))


def test_cancel_while_changing_a_field_goes_back_to_the_summary(stack: Stack) -> None:
    user_id, _entry = new_user_in_prompt_wizard(stack)
    stack.telegram.send_text(user_id, "Баннер для распродажи, яркие цвета")
    summary = fill_wizard(stack, user_id)
    press(stack, user_id, summary, "✎")
    assert "Отмена" in buttons(last_bot_message(stack, user_id))
    press(stack, user_id, last_bot_message(stack, user_id), "Отмена")
    back = last_bot_message(stack, user_id)
    assert any(label.startswith("▶ Запустить") for label in buttons(back))
    assert "Баннер для распродажи" in (back.get("text") or "")
    # Cancel on the summary itself still leaves the wizard for the menu.
    press(stack, user_id, back, "Отмена")
    assert not any(label.startswith("▶") for label in buttons(last_bot_message(stack, user_id)))
