"""Audit semantics from issue 13 §11-12: ``audit="off"`` records no successful AuditRead, and
an invalid name (often a value passed by mistake) is neither echoed in full nor audited."""

from __future__ import annotations

from pathlib import Path

import pytest

from vaultcore import RawKeyCredential, Vault
from vaultcore.exceptions import InvalidParameterError, NotFoundError

KEY = b"\x33" * 32
MISTAKE = "postgres://admin:S3cretPassw0rd@db.internal:5432/app"


def test_audit_off_reading_the_log_records_no_successful_audit_read(tmp_path: Path) -> None:
    with Vault.create(tmp_path / "v", RawKeyCredential(KEY), audit="off") as vault:
        with pytest.raises(NotFoundError):
            vault.secrets.get_secret("missing")  # a failure: queued even with audit="off"
        vault.audit.events()  # flushes the queue while the AuditRead is in progress
        vault.audit.verify()
        operations = [(e.operation, e.result) for e in vault.audit.events()]
    assert ("SecretGet", "NotFound") in operations
    assert not [op for op in operations if op[0] in ("AuditRead", "AuditVerify") and op[1] == "success"], operations


@pytest.mark.parametrize("kind", ["secrets", "keys", "certificates"])
def test_an_invalid_name_is_masked_in_the_error_and_absent_from_the_audit_log(tmp_path: Path, kind: str) -> None:
    with Vault.create(tmp_path / "v", RawKeyCredential(KEY)) as vault:
        with pytest.raises(InvalidParameterError) as caught:
            if kind == "secrets":
                vault.secrets.get_secret(MISTAKE)
            elif kind == "keys":
                vault.keys.get_key(MISTAKE)
            else:
                vault.certificates.get_certificate(MISTAKE)
        message = str(caught.value)
        assert "S3cret" not in message and "admin" not in message and "db.internal" not in message
        assert "'pos***'" in message and f"({len(MISTAKE)} characters)" in message
        events = vault.audit.events()
        dump = repr([(e.operation, e.object_id, e.result) for e in events])
        assert "S3cret" not in dump and "postgres" not in dump
        failed = [e for e in events if e.result == "BadParameter"]
        assert failed and failed[-1].object_id == f"/{kind}/<invalid-name>"
    # nor anywhere in the files (the audit log is sealed, but the scope was stored in clear text
    # inside it; check the plaintext events above, and that no file holds it in the clear)
    for path in (tmp_path / "v").iterdir():
        assert MISTAKE.encode() not in path.read_bytes()
