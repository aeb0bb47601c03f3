"""History, the buttons under a result, settings, balance receipts and the limit on jobs in
flight, through HTTP only: the emulator plays the user, the webhook runs aiogram, real
Postgres, the KIE simulator, deliver_result through the local queue."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from scripts.job_stack import Stack, job_stack
from shared.bot.routers.wizard import questions
from shared.services.ledger_audit import audit_ledger
from shared.services.users import open_account
from tests.conftest import DatabaseFactory
from tests.e2e.test_journey import (
    FUNDS,
    bot_messages,
    buttons,
    fill_wizard,
    first_model,
    last_bot_message,
    open_model,
    press,
    wait_for,
)
from tests.ids import new_telegram_id


@pytest.fixture(scope="module")
def stack(make_test_database: DatabaseFactory, pg_server_url: str) -> Iterator[Stack]:
    db = make_test_database(max_size=8)
    url = pg_server_url.rsplit("/", 1)[0] + "/" + db.params.database
    with job_stack(db, url, seed=12, delay_s=0.2) as running:
        yield running


def results(stack: Stack, user_id: int) -> list[dict[str, Any]]:
    return [m for m in bot_messages(stack, user_id) if "Готово:" in (m.get("caption") or "")]


def wait_results(stack: Stack, user_id: int, count: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while len(results(stack, user_id)) < count:
        assert time.monotonic() < deadline, f"{len(results(stack, user_id))} results, not {count}"
        time.sleep(0.1)


def balance(stack: Stack, user_id: int) -> tuple[int, int]:
    account = open_account(stack.db, user_id)
    wallet = stack.ledger.balance(account.wallet_id)
    return wallet.balance_kopecks, wallet.held_kopecks


def jobs_of(stack: Stack, user_id: int) -> list[list[Any]]:
    account = open_account(stack.db, user_id)
    return stack.db.run(
        "SELECT id::text, state, inputs FROM jobs WHERE user_id = :u ORDER BY created_at",
        u=account.user_id,
    )


def funded_user(stack: Stack) -> int:
    user_id = new_telegram_id()
    stack.telegram.send_text(user_id, "/start")
    account = open_account(stack.db, user_id)
    stack.ledger.topup(account.wallet_id, FUNDS, f"ux-funds:{user_id}")
    return user_id


def image_model() -> Any:
    return first_model("visuals", lambda e: questions(e) == ["prompt"])


def run_to_result(stack: Stack, user_id: int) -> dict[str, Any]:
    """/menu → an image model → prompt → run → the delivered photo with its buttons."""
    open_model(stack, user_id, image_model())
    summary = fill_wizard(stack, user_id)
    before = len(results(stack, user_id))
    press(stack, user_id, summary, "▶ Запустить")
    wait_results(stack, user_id, before + 1)
    return results(stack, user_id)[-1]


def test_result_buttons_send_again_without_a_charge_and_repeat_makes_one_job(
    stack: Stack,
) -> None:
    user_id = funded_user(stack)
    result = run_to_result(stack, user_id)
    assert buttons(result) == [
        "🔁 Повторить",
        "✏️ Изменить и повторить",
        "📩 Отправить снова",
        "‹ В меню",
    ]
    assert all(len(b["callback_data"].encode()) <= 64 for row in result["keyboard"] for b in row)
    money = balance(stack, user_id)

    # "Send again": the same file once more; no new job, not a kopeck moved.
    answer = stack.telegram.press(user_id, result["message_id"], "📩 Отправить снова")
    assert answer["answer"]["text"] == "Отправляю ещё раз — без повторной оплаты."
    wait_results(stack, user_id, 2)
    again = results(stack, user_id)[-1]
    assert again["media"]["kind"] == "photo" and again["message_id"] != result["message_id"]
    assert buttons(again) == buttons(result)
    assert balance(stack, user_id) == money
    assert [j[1] for j in jobs_of(stack, user_id)] == ["delivered"]

    # The same press's task brought once more, as an SQS queue may (no name, no dedupe by
    # the queue): the press is remembered, so nothing more is sent.
    [(job_id, request)] = stack.db.run(
        "SELECT r.job_id::text, r.request FROM redeliveries r JOIN jobs j ON j.id = r.job_id "
        "JOIN users u ON u.id = j.user_id WHERE u.telegram_id = :t",
        t=user_id,
    )
    stack.queue.enqueue("deliver_result", {"job_id": job_id, "again": True, "request": request})
    assert stack.queue.wait_idle(timeout=30)
    assert len(results(stack, user_id)) == 2

    # "Repeat": the confirm screen with the same inputs; a double tap on run is one job.
    press(stack, user_id, again, "🔁 Повторить")
    confirm = wait_for(stack, user_id, lambda m: "▶ Запустить" in " ".join(buttons(m)))
    assert confirm["message_id"] > again["message_id"]  # a new message; the result stays
    run_label = next(b for b in buttons(confirm) if b.startswith("▶"))
    barrier = threading.Barrier(2)

    def tap() -> None:
        barrier.wait()
        stack.telegram.press(user_id, confirm["message_id"], run_label)

    taps = [threading.Thread(target=tap) for _ in range(2)]
    for thread in taps:
        thread.start()
    for thread in taps:
        thread.join()
    wait_results(stack, user_id, 3)
    jobs = jobs_of(stack, user_id)
    assert len(jobs) == 2 and jobs[0][2] == jobs[1][2]  # the same inputs, one new job
    account = open_account(stack.db, user_id)
    holds = stack.db.run("SELECT count(*) FROM holds WHERE wallet_id = :w", w=account.wallet_id)
    assert holds[0][0] == 2
    assert audit_ledger(stack.db).ok


def test_change_and_repeat_opens_the_summary_prefilled_and_changes_a_field(stack: Stack) -> None:
    user_id = funded_user(stack)
    result = run_to_result(stack, user_id)
    first_prompt = jobs_of(stack, user_id)[0][2]["prompt"]
    press(stack, user_id, result, "✏️ Изменить и повторить")
    summary = wait_for(stack, user_id, lambda m: "▶ Запустить" in " ".join(buttons(m)))
    assert first_prompt in summary["text"]  # prefilled
    press(stack, user_id, summary, "✎ Изменить: описание")
    question = last_bot_message(stack, user_id)
    assert question["message_id"] == summary["message_id"]
    assert question["text"].startswith("Напишите описание")
    stack.telegram.send_text(user_id, "Кеды на синем фоне")
    changed = last_bot_message(stack, user_id)
    assert "Кеды на синем фоне" in changed["text"]
    press(stack, user_id, changed, "▶ Запустить")
    wait_results(stack, user_id, 2)
    prompts = [j[2]["prompt"] for j in jobs_of(stack, user_id)]
    assert prompts == [first_prompt, "Кеды на синем фоне"]


def test_history_pages_cards_and_send_again(stack: Stack) -> None:
    user_id = funded_user(stack)
    stack.telegram.send_text(user_id, "/history")
    assert last_bot_message(stack, user_id)["text"].startswith("Здесь будут ваши генерации")
    for _ in range(6):  # six jobs: two pages of five
        entry = image_model()
        stack.run_job(
            open_account(stack.db, user_id).user_id,
            entry.id,
            {"prompt": "Баннер"},
            client_ref=f"ux-history:{user_id}:{time.monotonic_ns()}",
        )
    wait_results(stack, user_id, 6)
    stack.telegram.send_text(user_id, "/menu")
    press(stack, user_id, last_bot_message(stack, user_id), "📜 История")
    page = last_bot_message(stack, user_id)
    assert page["text"] == "Ваши генерации: 6 (стр. 1 из 2). Нажмите, чтобы открыть:"
    title = image_model().title.ru
    rows = [b for b in buttons(page) if title in b]
    assert len(rows) == 5 and all(r.startswith("✅") and " ₽ · " in r for r in rows)
    press(stack, user_id, page, "›")
    second = last_bot_message(stack, user_id)
    assert second["message_id"] == page["message_id"]  # one message per screen
    assert "стр. 2 из 2" in second["text"] and len([b for b in buttons(second) if title in b]) == 1
    press(stack, user_id, second, "✅")
    card = last_bot_message(stack, user_id)
    assert "Статус: готово" in card["text"] and "Описание: Баннер" in card["text"]
    assert {"📩 Отправить снова", "🔁 Повторить", "‹ Назад", "‹ В меню"} <= set(buttons(card))
    money = balance(stack, user_id)
    press(stack, user_id, card, "📩 Отправить снова")
    wait_results(stack, user_id, 7)
    assert balance(stack, user_id) == money and len(jobs_of(stack, user_id)) == 6
    press(stack, user_id, card, "‹ Назад")
    screen = next(m for m in bot_messages(stack, user_id) if m["message_id"] == card["message_id"])
    assert "стр. 2 из 2" in screen["text"]  # back to the page the card was opened from


def test_another_users_job_cannot_be_opened_by_a_forged_button(stack: Stack) -> None:
    from shared.bot.callbacks import HistoryCb
    from shared.bot.routers.history import read_job

    owner = funded_user(stack)
    job = stack.run_job(
        open_account(stack.db, owner).user_id,
        image_model().id,
        {"prompt": "Чужое"},
        client_ref=f"ux-forged:{owner}",
    )
    stranger = new_telegram_id()
    assert read_job(stack.db, stranger, job.id.replace("-", "")) is None
    assert read_job(stack.db, owner, job.id.replace("-", "")) is not None
    assert len(HistoryCb(action="again", page=99, job=job.id.replace("-", "")).pack()) <= 64


def test_language_setting_is_stored_and_used_from_then_on(stack: Stack) -> None:
    user_id = new_telegram_id()
    stack.telegram.send_text(user_id, "/start")
    stack.telegram.send_text(user_id, "/menu")
    menu = last_bot_message(stack, user_id)
    press(stack, user_id, menu, "⚙️ Настройки")
    screen = last_bot_message(stack, user_id)
    assert screen["text"].startswith("Настройки") and "✓ Русский" in buttons(screen)
    press(stack, user_id, screen, "English")
    switched = last_bot_message(stack, user_id)
    assert switched["text"].startswith("Settings") and "✓ English" in buttons(switched)
    language = stack.db.run("SELECT language FROM users WHERE telegram_id = :t", t=user_id)
    assert language[0][0] == "en"
    # Telegram still says Russian; the stored choice wins, in every screen after.
    stack.telegram.send_text(user_id, "/menu")
    assert last_bot_message(stack, user_id)["text"].startswith("What shall we make?")
    stack.telegram.send_text(user_id, "/balance")
    assert last_bot_message(stack, user_id)["text"].startswith("Available:")
    press(stack, user_id, last_bot_message(stack, user_id), "‹ Menu")
    press(stack, user_id, last_bot_message(stack, user_id), "⚙️ Settings")
    press(stack, user_id, last_bot_message(stack, user_id), "Русский")
    stack.telegram.send_text(user_id, "/menu")
    assert last_bot_message(stack, user_id)["text"].startswith("Что создаём?")


def test_balance_shows_receipts_and_a_top_up_button(stack: Stack) -> None:
    user_id = funded_user(stack)
    run_to_result(stack, user_id)
    stack.telegram.send_text(user_id, "/menu")
    press(stack, user_id, last_bot_message(stack, user_id), "💳 Баланс")
    screen = last_bot_message(stack, user_id)
    available, held = balance(stack, user_id)
    text = screen["text"]
    assert text.startswith("Доступно: ") and "Последние операции:" in text
    lines = text.split("Последние операции:\n", 1)[1].splitlines()
    assert "списано" in lines[0] and image_model().title.ru in lines[0]  # newest first
    assert any("пополнение" in line for line in lines)
    assert not any("резерв" in line and "↩" not in line for line in lines)  # holds are not receipts
    topup = next(b for row in screen["keyboard"] for b in row if b["text"] == "➕ Пополнить")
    assert topup["callback_data"] == "v1p:open:"
    assert held == 0 and available < FUNDS


def test_a_failed_job_shows_the_returned_money_as_a_receipt(stack: Stack) -> None:
    user_id = funded_user(stack)
    entry = image_model()
    stack.set_sim(failure_rate=1.0)
    try:
        job = stack.run_job(
            open_account(stack.db, user_id).user_id,
            entry.id,
            {"prompt": "Не выйдет"},
            client_ref=f"ux-fail:{user_id}",
        )
        assert stack.wait_final(job.id).state.value == "failed"
    finally:
        stack.set_sim(failure_rate=0.0)
    wait_for(stack, user_id, lambda m: "вернулись на ваш баланс" in (m.get("text") or ""))
    stack.telegram.send_text(user_id, "/balance")
    text = last_bot_message(stack, user_id)["text"]
    assert "↩" in text and "возвращено из резерва" in text and entry.title.ru in text
    assert balance(stack, user_id) == (FUNDS, 0)


def test_jobs_in_flight_are_limited_with_a_friendly_answer(stack: Stack) -> None:
    user_id = funded_user(stack)
    entry = image_model()
    account = open_account(stack.db, user_id)
    open_model(stack, user_id, entry)
    summary = fill_wizard(stack, user_id)
    stack.set_sim(delay_s=60.0)  # three jobs that stay in flight
    try:
        for n in range(3):
            stack.run_job(
                account.user_id, entry.id, {"prompt": "x"}, client_ref=f"ux-busy:{user_id}:{n}"
            )
    finally:
        stack.set_sim(delay_s=0.2)
    run = next(b for b in buttons(summary) if b.startswith("▶"))
    answer = stack.telegram.press(user_id, summary["message_id"], run)
    assert answer["answer"]["text"] == (
        "Уже идут 3 генерации — это максимум одновременно. "
        "Дождитесь результата и запускайте следующую."
    )
    assert answer["answer"]["show_alert"] is True
    assert len(jobs_of(stack, user_id)) == 3  # nothing created, nothing held for it


def test_a_stale_press_that_no_handler_takes_is_still_answered(stack: Stack) -> None:
    user_id = funded_user(stack)
    open_model(stack, user_id, image_model())
    summary = fill_wizard(stack, user_id)
    stack.telegram.send_text(user_id, "/start")  # the wizard is dropped
    answer = stack.telegram.press(user_id, summary["message_id"], "✎ Изменить: описание")
    assert answer["answered"] is True
    assert answer["answer"]["text"] == "Эта кнопка устарела. Откройте меню заново: /menu"


def test_help_lists_every_command_of_the_command_menu(stack: Stack) -> None:
    from shared.bot.commands import COMMANDS

    user_id = new_telegram_id()
    stack.telegram.send_text(user_id, "/start")
    stack.telegram.send_text(user_id, "/help")
    answer = wait_for(stack, user_id, lambda m: "Команды:" in (m.get("text") or ""))
    listed = [
        line.split(" — ")[0] for line in answer["text"].split("Команды:\n", 1)[1].splitlines()
    ]
    assert listed == [f"/{name}" for name in COMMANDS]
    press(stack, user_id, answer, "‹ В меню")
    wait_for(stack, user_id, lambda m: any(b.startswith("✨") for b in buttons(m)))
