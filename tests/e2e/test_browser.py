"""`make run` as a person uses it: the chat page in headless Chromium (Debian's build,
driven by Playwright), from /start to a delivered video and a lower balance."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.e2e.sandbox_process import RunningSandbox, run_sandbox
from tests.ids import new_telegram_id

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def running_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    """The real `make run` (scripts.sandbox) on free ports, until the tests are done."""
    with run_sandbox(tmp_path_factory.mktemp("sandbox")) as running:
        yield running


@pytest.fixture(scope="module")
def sandbox(running_sandbox: RunningSandbox) -> str:
    return running_sandbox.url


@contextmanager
def chat_page(sandbox: str, *, height: int) -> Iterator[Page]:
    """The chat page for a new test user in Debian's headless Chromium."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 900, "height": height})
            page.set_default_timeout(30_000)
            page.goto(f"{sandbox}/?user={new_telegram_id()}")
            yield page
        finally:
            browser.close()


def last_bot_buttons(page: Page) -> object:
    return page.locator(".msg.from-bot").last.locator(".kb button")


def test_a_marketer_makes_a_video_in_the_browser(
    sandbox: str, running_sandbox: RunningSandbox
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    with chat_page(sandbox, height=1400) as page:
        page.fill("#text", "/start")
        page.press("#text", "Enter")
        expect(page.get_by_text("На ваш баланс начислено 500 ₽")).to_be_visible()
        page.get_by_role("button", name="✨ Создать").last.click()
        page.get_by_role("button", name=re.compile("^Видео-креативы")).last.click()
        expect(page.get_by_text(re.compile(r"стр\. 1 из"))).to_be_visible()
        page.locator(".msg.from-bot").last.locator(".kb button").first.click()
        expect(page.get_by_text("Цена: от")).to_be_visible()
        page.get_by_role("button", name="Начать").last.click()

        expect(page.get_by_text(re.compile("^Напишите описание"))).to_be_visible()
        page.fill("#text", "Кроссовки на белом фоне, мягкий студийный свет")
        page.press("#text", "Enter")
        run = page.get_by_role("button", name=re.compile("^▶ Запустить за"))
        deadline = time.monotonic() + 30
        while not run.count():  # choices the model needs answered: take the first one
            assert time.monotonic() < deadline, "the wizard never showed its summary"
            last = page.locator(".msg.from-bot").last
            if last.inner_text().startswith(("Выберите", "Включить")):
                last.locator(".kb button").first.click()
            page.wait_for_timeout(300)
        price_text = run.last.inner_text()
        price = int(re.sub(r"\D", "", price_text.split("за", 1)[1]))
        run.last.click()

        # The confirm screen turns into the progress line: generating (the simulator takes
        # 3 s), then done.
        expect(page.get_by_text(re.compile("генерирую, осталось"))).to_be_visible()
        expect(page.get_by_text("✓ Готово — результат ниже.")).to_be_visible(timeout=60_000)
        video = page.locator(".msg.from-bot video").last
        expect(video).to_be_visible()
        # The file comes from the page's own origin (a tunnelled page cannot reach loopback).
        source = video.get_attribute("src") or ""
        assert source.startswith("/tg/"), source
        assert page.evaluate("src => fetch(src).then(r => r.status)", source) == 200
        caption = page.get_by_text(re.compile(r"^Готово: .*Списано")).last.inner_text()
        charged = int(re.sub(r"\D", "", caption.split("Списано", 1)[1]))
        assert 0 < charged <= price
        # The page draws only what changed: the video element outlives the messages below it
        # (a redrawn one would restart playback).
        video.evaluate("element => { element.keptMark = 'the same element'; }")

        page.fill("#text", "/menu")
        page.press("#text", "Enter")
        page.get_by_role("button", name="💳 Баланс").last.click()
        balance = page.get_by_text(re.compile("^Доступно:")).last
        expect(balance).to_be_visible()
        available = int(re.sub(r"\D", "", balance.inner_text().split("\n")[0]))
        assert available == 500 - charged
        assert video.evaluate("element => element.keptMark") == "the same element"
        page.screenshot(path=str(ARTIFACTS / "browser_journey.png"), full_page=True)
    # Every request leaves its Bot API connections closed: nothing logs an error for them.
    leaks = [line for line in running_sandbox.output if "Unclosed client session" in line]
    assert not leaks, leaks[:1]


def test_a_marketer_tops_up_with_stars_in_the_browser(sandbox: str) -> None:
    with chat_page(sandbox, height=1200) as page:
        page.fill("#text", "/topup")
        page.press("#text", "Enter")
        expect(page.get_by_text(re.compile("Пополнение баланса"))).to_be_visible()
        page.locator(".msg.from-bot").last.locator(".kb button").first.click()  # a pack
        page.get_by_role("button", name=re.compile("^⭐")).last.click()
        pay = page.locator("button.pay").last
        expect(pay).to_be_visible()
        stars = re.sub(r"\D", "", pay.inner_text())
        pay.click()
        # The user's own service message, as Telegram shows it.
        paid = page.locator(".msg.from-user").get_by_text(f"✅ Оплачено: {stars} ⭐")
        expect(paid).to_be_visible()
        expect(page.locator("button.pay")).to_have_count(0)
        expect(page.locator("#error")).to_have_text("")


def test_the_page_keeps_the_name_of_a_user_made_elsewhere(sandbox: str) -> None:
    user = new_telegram_id()
    api = f"{sandbox}/tg/api/users"
    first = {"text": "/start", "first_name": "Анна", "language_code": "en"}
    assert httpx.post(f"{api}/{user}/send", json=first, timeout=30).status_code == 200
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page()
            page.set_default_timeout(30_000)
            page.goto(f"{sandbox}/?user={user}")
            expect(page.locator(".msg.from-user").first).to_have_text(re.compile("/start"))
            page.fill("#text", "/menu")
            page.press("#text", "Enter")
            expect(page.locator(".msg.from-user")).to_have_count(2)
        finally:
            browser.close()
    [profile] = [u for u in httpx.get(api, timeout=30).json()["users"] if u["id"] == user]
    assert (profile["first_name"], profile.get("language_code")) == ("Анна", "en")
