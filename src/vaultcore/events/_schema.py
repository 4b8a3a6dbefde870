"""Azure Key Vault's Event Grid event types and payloads, in both delivery schemas.

``data`` carries exactly Azure's fields (``Id, VaultName, ObjectType, ObjectName, Version,
NBF, EXP``; NBF and EXP as numbers of Unix seconds, null when unset). The Event Grid schema
wraps it as ``{id, topic, subject, eventType, eventTime, data, dataVersion, metadataVersion}``;
CloudEvents 1.0 as ``{specversion, id, source, subject, type, time, data}``.
"""

from __future__ import annotations

import hashlib
import hmac
import time as _time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from vaultcore.exceptions import InvalidParameterError

__all__ = ["EVENT_TYPES", "PREFIX", "Event", "full_type", "sign", "verify_signature"]

PREFIX = "Microsoft.KeyVault."
_OBJECT_EVENTS = ("NewVersionCreated", "NearExpiry", "Expired")
#: The ten event types, by their full Event Grid name.
EVENT_TYPES: tuple[str, ...] = (
    *(f"{PREFIX}{kind}{what}" for kind in ("Certificate", "Key", "Secret") for what in _OBJECT_EVENTS),
    PREFIX + "VaultAccessPolicyChanged",
)
_COLLECTIONS = {"Secret": "secrets", "Key": "keys", "Certificate": "certificates"}
#: The Azure resource id the events name as their topic/source (no subscription: a local vault).
TOPIC = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/vaultcore"
    "/providers/Microsoft.KeyVault/vaults/{}"
)
SIGNATURE_HEADER = "X-Vaultcore-Signature"


def full_type(name: str) -> str:
    """``SecretExpired`` or ``Microsoft.KeyVault.SecretExpired`` -> the full name (checked)."""
    full = name if name.startswith(PREFIX) else PREFIX + name
    if full not in EVENT_TYPES:
        raise InvalidParameterError(f"unknown event type {name!r}; known: {', '.join(EVENT_TYPES)}")
    return full


@dataclass(frozen=True)
class Event:
    """One Key Vault event as the outbox holds it (``seq`` orders the outbox)."""

    seq: int
    id: str
    type: str
    time: datetime
    vault_name: str
    vault_url: str
    object_type: str
    object_name: str
    version: str | None = None
    nbf: int | None = None
    exp: int | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    def __getitem__(self, key: str) -> Any:
        """Dictionary access to the Event Grid form (``event["eventType"]``, ``event["data"]``),
        falling back to the CloudEvents form (``event["specversion"]``)."""
        grid = self.to_event_grid()
        if key in grid:
            return grid[key]
        return self.to_cloudevent()[key]

    @property
    def event_type(self) -> str:
        """The full type, as Event Grid's ``eventType`` (same as :attr:`type`)."""
        return self.type

    @property
    def subject(self) -> str:
        return self.object_name

    @property
    def short_type(self) -> str:
        return self.type[len(PREFIX) :]

    @property
    def data(self) -> dict[str, Any]:
        """Azure's ``data`` object, field names spelt as Azure spells them."""
        if self.object_type == "Vault":
            ident = self.vault_url
        else:
            ident = f"{self.vault_url}/{_COLLECTIONS[self.object_type]}/{self.object_name}"
            if self.version:
                ident += "/" + self.version
        return {
            "Id": ident,
            "VaultName": self.vault_name,
            "ObjectType": self.object_type,
            "ObjectName": self.object_name,
            "Version": self.version,
            "NBF": self.nbf,
            "EXP": self.exp,
        }

    @property
    def topic(self) -> str:
        return TOPIC.format(self.vault_name)

    def _time(self) -> str:
        return self.time.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")

    def to_event_grid(self) -> dict[str, Any]:
        """The event in the Event Grid schema."""
        return {
            "id": self.id,
            "topic": self.topic,
            "subject": self.object_name,
            "eventType": self.type,
            "eventTime": self._time(),
            "data": self.data,
            "dataVersion": "1",
            "metadataVersion": "1",
        }

    def to_cloudevent(self) -> dict[str, Any]:
        """The event in the CloudEvents 1.0 schema (JSON format)."""
        return {
            "specversion": "1.0",
            "id": self.id,
            "source": self.topic,
            "subject": self.object_name,
            "type": self.type,
            "time": self._time(),
            "datacontenttype": "application/json",
            "data": self.data,
        }

    def to_json(self, schema: str = "eventgrid") -> dict[str, Any]:
        """The event in *schema* (``eventgrid`` or ``cloudevents``) plus the outbox ``seq``."""
        body = self.to_cloudevent() if schema == "cloudevents" else self.to_event_grid()
        return {"seq": self.seq, **body}


def sign(secret: bytes, body: bytes, timestamp: int | None = None) -> str:
    """The signature header value ``t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``."""
    ts = int(_time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret, str(ts).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def verify_signature(
    secret: str | bytes, header: str, body: bytes, *, tolerance: int = 300, now: float | None = None
) -> bool:
    """For webhook receivers: is *header* (``X-Vaultcore-Signature``) a valid signature of
    *body* under the subscription's *secret*, made within *tolerance* seconds? Constant time."""
    key = bytes.fromhex(secret) if isinstance(secret, str) else secret
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        ts = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False
    current = _time.time() if now is None else now
    if abs(current - ts) > tolerance:
        return False
    expected = sign(key, body, ts).split("v1=", 1)[1]
    return hmac.compare_digest(expected, given)
