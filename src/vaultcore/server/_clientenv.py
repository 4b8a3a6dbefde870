"""The environment variables that point an unchanged Azure app at a local server.

azure-identity reads its whole configuration from the environment (research notes,
docs/server.md): ``AZURE_AUTHORITY_HOST`` (the server's origin: it is its own Entra ID),
``AZURE_TENANT_ID=adfs`` (the one tenant for which MSAL skips instance discovery at
login.microsoftonline.com, which cannot work offline), and either client credentials
(``AZURE_CLIENT_ID`` + ``AZURE_CLIENT_SECRET`` or ``AZURE_CLIENT_CERTIFICATE_PATH``) or a
managed identity (``IDENTITY_ENDPOINT`` + ``IDENTITY_HEADER``: the OS user). The server's CA
is trusted through ``REQUESTS_CA_BUNDLE`` (requests, the sync transport) and
``SSL_CERT_FILE`` (OpenSSL's default CA file, which aiohttp - the async transport - uses;
it **replaces** the system bundle for every TLS client in the process).

``AZURE_TOKEN_CREDENTIALS`` is deliberately not set: ``DefaultAzureCredential`` stops at the
first credential that is configured, and with these variables that is always
EnvironmentCredential or the App Service managed identity, before any IMDS probe or developer
tool; pinning one would break an app that adds the other (e.g. client credentials on top of
the managed-identity block).

The CA certificate is public, but the TLS directory (which holds the server key) is 0700,
so :func:`public_ca_copy` puts a copy any local user can read in a directory of its own
under the system temp directory (``vaultcore-<uid>-ca``, 0755, owned by the server's user
and refused if anyone else could have planted it).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from pathlib import Path

from vaultcore.exceptions import InvalidParameterError

__all__ = ["IDENTITY_HEADER", "client_environment", "public_ca_copy"]

IDENTITY_HEADER = "vaultcore-local"  # only has to be present: the kernel names the caller


def _public_dir() -> Path:
    folder = Path(tempfile.gettempdir()) / f"vaultcore-{os.getuid()}-ca"
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o755)
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise InvalidParameterError(f"{folder} is not a directory of this user that only it can write")
    os.chmod(folder, 0o755)  # noqa: S103 - public on purpose: it holds the CA certificate only
    return folder


def public_ca_copy(ca_path: str | os.PathLike[str], directory: str | os.PathLike[str] | None = None) -> Path:
    """A world-readable copy of the CA certificate *ca_path* (the same file while it is unchanged)."""
    data = Path(ca_path).read_bytes()
    if b"-----BEGIN CERTIFICATE-----" not in data or b"PRIVATE KEY" in data:
        raise InvalidParameterError(f"{os.fspath(ca_path)} is not a CA certificate file")
    folder = Path(directory) if directory is not None else _public_dir()
    target = folder / f"ca-{hashlib.sha256(data).hexdigest()[:16]}.pem"
    if target.is_file() and not target.is_symlink() and target.read_bytes() == data:
        return target
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".ca-")
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return target


def client_environment(
    url: str,
    ca_path: str | os.PathLike[str] | None,
    *,
    client_id: str | None = None,
    client_secret: str | None = None,
    certificate_path: str | os.PathLike[str] | None = None,
) -> dict[str, str]:
    """The variables a client exports: managed identity (no *client_id*) or an application."""
    env = {"AZURE_AUTHORITY_HOST": url.rstrip("/"), "AZURE_TENANT_ID": "adfs"}
    if client_id is None:
        env["IDENTITY_ENDPOINT"] = url.rstrip("/") + "/msi/token"
        env["IDENTITY_HEADER"] = IDENTITY_HEADER
    else:
        if (client_secret is None) == (certificate_path is None):
            raise InvalidParameterError("an application needs a client secret or a certificate path (one of them)")
        env["AZURE_CLIENT_ID"] = client_id
        if client_secret is not None:
            env["AZURE_CLIENT_SECRET"] = client_secret
        else:
            env["AZURE_CLIENT_CERTIFICATE_PATH"] = os.path.abspath(os.fspath(certificate_path or ""))
    if ca_path is not None:
        env["REQUESTS_CA_BUNDLE"] = os.fspath(ca_path)
        env["SSL_CERT_FILE"] = os.fspath(ca_path)
    return env
