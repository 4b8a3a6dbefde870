"""ISO-8601 durations (``P90D``, ``P1Y6M``, ``PT12H``) as used by Azure's policies.

Years and months are calendar units (added with day clamping, like Azure's ``P1M`` on
January 31st → the last day of February); weeks, days, hours, minutes, seconds are exact.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from vaultcore.exceptions import InvalidParameterError

__all__ = ["Duration", "parse_duration"]

_MAX_YEARS = 100

_RE = re.compile(
    r"P(?:(?P<y>\d+)Y)?(?:(?P<mo>\d+)M)?(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?"
    r"(?:T(?:(?P<h>\d+)H)?(?:(?P<mi>\d+)M)?(?:(?P<s>\d+)S)?)?"
)


@dataclass(frozen=True)
class Duration:
    text: str
    months: int
    delta: timedelta

    def add_to(self, when: datetime) -> datetime:
        return _add_months(when, self.months) + self.delta

    def subtract_from(self, when: datetime) -> datetime:
        return _add_months(when, -self.months) - self.delta


def _add_months(when: datetime, months: int) -> datetime:
    if not months:
        return when
    index = when.year * 12 + when.month - 1 + months
    year, month = divmod(index, 12)
    day = min(when.day, calendar.monthrange(year, month + 1)[1])
    return when.replace(year=year, month=month + 1, day=day)


def parse_duration(text: object, what: str = "duration") -> Duration:
    """Parse an ISO-8601 duration; ``InvalidParameterError`` if malformed, zero or over 100 years."""
    if not isinstance(text, str) or len(text) > 64:
        raise InvalidParameterError(f"{what} must be an ISO-8601 duration such as 'P90D'")
    m = _RE.fullmatch(text.strip().upper())
    if m is None or text.strip().upper() in ("P", "PT") or text.strip().upper().endswith("T"):
        raise InvalidParameterError(f"{what} {text!r} is not an ISO-8601 duration such as 'P90D' or 'P1Y'")
    g = {k: int(v) if v else 0 for k, v in m.groupdict().items()}
    months = g["y"] * 12 + g["mo"]
    seconds = (g["w"] * 7 + g["d"]) * 86400 + g["h"] * 3600 + g["mi"] * 60 + g["s"]
    if months > _MAX_YEARS * 12 or seconds > _MAX_YEARS * 366 * 86400:
        # Unbounded values overflow timedelta here, or datetime when the policy is applied.
        raise InvalidParameterError(f"{what} {text!r} is longer than {_MAX_YEARS} years")
    delta = timedelta(seconds=seconds)
    if not months and not delta:
        raise InvalidParameterError(f"{what} must not be zero")
    return Duration(text.strip().upper(), months, delta)
