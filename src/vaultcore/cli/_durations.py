"""Short durations on the command line: ``90s``, ``30m``, ``2h``, ``1d``."""

from __future__ import annotations

import re

import click

__all__ = ["parse_duration"]

_DURATION = re.compile(r"(\d+)([smhd])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """Seconds in *text* (a number and a unit s, m, h or d)."""
    match = _DURATION.fullmatch(text.strip())
    if not match:
        raise click.BadParameter(f"{text!r} is not a duration like 90s, 30m or 2h")
    return float(int(match.group(1)) * _SECONDS[match.group(2)])
