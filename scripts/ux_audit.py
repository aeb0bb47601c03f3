"""The bot's screens, audited: every text from the locale files, every button with a handler,
a way back from every screen, nothing over Telegram's limits, in both languages.

    python -m scripts.ux_audit                 # static checks, then a walk through the emulator
    python -m scripts.ux_audit --static-only   # only the checks that need no running bot

Static checks:
- no hard-coded text in shared/bot/routers: an AST scan for string literals with letters
  passed to answer / edit_text / send_message / … or as a button's text;
- every `i18n.get("key", …)` literal names a key both locales have; the locales agree
  (keys and placeholders);
- every callback class in shared/bot/callbacks.py has a handler in the built Dispatcher.

The walk (a throwaway stack: Postgres, the Telegram emulator, the functions): from /start
and /menu, in Russian and in English, press every button of every screen (the first two
pages of a category, two models a page, the wizard's first question) and check each screen
the bot shows: text ≤ 4096 and caption ≤ 1024 characters, callback_data ≤ 64 bytes, a way
back (to the menu, to the screen before, or cancel), no text that is a bare locale key.
Prints the screen graph. Exits 1 on any problem.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import re
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scripts.job_stack import Stack

ROOT = Path(__file__).resolve().parents[1]
ROUTERS = ROOT / "shared" / "bot" / "routers"
TEXT_MAX, CAPTION_MAX, CALLBACK_DATA_MAX = 4096, 1024, 64
# Methods whose first argument (or text=/caption=) a user reads.
SENDERS = {
    "answer",
    "reply",
    "edit_text",
    "edit_caption",
    "send_message",
    "answer_photo",
    "answer_document",
    "send_photo",
    "send_document",
    "send_video",
    "send_audio",
    "button",
}
# A button that leads back: the menu (any MenuCb), the category a card came from, the history
# list, the wizard's cancel, the menu under a result, the top-up flow's cancel.
# A payment step's "back" returns to the top-up screen (v1p:open), which leads on to the menu.
BACK_PREFIXES = (
    "v1m:",
    "v1c:",
    "v2h:list:",
    "v1w:cancel:",
    "v2r:menu:",
    "v1p:cancel:",
    "v1p:open:",
)
# Presses the walk does not make: they spend money or start flows with side effects.
SKIP_PREFIXES = ("v1w:run:", "v1w:pick:", "v1p:pack:", "v1p:method:", "v2h:again:", "v2r:")
MODELS_PER_PAGE = 2
PAGES_PER_CATEGORY = 2  # pages look alike past the first two
BARE_KEY = re.compile(r"^[a-z_]+(\.[a-z_]+)+$")


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    edges: list[tuple[str, str, str]] = field(default_factory=list)  # (screen, button, screen)
    screens: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


# --- static -----------------------------------------------------------------------------------
def _has_letters(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return any(ch.isalpha() for ch in node.value)
    if isinstance(node, ast.JoinedStr):
        return any(_has_letters(part) for part in node.values)
    return False


def scan_source(path: Path) -> list[str]:
    """Hard-coded user-facing text in one module, as `file:line: …` problems."""
    problems = []
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        if node.func.attr not in SENDERS:
            continue
        shown = [kw.value for kw in node.keywords if kw.arg in ("text", "caption")]
        if node.args and node.func.attr != "button":
            # send_message(chat_id, text): the text is the second positional argument.
            shown.append(
                node.args[1]
                if node.func.attr == "send_message" and len(node.args) > 1
                else node.args[0]
            )
        for value in shown:
            if _has_letters(value):
                name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
                problems.append(
                    f"{name}:{node.lineno}: hard-coded text in {node.func.attr}() "
                    "(put it in a locale file)"
                )
    return problems


def used_keys(path: Path) -> list[tuple[int, str]]:
    """(line, key) for every `*.get("literal.key", …)` with a dotted literal key."""
    keys = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and isinstance(node.func.value, ast.Name | ast.Attribute)
            and "i18n" in ast.unparse(node.func.value)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            keys.append((node.lineno, node.args[0].value))
    return keys


def check_static(routers: Path = ROUTERS) -> list[str]:
    from shared.bot.i18n import LOCALES, get_i18n

    i18n = get_i18n()
    problems = [f"locales: {p}" for p in i18n.check_parity()]
    modules = sorted(routers.glob("*.py"))
    extra = [ROOT / "shared" / "delivery" / "service.py"] if routers == ROUTERS else []
    for path in modules:
        problems += scan_source(path)
    for path in modules + extra:
        for line, key in used_keys(path):
            for locale in LOCALES:
                try:
                    i18n.get(key, locale)
                except KeyError:
                    problems.append(f"{path.name}:{line}: text key {key!r} missing in {locale}")
                except (IndexError, ValueError):
                    pass  # present; placeholders are filled by the caller
    return problems


def callback_classes() -> list[type[Any]]:
    from aiogram.filters.callback_data import CallbackData

    from shared.bot import callbacks

    return [
        cls
        for _, cls in inspect.getmembers(callbacks, inspect.isclass)
        if issubclass(cls, CallbackData) and cls is not CallbackData
    ]


def check_handlers(dispatcher: Any, classes: Sequence[type[Any]]) -> list[str]:
    """A callback class no router handles: its buttons would only ever get the fallback."""
    handled: set[type[Any]] = set()
    for router in dispatcher.chain_tail:
        for handler in router.callback_query.handlers:
            for flt in handler.filters or ():
                callback_data = getattr(flt.callback, "callback_data", None)
                if isinstance(callback_data, type):
                    handled.add(callback_data)
    return [
        f"callbacks: {cls.__name__} (prefix {cls.__prefix__!r}) has no handler"
        for cls in classes
        if cls not in handled
    ]


def built_dispatcher() -> Any:
    from aiogram.fsm.storage.memory import MemoryStorage

    from shared.bot.dispatcher import build_dispatcher
    from shared.bot.i18n import get_i18n

    return build_dispatcher(storage=MemoryStorage(), db=None, i18n=get_i18n())  # type: ignore[arg-type]


# --- the walk ---------------------------------------------------------------------------------
def check_screen(message: dict[str, Any], locale: str) -> list[str]:
    """Telegram's limits and a way back, for one message the bot shows."""
    problems = []
    label = _screen_name(message)
    text, caption = message.get("text"), message.get("caption")
    if text is not None and len(text) > TEXT_MAX:
        problems.append(f"[{locale}] {label!r}: text of {len(text)} characters (> {TEXT_MAX})")
    if caption is not None and len(caption) > CAPTION_MAX:
        problems.append(f"[{locale}] {label!r}: caption of {len(caption)} (> {CAPTION_MAX})")
    for part in (text, caption):
        if part and BARE_KEY.match(part.strip()):
            problems.append(f"[{locale}] {label!r}: shows the bare key {part.strip()!r}")
    keyboard = message.get("keyboard") or []
    datas = [b.get("callback_data") for row in keyboard for b in row if b.get("callback_data")]
    for data in datas:
        if len(data.encode()) > CALLBACK_DATA_MAX:
            problems.append(f"[{locale}] {label!r}: callback_data {data!r} over 64 bytes")
    if datas and not any(d.startswith(BACK_PREFIXES) for d in datas):
        problems.append(f"[{locale}] {label!r}: no way back (buttons: {datas})")
    return problems


def _screen_name(message: dict[str, Any]) -> str:
    first = (message.get("text") or message.get("caption") or "").split("\n", 1)[0]
    return first[:48]


def _bot_messages(stack: Stack, user_id: int) -> list[dict[str, Any]]:
    chat: list[dict[str, Any]] = stack.telegram.chat(user_id)["messages"]
    return [m for m in chat if m["direction"] == "out" and not m["deleted"]]


def walk(stack: Stack, locale: str, report: Report, *, max_presses: int = 400) -> None:
    """Breadth-first over the screens; each path is replayed by a fresh user (new chat, own
    rate bucket), from /menu, so every screen is reached as a user would reach it."""
    from shared.services.users import open_account
    from tests.ids import new_telegram_id

    seen_data: set[str] = set()
    seen_screens: set[str] = set()
    queue: list[list[str]] = [[]]
    presses = 0
    models_on: dict[str, int] = {}
    while queue and presses < max_presses:
        path = queue.pop(0)
        user_id = new_telegram_id()
        stack.telegram.add_user(user_id, "Audit", language_code=locale)
        stack.telegram.send_text(user_id, "/start")
        open_account(stack.db, user_id)
        if not path:
            for message in _bot_messages(stack, user_id):
                report.problems += check_screen(message, locale)
        stack.telegram.send_text(user_id, "/menu")
        screen = _bot_messages(stack, user_id)[-1]
        for data in path:
            stack.telegram.press(user_id, screen["message_id"], data)
            presses += 1
            screen = _bot_messages(stack, user_id)[-1]
        name = _screen_name(screen)
        for message in _bot_messages(stack, user_id)[-2:]:
            report.problems += check_screen(message, locale)
        key = f"{name}|{[b.get('callback_data') for r in screen.get('keyboard') or [] for b in r]}"
        if key in seen_screens:
            continue
        seen_screens.add(key)
        report.screens += 1
        for row in screen.get("keyboard") or []:
            for button in row:
                data = button.get("callback_data")
                if not data or data in seen_data or data.startswith(SKIP_PREFIXES):
                    continue
                if data.startswith("v1c:") and int(data.rsplit(":", 1)[1]) >= PAGES_PER_CATEGORY:
                    continue
                if data.startswith("v1d:"):  # model cards: a couple per page is enough
                    models_on[name] = models_on.get(name, 0) + 1
                    if models_on[name] > MODELS_PER_PAGE:
                        continue
                seen_data.add(data)
                queue.append([*path, data])
                report.edges.append((name, button["text"], data))


def audit(stack: Stack | None, *, routers: Path = ROUTERS) -> Report:
    report = Report(problems=check_static(routers))
    report.problems += check_handlers(built_dispatcher(), callback_classes())
    if stack is not None:
        for locale in ("ru", "en"):
            walk(stack, locale, report)
    return report


@contextmanager
def audit_stack() -> Iterator[Stack]:
    """A throwaway stack on a fresh embedded Postgres (no rate limit for the walker)."""
    from scripts.job_stack import job_stack
    from shared.adapters.db import Database, parse_database_url
    from shared.adapters.embedded_pg import EmbeddedPostgres
    from shared.adapters.migrate import migrate
    from shared.local_ports import free_port

    with tempfile.TemporaryDirectory(prefix="kie-ux-audit-") as tmp:
        server = EmbeddedPostgres(Path(tmp) / "data", free_port(), fast=True)
        with server.running():
            db = Database(parse_database_url(server.url), max_size=4)
            migrate(db)
            with job_stack(db, server.url, delay_s=0.2) as stack:
                yield stack


def print_report(report: Report) -> None:
    if report.edges:
        print(f"screen graph ({report.screens} screens, {len(report.edges)} buttons):")
        for source, label, data in report.edges:
            print(f"  {source!r} --[{label}]--> {data}")
    for problem in report.problems:
        print(f"PROBLEM {problem}")
    print("ux audit: ok" if report.ok else f"ux audit: {len(report.problems)} problem(s)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--static-only", action="store_true", help="skip the emulator walk")
    parser.add_argument("--routers", type=Path, default=ROUTERS, help="router modules to scan")
    options = parser.parse_args(argv)
    if options.static_only:
        report = audit(None, routers=options.routers)
    else:
        with audit_stack() as stack:
            report = audit(stack, routers=options.routers)
    print_report(report)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
