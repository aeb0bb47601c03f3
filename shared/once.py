"""`once`: a process-wide value built on first use, by one thread only.

functools.lru_cache does not lock: when a fresh instance's first requests arrive together
(one per thread), each misses and builds its own copy — one database pool, KIE client
or CA bundle per thread, all but one left behind. Under bench_jobs, loading the CA
bundles of those extra KIE clients took 12% of the functions' first 12 seconds (py-spy).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Once(Generic[T]):
    """A zero-argument factory's result, built once; `cache_clear()` forgets it (tests)."""

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._built = False
        self._value: T | None = None
        functools.update_wrapper(self, factory)

    def __call__(self) -> T:
        if not self._built:
            with self._lock:
                if not self._built:
                    self._value = self._factory()
                    self._built = True
        return self._value  # type: ignore[return-value]  # set above, possibly to None

    def cache_clear(self) -> None:
        with self._lock:
            self._built = False
            self._value = None


def once(factory: Callable[[], T]) -> Once[T]:
    return Once(factory)
