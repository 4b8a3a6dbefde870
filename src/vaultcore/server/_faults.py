"""Fault injection for retry tests: throttling (429 + Retry-After), latency, dropped connections.

``vaultcore serve --inject "throttle=0.1,latency=50ms,reset=0.01"`` (and
``running_akv_server(inject=...)`` / ``AkvServer.inject(...)`` in tests) lets users check
their SDK retry settings against a server that misbehaves on purpose: each Key Vault request
is throttled with probability ``throttle`` (Azure's 429 ``Throttled`` with ``Retry-After``),
delayed by ``latency`` and, with probability ``reset``, has its connection aborted before an
answer (the client sees a reset). The token endpoints are never faulted, so authentication
itself stays deterministic. Draws come from one ``random.Random`` (``seed=`` repeats a run);
this is test tooling, not a security control.
"""

from __future__ import annotations

import random
import re
import threading

from vaultcore.exceptions import InvalidParameterError

__all__ = ["FaultPlan"]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s)?")
_MAX_LATENCY = 60.0


def _rate(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InvalidParameterError(f"--inject {name} must be a probability from 0 to 1") from None
    if not 0.0 <= value <= 1.0:
        raise InvalidParameterError(f"--inject {name} must be a probability from 0 to 1")
    return value


def _duration(text: str) -> float:
    match = _DURATION.fullmatch(text)
    if match is None:
        raise InvalidParameterError("--inject latency must be a duration such as 50ms or 1.5s")
    seconds = float(match.group(1)) / (1000.0 if match.group(2) in (None, "ms") else 1.0)
    if seconds > _MAX_LATENCY:
        raise InvalidParameterError(f"--inject latency must be at most {_MAX_LATENCY:.0f}s")
    return seconds


class FaultPlan:
    """Rates of injected faults; changed at run time with :meth:`set` (thread-safe draws)."""

    def __init__(
        self,
        *,
        throttle: float = 0.0,
        latency: float = 0.0,
        reset: float = 0.0,
        retry_after: int = 1,
        seed: int | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self.throttle, self.latency, self.reset, self.retry_after = throttle, latency, reset, retry_after

    @classmethod
    def parse(cls, spec: str | None, *, seed: int | None = None) -> FaultPlan:
        """``"throttle=0.1,latency=50ms,reset=0.01,retry_after=2"``; empty or None: no faults."""
        plan = cls(seed=seed)
        plan.set(spec)
        return plan

    def set(self, spec: str | None) -> None:
        """Replace the rates with those of *spec* (None or "" turns every fault off)."""
        throttle = latency = reset = 0.0
        retry_after = 1
        for item in (spec or "").split(","):
            if not item.strip():
                continue
            name, sep, value = (part.strip() for part in item.partition("="))
            if not sep:
                raise InvalidParameterError(f"--inject expects name=value items, got {name[:20]!r}")
            if name == "throttle":
                throttle = _rate(name, value)
            elif name == "reset":
                reset = _rate(name, value)
            elif name == "latency":
                latency = _duration(value)
            elif name == "retry_after":
                if not value.isdigit() or not 0 <= int(value) <= 3600:
                    raise InvalidParameterError("--inject retry_after must be whole seconds from 0 to 3600")
                retry_after = int(value)
            else:
                raise InvalidParameterError(
                    f"--inject knows throttle, latency, reset and retry_after, not {name[:20]!r}"
                )
        with self._lock:
            self.throttle, self.latency, self.reset, self.retry_after = throttle, latency, reset, retry_after

    @property
    def active(self) -> bool:
        return bool(self.throttle or self.latency or self.reset)

    def _draw(self, rate: float) -> bool:
        if rate <= 0.0:
            return False
        with self._lock:
            return self._random.random() < rate

    def throttled(self) -> bool:
        return self._draw(self.throttle)

    def dropped(self) -> bool:
        return self._draw(self.reset)

    def describe(self) -> str:
        return (
            f"throttle={self.throttle:g},latency={self.latency * 1000:g}ms,reset={self.reset:g},"
            f"retry_after={self.retry_after}"
        )
