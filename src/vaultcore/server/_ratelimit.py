"""Token buckets per key (client id, peer address, peer uid) for the token endpoints.

Each key may spend ``burst`` requests at once and earns ``rate`` more per second. A
refused request is told how long to wait (``Retry-After``), which MSAL and azure-core honour
(they retry 429). The table is bounded: when full, keys whose bucket has refilled are
dropped, and if none can be dropped the request is refused (a flood of new keys cannot grow
memory without bound).
"""

from __future__ import annotations

import math
import threading
import time

__all__ = ["RateLimiter"]


class RateLimiter:
    """``allow(key)`` is ``0.0`` if the request may go ahead, else seconds to wait."""

    def __init__(self, rate: float, burst: int, *, size: int = 10_000) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self._size = size
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def allow(self, key: str, *, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, at = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return max(1.0, math.ceil((1.0 - tokens) / self.rate))
            if key not in self._buckets and len(self._buckets) >= self._size:
                self._prune(now)
                if len(self._buckets) >= self._size:
                    return 1.0
            self._buckets[key] = (tokens - 1.0, now)
            return 0.0

    def _prune(self, now: float) -> None:
        full = [k for k, (t, at) in self._buckets.items() if t + (now - at) * self.rate >= self.burst]
        for key in full:
            del self._buckets[key]
