"""Local TLS material: file modes, reuse, name constraints, no CA key on disk; user certificates."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from azure.keyvault.secrets import SecretClient
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from vaultcore import Vault
from vaultcore.exceptions import InvalidParameterError
from vaultcore.server import BackgroundServer, TlsFiles, check_cert_files, ensure_local_tls
from vaultcore.testing import AkvServer


def test_generated_files_are_private_and_reused(tmp_path: Path) -> None:
    folder = tmp_path / "tls"
    files = ensure_local_tls(folder)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert sorted(os.listdir(folder)) == ["ca.pem", "server.key", "server.pem"]
    for name in os.listdir(folder):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    # only the server key is private: the CA signed once and its key was dropped
    assert [n for n in os.listdir(folder) if b"PRIVATE KEY" in (folder / n).read_bytes()] == ["server.key"]
    before = {n: (folder / n).read_bytes() for n in os.listdir(folder)}
    assert ensure_local_tls(folder) == files
    assert {n: (folder / n).read_bytes() for n in os.listdir(folder)} == before
    ensure_local_tls(folder, ["localhost", "127.0.0.1", "::1", "vault.lan"])
    assert (folder / "ca.pem").read_bytes() != before["ca.pem"]  # new names: new CA and certificate


def test_certificate_shape(tmp_path: Path) -> None:
    files = ensure_local_tls(tmp_path / "tls", ["localhost", "127.0.0.1", "myhost.lan"])
    assert files.ca_path is not None
    ca = x509.load_pem_x509_certificate(files.ca_path.read_bytes())
    chain = x509.load_pem_x509_certificates(files.cert_path.read_bytes())
    leaf = chain[0]
    assert chain[1] == ca
    leaf.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    constraints = ca.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    permitted = {str(getattr(n, "value", n)) for n in constraints.value.permitted_subtrees or []}
    assert permitted == {"localhost", "127.0.0.1/32", "myhost.lan"}
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(sans.get_values_for_type(x509.DNSName)) == {"localhost", "myhost.lan"}
    assert isinstance(leaf.public_key(), ec.EllipticCurvePublicKey)
    with pytest.raises(InvalidParameterError):
        ensure_local_tls(tmp_path / "bad", ["*.example.com"])
    with pytest.raises(InvalidParameterError):
        ensure_local_tls(tmp_path / "bad", [])


def test_user_supplied_certificate(tmp_path: Path, vault: Vault) -> None:
    generated = ensure_local_tls(tmp_path / "tls")
    other = ensure_local_tls(tmp_path / "other")
    with pytest.raises(InvalidParameterError, match="cannot use the TLS certificate"):
        check_cert_files(generated.cert_path, other.key_path)
    files = check_cert_files(generated.cert_path, generated.key_path)
    assert files == TlsFiles(generated.cert_path, generated.key_path, None)
    with BackgroundServer(vault, files) as server:
        assert server.ca_path is None and server.client_kwargs["connection_verify"] is True
        kwargs = {"verify_challenge_resource": False, "connection_verify": str(generated.ca_path)}
        with SecretClient(server.url, server.admin_credential(), **kwargs) as client:
            assert client.set_secret("tls", "ok").value == "ok"


def test_akv_server_fixture(akv_server: AkvServer) -> None:
    """The public pytest fixture: a TokenCredential for an administrator principal, the CA, the vault."""
    with SecretClient(akv_server.url, akv_server.credential, **akv_server.client_kwargs) as client:
        client.set_secret("from-sdk", "hello")
    assert akv_server.vault.secrets.get_secret("from-sdk").value == "hello"
    assert Path(akv_server.ca_path).is_file()
    token = akv_server.credential.get_token("https://vault.azure.net/.default")
    assert token.token.startswith("vc1.") and token.expires_on > 0
