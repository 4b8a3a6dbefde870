"""``vaultcore audit ...``: read, verify and export the hash-chained audit log."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import click

from . import _render as r
from ._errors import EXIT_INTEGRITY
from ._params import WhenType, open_new_file
from ._state import State, output_option, pass_state

__all__ = ["COMMANDS"]

_COLUMNS = ("seq", "time", "principal", "operation", "object_id", "result")


def _event(e: Any) -> dict[str, Any]:
    data: dict[str, Any] = e.to_json()
    data["time"] = r.iso(e.time)
    return data


def _filter_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        (
            click.option("--since", type=WhenType(), help="Events at or after this time."),
            click.option("--until", type=WhenType(), help="Events before this time."),
            click.option("--principal", help="Only this principal (e.g. admin, app:ci)."),
            click.option("--operation", help="Only this operation (e.g. SecretGet)."),
        )
    ):
        fn = option(fn)
    return fn


def _filters(since: datetime | None, until: datetime | None, principal: str | None, operation: str | None) -> Any:
    given = {"since": since, "until": until, "principal": principal, "operation": operation}
    return {k: v for k, v in given.items() if v is not None}


@click.group(
    "audit",
    epilog="""\b
Examples:
  vaultcore audit show --operation SecretGet --since +0d
  vaultcore audit verify
  vaultcore audit export --file audit.jsonl
""",
)
def audit() -> None:
    """The audit log: every operation, allowed or denied, chained with an HMAC."""


@audit.command("show")
@_filter_options
@click.option("--last", type=click.IntRange(1), help="Only the last N events.")
@output_option
@pass_state
def show(
    state: State,
    since: datetime | None,
    until: datetime | None,
    principal: str | None,
    operation: str | None,
    last: int | None,
) -> None:
    """Show audit events, oldest first."""
    events = state.vault().audit.events(**_filters(since, until, principal, operation))
    data = [_event(e) for e in (events[-last:] if last else events)]
    state.emit(data, r.rows_table(_COLUMNS, data))


@audit.command("verify")
@output_option
@pass_state
def verify(state: State) -> None:
    """Check the chain; exit 4 and name the first bad event if it was edited, cut or reordered."""
    result = state.vault().audit.verify()
    data = {"ok": result.ok, "events": result.events, "first_bad_seq": result.first_bad_seq, "reason": result.reason}
    if result.ok:
        state.emit(data, f"Audit log intact: {result.events} events verified.")
        return
    state.emit(data, f"Audit log damaged at event {result.first_bad_seq}: {result.reason}")
    raise click.exceptions.Exit(EXIT_INTEGRITY)


@audit.command("export")
@_filter_options
@click.option("-f", "--file", "path", type=click.Path(dir_okay=False), help="Write to this new file (else stdout).")
@click.option("--force", is_flag=True, help="Overwrite --file if it exists.")
@pass_state
def export(
    state: State,
    since: datetime | None,
    until: datetime | None,
    principal: str | None,
    operation: str | None,
    path: str | None,
    force: bool,
) -> None:
    """Write events as JSON lines (one object per line, sorted keys)."""
    filters = _filters(since, until, principal, operation)
    if path is None:
        for event in state.vault().audit.events(**filters):
            click.echo(json.dumps(event.to_json(), sort_keys=True))
        return
    with open_new_file(path, force=force, text=True) as handle:
        count = state.vault().audit.export(handle, **filters)
    state.note(f"Exported {count} events to {path}.")


COMMANDS: tuple[click.Command, ...] = (audit,)
