"""TLS material for a local server: a throw-away CA and a server certificate.

:func:`ensure_local_tls` writes into a directory (created 0700; files 0600, written
atomically)::

    ca.pem       the local CA certificate: what clients trust (``connection_verify=``)
    server.pem   the server certificate, then the CA certificate (the chain uvicorn serves)
    server.key   the server's private key (PKCS#8 PEM, unencrypted: the server reads it)

The CA signs exactly one certificate and its private key is **never written**: once the
server certificate is made the CA key is dropped, so a stolen ``tls`` directory cannot mint
certificates for anything. The CA also carries name constraints limited to the server's
names (by default ``localhost``, ``127.0.0.1`` and ``::1``), so even a mis-issued leaf could
not be used for another site by clients that trust ``ca.pem``. Keys are ECDSA P-256.

Existing files are reused while the server certificate is valid for more than
``renew_days``, names every requested host and matches its key; otherwise everything is
made again (clients must then trust the new ``ca.pem``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from vaultcore.exceptions import InvalidParameterError

__all__ = ["DEFAULT_HOSTS", "TlsFiles", "ensure_local_tls"]

DEFAULT_HOSTS = ("localhost", "127.0.0.1", "::1")
CA_FILE = "ca.pem"
CERT_FILE = "server.pem"
KEY_FILE = "server.key"


@dataclass(frozen=True)
class TlsFiles:
    """Paths of the server's certificate chain and key, and of the CA clients trust (if known)."""

    cert_path: Path
    key_path: Path
    ca_path: Path | None = None


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _constraint(host: str) -> x509.GeneralName:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return x509.DNSName(host)
    return x509.IPAddress(ipaddress.ip_network(f"{ip}/{ip.max_prefixlen}"))


def _check_hosts(hosts: Sequence[str]) -> list[str]:
    if isinstance(hosts, str) or not hosts:
        raise InvalidParameterError("hosts must be a non-empty list of host names or IP addresses")
    out: list[str] = []
    for host in hosts:
        if not isinstance(host, str) or not host or len(host) > 253 or any(c in host for c in "/ *\\"):
            raise InvalidParameterError(f"invalid TLS host name {host!r}")
        try:
            out.append(str(ipaddress.ip_address(host)))
        except ValueError:
            out.append(host.lower().rstrip("."))
    return list(dict.fromkeys(out))


def _write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _reusable(directory: Path, hosts: list[str], renew_days: int) -> bool:
    paths = [directory / CA_FILE, directory / CERT_FILE, directory / KEY_FILE]
    if not all(p.is_file() for p in paths):
        return False
    try:
        cert = x509.load_pem_x509_certificates(paths[1].read_bytes())[0]
        key = serialization.load_pem_private_key(paths[2].read_bytes(), password=None)
        x509.load_pem_x509_certificate(paths[0].read_bytes())
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, TypeError, x509.ExtensionNotFound):
        return False
    names = {n.lower() for n in sans.get_values_for_type(x509.DNSName)}
    names |= {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
    now = dt.datetime.now(dt.UTC)
    return (
        set(hosts) <= names
        and cert.not_valid_after_utc - now > dt.timedelta(days=renew_days)
        and cert.not_valid_before_utc <= now
        and key.public_key() == cert.public_key()
    )


def ensure_local_tls(
    directory: str | os.PathLike[str],
    hosts: Sequence[str] = DEFAULT_HOSTS,
    *,
    valid_days: int = 365,
    renew_days: int = 30,
) -> TlsFiles:
    """A CA and a server certificate for *hosts* in *directory* (reused while still good)."""
    names = _check_hosts(hosts)
    if not 1 <= renew_days < valid_days:
        raise InvalidParameterError("renew_days must be at least 1 and less than valid_days")
    folder = Path(directory)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)  # it holds the server key: an existing, more open directory is tightened
    files = TlsFiles(folder / CERT_FILE, folder / KEY_FILE, folder / CA_FILE)
    if _reusable(folder, names, renew_days):
        return files

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    start, end = now - dt.timedelta(minutes=5), now + dt.timedelta(days=valid_days)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "vaultcore"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"vaultcore local CA {os.urandom(4).hex()}"),
        ]
    )
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.NameConstraints(permitted_subtrees=[_constraint(h) for h in names], excluded_subtrees=None),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    dns = [h for h in names if not _is_ip(h)]
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns[0] if dns else names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName([_general_name(h) for h in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    del ca_key  # never stored: the CA signs this one certificate only
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    _write(
        files.key_path,
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
    _write(files.cert_path, leaf.public_bytes(serialization.Encoding.PEM) + ca_pem)
    _write(folder / CA_FILE, ca_pem)
    return files


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def check_cert_files(cert: str | os.PathLike[str], key: str | os.PathLike[str]) -> TlsFiles:
    """Check that a user-supplied certificate chain and key load and match."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(os.fspath(cert), os.fspath(key))
    except (OSError, ssl.SSLError) as exc:
        raise InvalidParameterError(f"cannot use the TLS certificate {os.fspath(cert)!r} and key: {exc}") from None
    return TlsFiles(Path(cert), Path(key), None)
