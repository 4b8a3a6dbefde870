"""The cold path stays lean: a new process that opens a vault and reads one secret loads only
what that needs (issue 12's cold start). Which modules are loaded is checked, never a time.

Everything else is imported where it is first used: the administration plane and settings,
events and webhooks, the audit log's query types, keys, certificates, X.509, PKCS#11, the
server and the CLI's libraries.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from vaultcore import KeyFileCredential, Vault

#: Never loaded by ``from vaultcore import KeyFileCredential, Vault``, ``Vault.open`` with a key
#: file, ``get_secret`` and ``close``. A prefix ends with "." to cover a whole package.
NOT_ON_THE_COLD_PATH = (
    "vaultcore._settings",
    "vaultcore._results",
    "vaultcore._environment",
    "vaultcore.access._audit_records",
    "vaultcore.access._audit_view",
    "vaultcore.access._principals",
    "vaultcore.access._roledefs",
    "vaultcore.access._roledefmgr",
    "vaultcore.certificates.",
    "vaultcore.cli.",
    "vaultcore.crypto._content_types",
    "vaultcore.crypto._jwk",
    "vaultcore.crypto._keymaterial",
    "vaultcore.crypto._keyops",
    "vaultcore.crypto._shamir",
    "vaultcore.engine._domainquorum",
    "vaultcore.engine._fullbackup",
    "vaultcore.engine._migrate",
    "vaultcore.engine._paging",
    "vaultcore.engine._rotation",
    "vaultcore.events",
    "vaultcore.events.",
    "vaultcore.hsm.",
    "vaultcore.keys.",
    "vaultcore.server.",
    "vaultcore.storage._postgres",
    "click",
    "rich",
    "starlette",
    "uvicorn",
    "pkcs11",
    "psycopg",
    "cryptography",  # HKDF and the keyring's GCM run in the C core; ~12 ms of import saved
    "importlib.metadata",
    "logging",
    # The records and result types are _frozen.Frozen classes, not dataclasses: ~60M
    # instructions of generated methods and of inspect/ast/dis/tokenize not run.
    "dataclasses",
    "inspect",
)

_SCRIPT = """
import json, sys
from vaultcore import KeyFileCredential, Vault

vault = Vault.open({vault!r}, KeyFileCredential({key!r}))
assert vault.secrets.get_secret("db-password").value == "s3cr3t"
vault.close()
after_read = sorted(sys.modules)

# The first write makes the event outbox; its event commits with it.
with Vault.open({vault!r}, KeyFileCredential({key!r})) as vault:
    vault.secrets.set_secret("db-password", "new")
    events = [e.type for e in vault.events]
print(json.dumps({{"after_read": after_read, "events": events}}))
"""


def _loaded(names: list[str], pattern: str) -> list[str]:
    if pattern.endswith("."):
        return [n for n in names if n.startswith(pattern)]
    return [n for n in names if n == pattern or n.startswith(pattern + ".")]


def test_open_and_first_read_load_only_the_read_path(tmp_path: Path) -> None:
    key = tmp_path / "vault.key"
    KeyFileCredential.generate(key)
    with Vault.create(tmp_path / "vault", KeyFileCredential(key)) as vault:
        vault.secrets.set_secret("db-password", "s3cr3t")
    script = textwrap.dedent(_SCRIPT).format(vault=str(tmp_path / "vault"), key=str(key))
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULTCORE_")}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)

    names: list[str] = result["after_read"]
    loaded = {pattern: _loaded(names, pattern) for pattern in NOT_ON_THE_COLD_PATH}
    assert {p: found for p, found in loaded.items() if found} == {}
    assert "vaultcore.secrets._client" in names  # the check above saw a real cold path

    # Deferring the outbox loses no event: the write after a read-only start emitted its own.
    assert result["events"][-1] == "Microsoft.KeyVault.SecretNewVersionCreated"
