"""Threads that ask for something at the same moment, as a fresh instance's first requests do."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def all_at_once(get: Callable[[], T], threads: int = 8) -> list[T]:
    start = threading.Barrier(threads)

    def first_call(_: int) -> T:
        start.wait()
        return get()

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(first_call, range(threads)))
