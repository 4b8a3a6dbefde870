"""Audit events of REST requests carry the request id the client sees."""

from __future__ import annotations

from azure.keyvault.secrets import SecretClient
from serverhelpers import Server, unique


def test_audit_events_carry_the_clients_request_id(srv: Server) -> None:
    name = unique("rid")
    seen: dict[str, str] = {}

    def remember(operation: str):  # type: ignore[no-untyped-def]
        def hook(response: object) -> None:
            # The challenge round trip (401, then the real request) reuses one client id.
            seen[operation] = response.http_request.headers["x-ms-client-request-id"]  # type: ignore[attr-defined]

        return hook

    with srv.client(SecretClient) as client:
        client.set_secret(name, "v", raw_response_hook=remember("SecretSet"))
        client.get_secret(name, raw_response_hook=remember("SecretGet"))
    srv.vault.audit.flush()
    events = [e for e in srv.vault.audit.events(principal="app:ci") if e.object_id and name.lower() in e.object_id]
    assert {e.operation: e.request_id for e in events} == seen
    assert seen["SecretSet"] != seen["SecretGet"]
