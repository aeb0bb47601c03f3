"""Process-wide values (settings, pool, KIE client, CA bundle) are built by one thread even
when a fresh instance's first requests ask for them together."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from shared.once import once
from tests.bootstrap_caches import clear_bootstrap_caches
from tests.threads import all_at_once


def test_threads_asking_together_build_the_value_once() -> None:
    builds: list[object] = []

    @once
    def slow_value() -> object:
        time.sleep(0.05)  # every thread is in before the first build ends
        builds.append(object())
        return builds[-1]

    values = all_at_once(slow_value)
    assert len(builds) == 1
    assert all(value is builds[0] for value in values)


def test_a_none_value_is_kept_and_cache_clear_builds_afresh() -> None:
    calls: list[int] = []

    @once
    def nothing() -> None:
        calls.append(1)

    nothing()
    nothing()
    assert calls == [1]
    nothing.cache_clear()
    nothing()
    assert calls == [1, 1]


def test_a_failed_build_is_not_kept() -> None:
    attempts: list[int] = []

    @once
    def flaky() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("the first try fails")
        return "built"

    with pytest.raises(RuntimeError):
        flaky()
    assert flaky() == "built"
    assert flaky() == "built"
    assert len(attempts) == 2


@pytest.fixture
def kie_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("KIE_API_KEY", "test-key")
    monkeypatch.setenv("KIE_BASE_URL", "https://api.kie.ai")
    clear_bootstrap_caches()
    yield
    clear_bootstrap_caches()


@pytest.mark.usefixtures("kie_settings")
def test_a_burst_of_first_requests_builds_one_kie_client() -> None:
    from shared.bootstrap import get_kie_client

    clients = all_at_once(get_kie_client)
    assert all(client is clients[0] for client in clients)
