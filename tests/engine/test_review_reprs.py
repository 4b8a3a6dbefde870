"""Objects that carry a secret value, key material or a request body must not show it in
their repr (tracebacks with locals, debug logging, pytest assertion output)."""

from __future__ import annotations

from vaultcore.engine._lifecycle import NewVersion

SECRET = b"s3cr3t-value-that-must-not-leak"


def test_new_version_repr_hides_payload() -> None:
    new = NewVersion(payload=SECRET, content_type="text/plain")
    assert SECRET.decode() not in repr(new)
    assert "s3cr3t" not in str(new)
