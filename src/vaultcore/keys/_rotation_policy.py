"""Key rotation policies: validation of lifetime actions, when they are due, the model.

Durations are ISO-8601 (``engine._durations``); a policy has at most one Rotate and one Notify
action, each with exactly one trigger; Azure's default policy (none stored) is Notify 30 days
before expiry.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from vaultcore.engine._durations import parse_duration
from vaultcore.engine._records import VersionRecord
from vaultcore.engine._validation import from_timestamp
from vaultcore.exceptions import InvalidParameterError
from vaultcore.keys._models import KeyRotationLifetimeAction, KeyRotationPolicy

__all__ = ["check_action", "check_rotate_before_expiry", "policy_model", "rotation_due"]


def policy_model(policy_id: str, doc: dict[str, Any] | None) -> KeyRotationPolicy:
    """The public model of a stored policy document (Azure's default when there is none)."""
    if not doc:
        return KeyRotationPolicy(
            id=policy_id,
            lifetime_actions=[KeyRotationLifetimeAction("Notify", time_before_expiry="P30D")],
        )
    return KeyRotationPolicy(
        id=policy_id,
        lifetime_actions=[
            KeyRotationLifetimeAction(a["action"], a.get("time_after_create"), a.get("time_before_expiry"))
            for a in doc.get("actions", [])
        ],
        expires_in=doc.get("expires_in"),
        created_on=from_timestamp(doc.get("created")),
        updated_on=from_timestamp(doc.get("updated")),
    )


def check_action(action: KeyRotationLifetimeAction | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(action, KeyRotationLifetimeAction):
        doc = {
            "action": action.action,
            "time_after_create": action.time_after_create,
            "time_before_expiry": action.time_before_expiry,
        }
    elif isinstance(action, Mapping):
        doc = dict(action)
    else:
        raise InvalidParameterError(
            f"a lifetime action is a KeyRotationLifetimeAction or a mapping, not {type(action).__name__}"
        )
    kind = str(doc.get("action", "")).capitalize()
    if kind not in ("Rotate", "Notify"):
        raise InvalidParameterError("a lifetime action is 'Rotate' or 'Notify'")
    after, before = doc.get("time_after_create"), doc.get("time_before_expiry")
    if (after is None) == (before is None):
        raise InvalidParameterError("a lifetime action needs exactly one of time_after_create or time_before_expiry")
    # Stored (and returned) in the parser's normal form: " p30d " -> "P30D".
    if after is not None:
        after = parse_duration(after, "time_after_create").text
    if before is not None:
        before = parse_duration(before, "time_before_expiry").text
    return {"action": kind, "time_after_create": after, "time_before_expiry": before}


def check_rotate_before_expiry(actions: list[dict[str, Any]], expires_in: str | None, now: datetime) -> None:
    """A Rotate due ``time_before_expiry`` must come after the new version's creation, or
    every new version (expiring ``expires_in`` after creation) would be due at once and each
    maintenance run would rotate again."""
    if expires_in is None:
        return
    expiry = parse_duration(expires_in).add_to(now)
    for action in actions:
        before = action["time_before_expiry"]
        if action["action"] == "Rotate" and before and parse_duration(before).subtract_from(expiry) <= now:
            raise InvalidParameterError(
                f"the Rotate action's time_before_expiry ({before}) must be shorter than expires_in ({expires_in})"
            )


def rotation_due(action: dict[str, Any], rec: VersionRecord, now: datetime) -> bool:
    created = datetime.fromtimestamp(rec.created_on, UTC)
    if action.get("time_after_create"):
        return now >= parse_duration(action["time_after_create"]).add_to(created)
    if action.get("time_before_expiry") and rec.expires_on is not None:
        expiry = datetime.fromtimestamp(rec.expires_on, UTC)
        return now >= parse_duration(action["time_before_expiry"]).subtract_from(expiry)
    return False
