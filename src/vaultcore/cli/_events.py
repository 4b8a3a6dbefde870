"""``vaultcore events ...``: webhook subscriptions, the event stream, dead letters, delivery."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from vaultcore.events._schema import full_type

from . import _render as r
from ._state import State, output_option, pass_state

__all__ = ["COMMANDS"]

_SUB_COLUMNS = ("id", "url", "schema", "types", "position", "attempts", "last_error")
_DEAD_COLUMNS = ("subscription_id", "seq", "event_id", "attempts", "error", "time")


@click.group(
    "events",
    epilog="""\b
Examples:
  vaultcore events subscribe --url https://hooks.example/kv --types SecretNearExpiry,SecretExpired
  vaultcore events subscribe --url https://hooks.example/ce --schema cloudevents
  vaultcore events tail --follow
  vaultcore events dead-letters
  vaultcore events redeliver SUBSCRIPTION_ID SEQ
""",
)
def events() -> None:
    """Key Vault events (Event Grid / CloudEvents): subscriptions, tail, dead letters."""


@events.command("subscribe")
@click.option("--url", required=True, help="HTTPS webhook URL (plain http only to a loopback address).")
@click.option("--types", default="", help="Comma-separated event types (SecretNearExpiry, ...); default all.")
@click.option(
    "--schema",
    type=click.Choice(["eventgrid", "cloudevents"]),
    default="eventgrid",
    show_default=True,
    help="Delivery schema.",
)
@click.option("--ca-file", type=click.Path(dir_okay=False, exists=True), help="CA bundle to verify the receiver.")
@click.option("--max-attempts", type=click.IntRange(1, 100), default=30, show_default=True, help="Then dead-letter.")
@click.option("--no-validate", is_flag=True, help="Skip the subscription validation handshake.")
@click.option(
    "--insecure", "--no-verify-tls", "insecure", is_flag=True, help="Do not verify the receiver's TLS (tests only)."
)
@output_option
@pass_state
def subscribe(
    state: State,
    url: str,
    types: str,
    schema: str,
    ca_file: str | None,
    max_attempts: int,
    no_validate: bool,
    insecure: bool,
) -> None:
    """Deliver events to a webhook (after the validation handshake).

    Prints the subscription's HMAC secret once: receivers check the X-Vaultcore-Signature
    header with it (vaultcore.events.verify_signature).
    """
    created = state.vault().events.create_subscription(
        url,
        types or None,
        schema=schema,
        ca_file=ca_file,
        max_attempts=max_attempts,
        validate=not no_validate,
        verify_tls=not insecure,
    )
    data = {**created.info.to_json(), "secret": created.secret}
    human = (
        f"Subscription {created.id} delivers {', '.join(created.info.types) or 'all events'} to {url}.\n"
        f"HMAC secret (shown once; verify X-Vaultcore-Signature with it):\n  {created.secret}"
    )
    state.emit(data, human)


@events.command("unsubscribe")
@click.argument("subscription_id")
@pass_state
def unsubscribe(state: State, subscription_id: str) -> None:
    """Delete a webhook subscription (its dead letters too)."""
    state.vault().events.delete_subscription(subscription_id)
    state.note(f"Subscription {subscription_id} deleted.")


def _sub_row(info: Any) -> dict[str, Any]:
    data: dict[str, Any] = info.to_json()
    data["types"] = ",".join(t.removeprefix("Microsoft.KeyVault.") for t in info.types) or "all"
    return data


@events.command("list")
@output_option
@pass_state
def list_(state: State) -> None:
    """Webhook subscriptions and their delivery state."""
    subs = state.vault().events.list_subscriptions()
    data = [_sub_row(s) for s in subs] if not state.json else [s.to_json() for s in subs]
    state.emit(data, r.rows_table(_SUB_COLUMNS, [_sub_row(s) for s in subs]))


@events.command("tail")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events (Ctrl-C stops).")
@click.option("--after", type=click.IntRange(0), help="Start after this outbox seq [default: the last 10 events].")
@click.option("--types", default="", help="Comma-separated event types; default all.")
@click.option(
    "--schema",
    type=click.Choice(["eventgrid", "cloudevents"]),
    default="eventgrid",
    show_default=True,
    help="Print events in this schema.",
)
@click.option("--interval", type=click.FloatRange(0.05), default=1.0, show_default=True, help="Poll interval.")
@pass_state
def tail(state: State, follow: bool, after: int | None, types: str, schema: str, interval: float) -> None:
    """Print events as JSON lines (one object per line, with the outbox "seq")."""
    view = state.vault().events
    wanted = {full_type(t.strip()) for t in types.split(",") if t.strip()} or None
    position = max(0, view.head() - 10) if after is None else after
    try:
        while True:
            batch = view.read(position, limit=500)
            for ev in batch:
                if wanted is None or ev.type in wanted:
                    click.echo(json.dumps(ev.to_json(schema), sort_keys=True))
            if batch:
                position = batch[-1].seq
                sys.stdout.flush()
                continue
            if not follow:
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        return


@events.command("dead-letters")
@click.option("--subscription", "subscription_id", help="Only this subscription.")
@output_option
@pass_state
def dead_letters(state: State, subscription_id: str | None) -> None:
    """Events that failed every delivery attempt."""
    letters = state.vault().events.dead_letters(subscription_id)
    data = [d.to_json() for d in letters]
    rows = [{**d, "time": d["time"]} for d in data]
    state.emit(data, r.rows_table(_DEAD_COLUMNS, rows) if rows else "No dead-lettered events.")


@events.command("redeliver")
@click.argument("subscription_id")
@click.argument("seq", type=click.IntRange(1))
@pass_state
def redeliver(state: State, subscription_id: str, seq: int) -> None:
    """Deliver a dead-lettered event again now."""
    state.vault().events.redeliver(subscription_id, seq)
    state.note(f"Event {seq} delivered to subscription {subscription_id}.")


@events.command("deliver")
@output_option
@pass_state
def deliver(state: State) -> None:
    """Run one delivery pass now (serve's scheduler does this on its timer)."""
    report = state.vault().events.deliver()
    data = {"delivered": report.delivered, "failed": report.failed, "dead_lettered": report.dead_lettered}
    state.emit(data, f"Delivered {report.delivered}, failed {report.failed}, dead-lettered {report.dead_lettered}.")


COMMANDS: tuple[click.Command, ...] = (events,)
