"""A server request's body (a secret value, a key to import) must not show in its repr."""

from __future__ import annotations

from vaultcore.server._wire import Call

SECRET = b"s3cr3t-value-that-must-not-leak"


def test_server_call_repr_hides_body() -> None:
    call = Call(None, "https://h", "/secrets/x", {}, {}, b'{"value": "' + SECRET + b'"}')  # type: ignore[arg-type]
    assert "s3cr3t" not in repr(call)
