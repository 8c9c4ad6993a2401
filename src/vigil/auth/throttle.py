"""Login throttling: per client address and per user name, a delay that grows with each
failure, during which attempts get 429 without a password being checked.

The first :data:`FREE` failures in :data:`WINDOW` seconds cost nothing; after that each
failure locks the key for ``2 ** (n - FREE)`` seconds, at most :data:`MAX_LOCK`. A key's
failures are forgotten :data:`WINDOW` seconds after its last one, or at a successful login.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

FREE = 5
WINDOW = 900.0  # seconds
MAX_LOCK = 300.0  # seconds
MAX_KEYS = 100_000  # a flood of addresses can't grow it without bound


@dataclass(slots=True)
class _Failures:
    count: int = 0
    last: float = 0.0


@dataclass
class Throttle:
    now: Callable[[], float]
    _keys: dict[str, _Failures] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def retry_after(self, keys: Iterable[str]) -> float:
        """Seconds until these keys may try again; 0 if they may now."""
        now = self.now()
        wait = 0.0
        with self._lock:
            for key in keys:
                failures = self._keys.get(key)
                if failures is None:
                    continue
                if now - failures.last >= WINDOW:
                    del self._keys[key]
                    continue
                wait = max(wait, failures.last + _lock_seconds(failures.count) - now)
        return max(wait, 0.0)

    def failed(self, keys: Iterable[str]) -> None:
        now = self.now()
        with self._lock:
            if len(self._keys) > MAX_KEYS:
                self._forget(now)
            for key in keys:
                failures = self._keys.setdefault(key, _Failures())
                failures.count += 1
                failures.last = now

    def succeeded(self, keys: Iterable[str]) -> None:
        with self._lock:
            for key in keys:
                self._keys.pop(key, None)

    def _forget(self, now: float) -> None:
        for key in [k for k, f in self._keys.items() if now - f.last >= WINDOW]:
            del self._keys[key]


def _lock_seconds(count: int) -> float:
    return 0.0 if count < FREE else min(2.0 ** (count - FREE), MAX_LOCK)
