"""The operator's commands as a person runs them: `make run`'s sandbox and the checker."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from shared.adapters.db import Database, parse_database_url
from shared.adapters.embedded_pg import EmbeddedPostgres
from shared.adapters.migrate import migrate
from shared.local_ports import free_port
from tests.conftest import DatabaseFactory
from tests.e2e.sandbox_process import processes_of, run_sandbox

ROOT = Path(__file__).resolve().parents[2]


def env_with(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "TEST_DATABASE_URL"}}
    env.update(values)
    return env


def test_the_sandbox_starts_everything_and_stops_it_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    local = tmp_path / "local"
    with run_sandbox(local, {"LOCAL_PG_PORT": str(port)}) as sandbox:
        first = int(sandbox.url.rsplit(":", 1)[1])
    output = "".join(sandbox.output)
    assert "migrations: 0001_schema, 0002_ledger_functions" in output
    assert f"Open the chat: http://127.0.0.1:{first}/" in output
    assert sandbox.process.returncode == 0
    server = EmbeddedPostgres(local / "pgdata", port)
    assert server.running_port() is None  # Ctrl-C left no server behind
    for offset in range(4):  # chat page + Bot API, functions, KIE simulator, task queue
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", first + offset)) != 0, f"port {first + offset}"
    assert (local / "pgdata" / "PG_VERSION").exists()  # the data is kept
    assert processes_of(local) == []


def bot_answers(base: str, user_id: int, text: str, timeout_s: float = 30) -> list[str]:
    """Send `text` as `user_id` through the user API; the bot's messages that follow it."""
    api = f"{base}/tg/api/users/{user_id}"
    sent = httpx.post(f"{api}/send", json={"text": text}, timeout=30)
    assert sent.status_code == 200, sent.text
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        messages = httpx.get(f"{api}/chat", timeout=30).json()["messages"]
        mine = max(m["message_id"] for m in messages if m["direction"] == "in")
        replies = [m.get("text") or "" for m in messages if m["message_id"] > mine]
        if replies:
            return replies
        time.sleep(0.2)
    return []


def test_a_restarted_sandbox_answers_at_once_and_reaches_its_admin(tmp_path: Path) -> None:
    """The data is kept between runs, so the emulator numbers updates on from the last one
    (the webhook would take repeated ids for updates already handled), and the admin's
    chat exists before the admin opens the page."""
    local = tmp_path / "local"
    with run_sandbox(local) as sandbox:
        assert bot_answers(sandbox.url, 555_001, "/start")
    with run_sandbox(local) as sandbox:
        assert bot_answers(sandbox.url, 555_001, "/start")
        assert bot_answers(sandbox.url, 555_001, "/paysupport")
        assert bot_answers(sandbox.url, 555_001, "Не пришли деньги за пополнение")
        admin = httpx.get(f"{sandbox.url}/tg/api/users/100000001/chat", timeout=30).json()
        texts = [m.get("text") or "" for m in admin["messages"]]
        assert any("Не пришли деньги за пополнение" in t for t in texts), texts


def test_the_sandbox_names_a_port_in_use_and_starts_nothing(tmp_path: Path) -> None:
    """Another program on PORT+3 (the task queue's): a clear refusal before anything
    starts, which the harness must not take for "ready" either."""
    port = free_port(block=4)
    local = tmp_path / "local"
    with socket.socket() as held:
        held.bind(("127.0.0.1", port + 3))
        held.listen()
        with (
            pytest.raises(AssertionError, match=rf"port\(s\) {port + 3} in use") as refused,
            run_sandbox(local, {"PORT": str(port)}),
        ):
            pass
    assert "set PORT to another base port" in str(refused.value)
    assert not (local / "pgdata").exists()  # nothing was started
    assert processes_of(local) == []


def test_the_sandbox_names_a_bad_setting() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scripts.sandbox"],
        cwd=ROOT,
        env=env_with(DB_POOL_MAX="zero"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "DB_POOL_MAX" in result.stderr


def test_check_ledger_passes_a_sound_ledger_and_fails_a_broken_one(
    make_test_database: DatabaseFactory, pg_server_url: str
) -> None:
    db: Database = make_test_database()
    db.run("INSERT INTO users (telegram_id) VALUES (77)")
    db.run("INSERT INTO wallets (user_id) SELECT id FROM users WHERE telegram_id = 77")
    url = pg_server_url.rsplit("/", 1)[0] + "/" + db.params.database
    check = [sys.executable, "-m", "scripts.check_ledger"]

    sound = subprocess.run(
        check, cwd=ROOT, env=env_with(DATABASE_URL=url), capture_output=True, text=True
    )
    assert sound.returncode == 0, sound.stdout + sound.stderr
    assert "ledger invariants: OK" in sound.stdout

    # Money that appears in a wallet without a ledger entry is exactly what it must catch.
    db.run("UPDATE wallets SET balance = balance + 500")
    broken = subprocess.run(
        check, cwd=ROOT, env=env_with(DATABASE_URL=url), capture_output=True, text=True
    )
    assert broken.returncode == 1
    assert "FAIL balance = Σ entries" in broken.stdout
    assert "balance 500, entries sum to 0" in broken.stdout


def test_check_ledger_refuses_an_unmigrated_database(
    make_test_database: DatabaseFactory, pg_server_url: str
) -> None:
    db = make_test_database(migrated=False)
    url = pg_server_url.rsplit("/", 1)[0] + "/" + db.params.database
    result = subprocess.run(
        [sys.executable, "-m", "scripts.check_ledger"],
        cwd=ROOT,
        env=env_with(DATABASE_URL=url),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "no ledger yet" in result.stdout
    migrate(Database(parse_database_url(url)))  # and once migrated it is accepted
    assert (
        subprocess.run(
            [sys.executable, "-m", "scripts.check_ledger"],
            cwd=ROOT,
            env=env_with(DATABASE_URL=url),
            capture_output=True,
        ).returncode
        == 0
    )


def runnable_scripts() -> list[str]:
    """Every `python -m scripts.…` an operator or developer may run."""
    modules = []
    for path in sorted((ROOT / "scripts").rglob("*.py")):
        if 'if __name__ == "__main__"' in path.read_text(encoding="utf-8"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            modules.append(".".join(parts[:-1] if parts[-1] == "__main__" else parts))
    return modules


def test_every_script_answers_help_without_starting_anything(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    scripts = runnable_scripts()
    assert {"scripts.sandbox", "scripts.check_ledger", "scripts.telegram_polling"} <= set(scripts)
    # An unreachable database and an empty LOCAL_DIR: a script that connected, or started
    # an embedded server, would fail or leave files behind.
    env = env_with(
        DATABASE_URL="postgresql://nobody@127.0.0.1:9/none", LOCAL_DIR=str(tmp_path / "local")
    )

    def help_of(module: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", module, "--help"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    with ThreadPoolExecutor(4) as pool:
        answers = dict(zip(scripts, pool.map(help_of, scripts), strict=True))
    for module, answer in answers.items():
        assert answer.returncode == 0, f"{module}: {answer.stderr[-800:]}"
        assert answer.stdout.startswith("usage:"), f"{module}: {answer.stdout[:200]}"
    assert not (tmp_path / "local").exists()
