"""Webhook delivery over HTTPS with the standard library (no HTTP client dependency).

One POST per event: the Event Grid schema sends a JSON array of one event
(``Content-Type: application/json``), CloudEvents 1.0 one event in structured mode
(``application/cloudevents+json``). Headers: ``aeg-event-type: Notification``,
``aeg-subscription-name``, ``aeg-delivery-count`` (retries so far) and the per-subscription
``X-Vaultcore-Signature``. TLS certificates are verified (system CAs, or the subscription's
CA file); redirects are not followed; any 2xx status is success.

The validation handshake when a subscription is created: Event Grid's
``Microsoft.EventGrid.SubscriptionValidationEvent`` (the receiver answers
``{"validationResponse": code}``), or CloudEvents' abuse protection (``OPTIONS`` with
``WebHook-Request-Origin``; the receiver answers ``WebHook-Allowed-Origin``).
"""

from __future__ import annotations

import functools
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import urllib.request

from vaultcore.events._schema import SIGNATURE_HEADER, TOPIC, Event, sign
from vaultcore.exceptions import InvalidParameterError

__all__ = ["DeliveryError", "Target", "check_url", "deliver", "handshake"]

_LOOPBACK = ("127.0.0.1", "::1", "localhost")
TIMEOUT = 10.0


class DeliveryError(Exception):
    """A delivery attempt failed (the message is safe to store: no secrets, no bodies)."""


@dataclass(frozen=True)
class Target:
    """Where and how to deliver (from a stored subscription)."""

    id: str
    url: str
    schema: str
    secret: bytes = field(repr=False)
    ca_file: str | None = None
    verify_tls: bool = True

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Target:
        return cls(
            id=doc["id"],
            url=doc["url"],
            schema=doc["schema"],
            secret=bytes.fromhex(doc["secret"]),
            ca_file=doc.get("ca_file"),
            verify_tls=bool(doc.get("verify_tls", True)),
        )


def check_url(url: str) -> str:
    """HTTPS URLs only (plain HTTP only to a loopback address, for local development)."""
    if not isinstance(url, str):
        raise InvalidParameterError("the webhook URL must be a string")
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname in _LOOPBACK:
        return url
    raise InvalidParameterError("the webhook URL must be https://host/path (plain http only to a loopback address)")


@functools.lru_cache(maxsize=32)
def _opener(target: Target) -> urllib.request.OpenerDirector:
    """One opener (TLS context, CA file loaded once) per subscription target; never follows a
    redirect. ``ssl`` and ``urllib.request`` load here, on the first delivery: opening a vault
    (and every CLI call) does not pay for them."""
    import ssl
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    if target.verify_tls:
        context = ssl.create_default_context(cafile=target.ca_file)
    else:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), NoRedirect())


def _request(target: Target, method: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, bytes, Any]:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(target.url, data=body, method=method, headers=headers)  # noqa: S310 - checked URL
    try:
        with _opener(target).open(req, timeout=TIMEOUT) as resp:
            return int(resp.status), resp.read(65536), resp.headers
    except urllib.error.HTTPError as exc:
        return int(exc.code), b"", exc.headers
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"cannot reach the webhook: {type(reason).__name__}: {reason}"[:300]) from None


def body_of(event: Event, schema: str) -> tuple[bytes, str]:
    if schema == "cloudevents":
        return json.dumps(event.to_cloudevent()).encode(), "application/cloudevents+json; charset=utf-8"
    return json.dumps([event.to_event_grid()]).encode(), "application/json"


def deliver(target: Target, event: Event, attempt: int) -> None:
    """POST *event*; ``DeliveryError`` unless the receiver answered 2xx."""
    body, ctype = body_of(event, target.schema)
    headers = {
        "Content-Type": ctype,
        "aeg-event-type": "Notification",
        "aeg-subscription-name": target.id,
        "aeg-delivery-count": str(attempt),
        SIGNATURE_HEADER: sign(target.secret, body),
        "User-Agent": "vaultcore-events/1",
    }
    status, _, _ = _request(target, "POST", body, headers)
    if not 200 <= status < 300:
        raise DeliveryError(f"the webhook answered HTTP {status}")


def handshake(target: Target, vault_name: str) -> None:
    """The subscription validation handshake; ``InvalidParameterError`` if the endpoint fails it."""
    try:
        if target.schema == "cloudevents":
            origin = f"{vault_name}.vault.vaultcore.local"
            status, _, headers = _request(target, "OPTIONS", None, {"WebHook-Request-Origin": origin})
            allowed = (headers.get("WebHook-Allowed-Origin") or "") if headers is not None else ""
            if not 200 <= status < 300 or allowed.strip() not in (origin, "*"):
                raise DeliveryError(f"HTTP {status}, WebHook-Allowed-Origin {allowed!r}")
            return
        code = secrets.token_hex(16).upper()
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        event = {
            "id": str(uuid.uuid4()),
            "topic": TOPIC.format(vault_name),
            "subject": "",
            "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
            "eventTime": now,
            "data": {"validationCode": code, "validationUrl": None},
            "dataVersion": "2",
            "metadataVersion": "1",
        }
        body = json.dumps([event]).encode()
        headers_out = {
            "Content-Type": "application/json",
            "aeg-event-type": "SubscriptionValidation",
            "aeg-subscription-name": target.id,
            SIGNATURE_HEADER: sign(target.secret, body),
        }
        status, reply, _ = _request(target, "POST", body, headers_out)
        try:
            answer = json.loads(reply).get("validationResponse") if reply else None
        except (ValueError, AttributeError):
            answer = None
        if not 200 <= status < 300 or not isinstance(answer, str) or not hmac.compare_digest(answer, code):
            raise DeliveryError(f"HTTP {status} without the validation code")
    except DeliveryError as exc:
        raise InvalidParameterError(f"the webhook failed the subscription validation handshake: {exc}") from None
