"""``vault.access``: principals, their credentials and role assignments.

Principals:

- the **administrator**: whoever holds the vault credential (``vault`` itself);
- **application** principals: a client id and a client secret. The secret (256 random bits,
  base64url) is shown once; only an Argon2id hash with a per-principal salt is stored. An
  application may instead (or also) have X.509 certificates (public parts only, RSA keys):
  the server accepts client assertions signed by their keys, as Entra ID does.
- **OS-user** principals: a Unix uid — the local analogue of a managed identity, with no
  secret to leak. The server's managed-identity endpoint learns the uid from the kernel (the
  owner of the client's loopback socket), never from anything the client sends.

Records live in the ``access`` database, sealed by the envelope, under keyed hashes of the
principal id. Principal ids are case-insensitive; a principal keeps the casing it was created
with, and that is the id its views act (and are audited) as. Every change bumps an access
generation so open sessions see revocations at once (one point read per checked operation).
"""

from __future__ import annotations

import base64
import hmac
import re
import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from vaultcore.access._operations import Session, operation
from vaultcore.access._roledefmgr import RoleDefinitionOperations
from vaultcore.access._roledefs import RoleDefinition, check_scope
from vaultcore.access._roles import DataAction
from vaultcore.crypto import _bindings
from vaultcore.crypto._credentials import KDF_INTERACTIVE, KdfParameters
from vaultcore.crypto._envelope import RecordType
from vaultcore.engine._records import decode, encode
from vaultcore.engine._validation import from_timestamp
from vaultcore.exceptions import ConflictError, ForbiddenError, InvalidParameterError, NotFoundError, UnauthorizedError
from vaultcore.storage._interface import ReadTxn, WriteTxn

if TYPE_CHECKING:
    from vaultcore.engine._context import VaultContext

__all__ = ["AccessManager", "Principal", "RoleAssignment"]

ACCESS = b"access"
META = b"meta"
GEN_KEY = b"access_gen"
_GEN = struct.Struct(">Q")
_CLIENT_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,63}")


@dataclass(frozen=True)
class Principal:
    """An identity that can be granted roles. ``id`` is ``app:<client_id>`` or ``uid:<n>``."""

    id: str
    kind: str  # "application" | "os_user"
    display_name: str
    created_on: datetime | None
    secret_rotated_on: datetime | None = None


@dataclass(frozen=True)
class NewApplication:
    """A created (or re-keyed) application principal and its client secret, shown once."""

    principal: Principal
    client_id: str
    client_secret: str = field(repr=False)


@dataclass(frozen=True)
class RoleAssignment:
    """``id`` is the assignment's GUID (Azure's assignment name); ``role`` the role's name."""

    id: str
    principal_id: str
    role: str
    scope: str
    role_definition_id: str = ""


def _hash_secret(secret: bytes, salt: bytes, kdf: KdfParameters) -> bytes:
    return Argon2id(
        salt=salt, length=32, iterations=kdf.iterations, lanes=kdf.lanes, memory_cost=kdf.memory_cost
    ).derive(secret)


class AccessManager(RoleDefinitionOperations):
    """Create and list principals, rotate their secrets, define, assign and remove roles."""

    def __init__(self, ctx: VaultContext, session: Session, *, kdf: KdfParameters = KDF_INTERACTIVE) -> None:
        self._ctx = ctx
        self._session = session
        self._kdf = kdf

    # -- storage helpers -----------------------------------------------------------------

    def _pkey(self, principal_id: str) -> bytes:
        h = self._ctx.name_hasher()
        h.update(b"principal:" + principal_id.lower().encode())
        return b"P" + h.digest()[:16]

    def _get_principal(self, txn: ReadTxn, principal_id: str) -> dict[str, Any] | None:
        key = self._pkey(principal_id)
        blob = txn.get(ACCESS, key)
        if blob is None:
            return None
        head, _ = decode(self._ctx.envelope.open(RecordType.ACCESS, key, blob))
        return head

    def _put(self, txn: WriteTxn, key: bytes, doc: dict[str, Any]) -> None:
        txn.put(ACCESS, key, self._ctx.envelope.seal(RecordType.ACCESS, key, encode(doc)))
        self._bump(txn)

    def _bump(self, txn: WriteTxn) -> None:
        raw = txn.get(META, GEN_KEY)
        txn.put(META, GEN_KEY, _GEN.pack((_GEN.unpack(raw)[0] if raw else 0) + 1))

    def _access_changed(self, txn: WriteTxn) -> None:
        """Azure's ``VaultAccessPolicyChanged``: who may do what on this vault changed."""
        name = self._ctx.settings.name
        self._ctx.emit_in(txn, "VaultAccessPolicyChanged", "Vault", name)

    def _all(self, txn: ReadTxn, prefix: bytes) -> Iterator[tuple[bytes, dict[str, Any]]]:
        for key, blob in txn.scan(ACCESS, prefix):
            head, _ = decode(self._ctx.envelope.open(RecordType.ACCESS, key, blob))
            yield key, head

    @staticmethod
    def _principal(doc: dict[str, Any]) -> Principal:
        return Principal(
            id=doc["id"],
            kind=doc["kind"],
            display_name=doc.get("display_name", ""),
            created_on=from_timestamp(doc.get("created")),
            secret_rotated_on=from_timestamp(doc.get("rotated")),
        )

    # -- principals --------------------------------------------------------------------

    def _new_secret(self) -> tuple[str, dict[str, Any]]:
        secret = base64.urlsafe_b64encode(_bindings.random_bytes(32)).rstrip(b"=").decode()
        salt = _bindings.random_bytes(16)
        digest = _hash_secret(secret.encode(), salt, self._kdf)
        doc = {
            "salt": salt.hex(),
            "hash": digest.hex(),
            "m": self._kdf.memory_cost,
            "t": self._kdf.iterations,
            "l": self._kdf.lanes,
        }
        return secret, doc

    @operation("PrincipalCreate", DataAction.ROLE_WRITE)
    def create_application(
        self, client_id: str, *, display_name: str = "", certificate: bytes | None = None
    ) -> NewApplication:
        """A new application principal; the returned client secret is shown only once.

        With *certificate* (PEM or DER, an RSA public key) the application authenticates with
        client assertions signed by that certificate's key and gets no client secret
        (``client_secret`` is then ``""``).
        """
        if not isinstance(client_id, str) or not _CLIENT_ID.fullmatch(client_id):
            raise InvalidParameterError("client_id must be 1-64 characters of letters, digits, '.', '_' and '-'")
        pid = f"app:{client_id}"
        now = self._ctx.now()
        doc: dict[str, Any] = {
            "id": pid,
            "kind": "application",
            "display_name": display_name,
            "created": now,
            "inc": _bindings.random_bytes(8).hex(),
        }
        secret = ""
        if certificate is None:
            secret, doc["cred"] = self._new_secret()
            doc["rotated"] = now
        else:
            doc["certs"] = [_certificate_der(certificate).hex()]

        def run(txn: WriteTxn) -> None:
            if self._get_principal(txn, pid) is not None:
                raise ConflictError(f"principal {pid} already exists")
            self._put(txn, self._pkey(pid), doc)

        self._ctx.write(run)
        return NewApplication(self._principal(doc), client_id, secret)

    @operation("PrincipalCreate", DataAction.ROLE_WRITE)
    def create_os_user(self, uid: int, *, display_name: str = "") -> Principal:
        """A principal for the OS user *uid* (managed identity: the server asks the kernel)."""
        if not isinstance(uid, int) or uid < 0:
            raise InvalidParameterError("uid must be a non-negative integer")
        pid = f"uid:{uid}"
        doc = {
            "id": pid,
            "kind": "os_user",
            "display_name": display_name,
            "created": self._ctx.now(),
            "inc": _bindings.random_bytes(8).hex(),
        }

        def run(txn: WriteTxn) -> None:
            if self._get_principal(txn, pid) is not None:
                raise ConflictError(f"principal {pid} already exists")
            self._put(txn, self._pkey(pid), doc)

        self._ctx.write(run)
        return self._principal(doc)

    @operation("PrincipalRotateSecret", DataAction.ROLE_WRITE)
    def rotate_secret(self, client_id: str) -> NewApplication:
        """Replace an application's client secret (the old one stops working at once)."""
        pid = f"app:{client_id}"
        secret, cred = self._new_secret()

        def run(txn: WriteTxn) -> dict[str, Any]:
            doc = self._get_principal(txn, pid)
            if doc is None:
                raise NotFoundError(f"principal {pid} was not found")
            doc = {**doc, "cred": cred, "rotated": self._ctx.now()}
            self._put(txn, self._pkey(pid), doc)
            return doc

        doc = self._ctx.write(run)
        return NewApplication(self._principal(doc), client_id, secret)

    @operation("PrincipalList", DataAction.ROLE_READ)
    def list_principals(self) -> list[Principal]:
        with self._ctx.read() as txn:
            return [self._principal(doc) for _, doc in self._all(txn, b"P")]

    @operation("PrincipalDelete", DataAction.ROLE_WRITE)
    def delete_principal(self, principal_id: str) -> None:
        """Delete a principal and every role assignment it holds."""

        def run(txn: WriteTxn) -> None:
            if self._get_principal(txn, principal_id) is None:
                raise NotFoundError(f"principal {principal_id} was not found")
            txn.delete(ACCESS, self._pkey(principal_id))
            removed = False
            for key, doc in list(self._all(txn, b"A")):
                if _same(doc["principal"], principal_id):
                    removed = txn.delete(ACCESS, key) or removed
            if removed:
                self._access_changed(txn)
            self._bump(txn)

        self._ctx.write(run)

    # -- role assignments --------------------------------------------------------------

    def _assignment(self, txn: ReadTxn, doc: dict[str, Any]) -> RoleAssignment:
        definition = self._role_of(txn, doc)
        role = definition.role_name if definition is not None else str(doc.get("role", ""))
        def_id = definition.id if definition is not None else ""
        return RoleAssignment(doc["id"], doc["principal"], role, doc["scope"], def_id)

    def _role_of(self, txn: ReadTxn, doc: dict[str, Any]) -> RoleDefinition | None:
        return self._definition_in(txn, str(doc.get("def") or doc.get("role", "")))

    @operation("RoleAssignmentCreate", DataAction.ROLE_WRITE)
    def assign_role(self, principal_id: str, role: str, scope: str = "/", *, name: str | None = None) -> RoleAssignment:
        """Grant *role* (a built-in or custom role's name, GUID or id) at *scope*.

        *scope* is the vault (``/``), a collection (``/keys``) or one object (``/keys/NAME``);
        it must lie within the role's assignable scopes. *name* is the assignment's GUID
        (a new one by default); without it, an identical existing assignment is returned.
        """
        if not isinstance(role, str) or not role:
            raise InvalidParameterError("role must be a role name, GUID or definition id")
        scope = check_scope(scope)
        if name is not None:
            try:
                assignment_id = str(uuid.UUID(name)) if isinstance(name, str) else ""
            except ValueError:
                assignment_id = ""
            if not assignment_id:
                raise InvalidParameterError("a role assignment name must be a GUID")
        else:
            assignment_id = str(uuid.UUID(bytes=self._ctx_random()))

        def run(txn: WriteTxn) -> RoleAssignment:
            definition = self._definition_in(txn, role)
            if definition is None:
                raise InvalidParameterError(f"unknown role {role!r}: not a built-in or custom role definition")
            if not definition.assignable_at(scope):
                raise InvalidParameterError(
                    f"role {definition.role_name!r} cannot be assigned at {scope}: its assignable scopes are "
                    f"{', '.join(definition.assignable_scopes)}"
                )
            principal = self._get_principal(txn, principal_id)
            if principal is None:
                raise NotFoundError(f"principal {principal_id} was not found")
            pid = principal["id"]  # the id as created: ids are case-insensitive
            key = b"A" + uuid.UUID(assignment_id).bytes
            for _, doc in self._all(txn, b"A"):
                same = _same(doc["principal"], pid) and doc["scope"] == scope
                if same and (self._role_of(txn, doc) or definition).name == definition.name:
                    if name is None or doc["id"] == assignment_id:
                        return self._assignment(txn, doc)
                    raise ConflictError(
                        "the role assignment already exists under another name", inner_code="RoleAssignmentExists"
                    )
            if txn.get(ACCESS, key) is not None:
                raise ConflictError(
                    f"role assignment {assignment_id} exists with other properties", inner_code="RoleAssignmentExists"
                )
            doc = {
                "id": assignment_id,
                "principal": pid,
                "role": definition.role_name,
                "def": definition.name,
                "scope": scope,
            }
            self._put(txn, key, doc)
            self._access_changed(txn)
            return RoleAssignment(assignment_id, pid, definition.role_name, scope, definition.id)

        return self._ctx.write(run)

    @staticmethod
    def _assignment_key(assignment_id: object) -> bytes:
        try:
            return b"A" + uuid.UUID(str(assignment_id)).bytes
        except ValueError:
            raise NotFoundError(
                f"role assignment {assignment_id} was not found", inner_code="RoleAssignmentNotFound"
            ) from None

    @operation("RoleAssignmentDelete", DataAction.ROLE_WRITE)
    def remove_role(self, assignment_id: str) -> RoleAssignment:
        """Delete a role assignment (by its id) and return what it was."""
        key = self._assignment_key(assignment_id)

        def run(txn: WriteTxn) -> RoleAssignment:
            blob = txn.get(ACCESS, key)
            if blob is None:
                raise NotFoundError(
                    f"role assignment {assignment_id} was not found", inner_code="RoleAssignmentNotFound"
                )
            head, _ = decode(self._ctx.envelope.open(RecordType.ACCESS, key, blob))
            gone = self._assignment(txn, head)
            txn.delete(ACCESS, key)
            self._bump(txn)
            self._access_changed(txn)
            return gone

        return self._ctx.write(run)

    @operation("RoleAssignmentGet", DataAction.ROLE_READ)
    def get_role_assignment(self, assignment_id: str) -> RoleAssignment:
        key = self._assignment_key(assignment_id)
        with self._ctx.read() as txn:
            blob = txn.get(ACCESS, key)
            if blob is None:
                raise NotFoundError(
                    f"role assignment {assignment_id} was not found", inner_code="RoleAssignmentNotFound"
                )
            head, _ = decode(self._ctx.envelope.open(RecordType.ACCESS, key, blob))
            return self._assignment(txn, head)

    @operation("RoleAssignmentList", DataAction.ROLE_READ)
    def list_role_assignments(self, principal_id: str | None = None) -> list[RoleAssignment]:
        with self._ctx.read() as txn:
            return [
                self._assignment(txn, d)
                for _, d in self._all(txn, b"A")
                if principal_id is None or _same(d["principal"], principal_id)
            ]

    # -- full backup and settings (called by the facade inside its own operations) ----

    _RECORD_PREFIXES = (("principal", b"P"), ("definition", b"D"), ("assignment", b"A"), ("setting", b"S"))

    def _export_in(self, txn: ReadTxn) -> list[dict[str, Any]]:
        """Every access record (principals, custom roles, assignments, settings) as plain docs."""
        return [{"t": t, "doc": doc} for t, prefix in self._RECORD_PREFIXES for _, doc in self._all(txn, prefix)]

    def _replace_in(self, txn: WriteTxn, records: list[dict[str, Any]]) -> None:
        """Replace every access record by exported ones, re-keyed for this vault."""
        for _, prefix in self._RECORD_PREFIXES:
            for key, _blob in list(txn.scan(ACCESS, prefix)):
                txn.delete(ACCESS, key)
        self._bump(txn)
        for record in records:
            kind, doc = record.get("t"), record.get("doc")
            if not isinstance(doc, dict):
                raise InvalidParameterError("the backup's access records are damaged")
            if kind == "principal":
                key = self._pkey(doc["id"])
            elif kind == "definition":
                key = b"D" + uuid.UUID(doc["name"]).bytes
            elif kind == "assignment":
                key = b"A" + uuid.UUID(doc["id"]).bytes
            elif kind == "setting":
                key = b"S" + str(doc["name"]).encode()
            else:
                raise InvalidParameterError("the backup's access records are damaged")
            self._put(txn, key, doc)

    def _setting_in(self, txn: ReadTxn, name: str) -> dict[str, Any] | None:
        key = b"S" + name.encode()
        blob = txn.get(ACCESS, key)
        if blob is None:
            return None
        head, _ = decode(self._ctx.envelope.open(RecordType.ACCESS, key, blob))
        return head

    def _put_setting_in(self, txn: WriteTxn, name: str, value: str) -> None:
        self._put(txn, b"S" + name.encode(), {"name": name, "value": value})

    # -- authentication and authorisation ----------------------------------------------

    def _only_administrator(self, what: str) -> None:
        """Login checks belong to the administrator's handle (the front door), not to views:
        from a view they would be an unaudited oracle for client secrets and principal ids."""
        if not self._session.is_admin:
            raise ForbiddenError(
                f"Principal {self._session.principal!r} may not {what}: only the vault administrator's handle can",
                inner_code="ForbiddenByRbac",
            )

    def authenticate(self, client_id: str, client_secret: str) -> str:
        """The principal id for valid application credentials; ``UnauthorizedError`` otherwise."""
        self._only_administrator("check client credentials")
        pid = f"app:{client_id}" if _is_text(client_id) else ""
        with self._ctx.read() as txn:
            doc = self._get_principal(txn, pid) if pid else None
        cred = doc.get("cred") if doc else None
        # Spend the same work whether or not the principal exists (no user enumeration).
        params = (
            KdfParameters(memory_cost=int(cred["m"]), iterations=int(cred["t"]), lanes=int(cred["l"]))
            if cred
            else self._kdf
        )
        params.check()
        salt = bytes.fromhex(cred["salt"]) if cred else bytes(16)
        secret = client_secret.encode() if _is_text(client_secret) else b""
        digest = _hash_secret(secret or b"\0", salt, params)
        expected = bytes.fromhex(cred["hash"]) if cred else bytes(32)
        if doc is None or not cred or not secret or not hmac.compare_digest(digest, expected):
            raise UnauthorizedError("invalid client credentials")
        return str(doc["id"])  # the id as created, whatever casing the caller used

    def application_certificates(self, client_id: str) -> list[bytes]:
        """The DER certificates registered for application *client_id* (administrator's handle
        only; ``[]`` for an unknown client, so a caller cannot tell the two apart)."""
        self._only_administrator("look up principals")
        if not isinstance(client_id, str) or not _CLIENT_ID.fullmatch(client_id):
            return []
        with self._ctx.read() as txn:
            doc = self._get_principal(txn, f"app:{client_id}")
        if doc is None or doc.get("kind") != "application":
            return []
        return [bytes.fromhex(c) for c in doc.get("certs", [])]

    def application_id(self, client_id: str) -> str:
        """The principal id of application *client_id* as created (ids are case-insensitive)."""
        self._only_administrator("look up principals")
        with self._ctx.read() as txn:
            doc = self._get_principal(txn, f"app:{client_id}")
        if doc is None:
            raise UnauthorizedError("unknown principal")
        return str(doc["id"])

    def require_principal(self, principal_id: str) -> None:
        """``UnauthorizedError`` unless *principal_id* exists (administrator's handle only)."""
        self._only_administrator("look up principals")
        with self._ctx.read() as txn:
            if self._get_principal(txn, principal_id) is None:
                raise UnauthorizedError(f"unknown principal {principal_id}")

    def incarnation(self, principal_id: str) -> str:
        """A random id fixed when the principal was created (administrator's handle only).

        Credentials issued by a front end (the server's bearer tokens) carry it, so a principal
        deleted and created again under the same id does not accept tokens of its predecessor.
        """
        self._only_administrator("look up principals")
        with self._ctx.read() as txn:
            doc = self._get_principal(txn, principal_id)
        if doc is None:
            raise UnauthorizedError(f"unknown principal {principal_id}")
        return str(doc.get("inc", ""))

    def authorizer(self, principal_id: str) -> _Authorizer:
        return _Authorizer(self, principal_id)

    def _assignments_of(self, principal_id: str) -> tuple[int, list[tuple[RoleDefinition, str]]]:
        with self._ctx.read() as txn:
            raw = txn.get(META, GEN_KEY)
            gen = _GEN.unpack(raw)[0] if raw else 0
            if self._get_principal(txn, principal_id) is None:
                return gen, []
            pairs = []
            for _, d in self._all(txn, b"A"):
                if _same(d["principal"], principal_id):
                    definition = self._role_of(txn, d)
                    if definition is not None:
                        pairs.append((definition, d["scope"]))
        return gen, pairs

    def _generation(self) -> int:
        with self._ctx.read() as txn:
            raw = txn.get(META, GEN_KEY)
        return _GEN.unpack(raw)[0] if raw else 0


def _certificate_der(data: bytes) -> bytes:
    """The DER form of one X.509 certificate (the first of a PEM file) with an RSA key."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import Encoding

    if not isinstance(data, bytes) or not data:
        raise InvalidParameterError("certificate must be PEM or DER bytes")
    try:
        cert = (
            x509.load_pem_x509_certificates(data)[0]
            if b"-----BEGIN CERTIFICATE-----" in data
            else x509.load_der_x509_certificate(data)
        )
    except ValueError:
        raise InvalidParameterError("certificate is not a valid X.509 certificate (PEM or DER)") from None
    if not isinstance(cert.public_key(), rsa.RSAPublicKey):
        raise InvalidParameterError("an application certificate must have an RSA key (as Entra ID requires)")
    return cert.public_bytes(Encoding.DER)


def _same(a: str, b: str) -> bool:
    """Principal ids compare case-insensitively (client ids are, as in Entra ID)."""
    return a.lower() == b.lower()


class _Authorizer:
    """Checks one principal's data actions, caching assignments per access generation."""

    def __init__(self, manager: AccessManager, principal_id: str) -> None:
        self._manager = manager
        self._principal = principal_id
        self._gen = -1
        self._pairs: list[tuple[RoleDefinition, str]] = []

    def __call__(self, action: str, scope: str) -> bool:
        gen = self._manager._generation()
        if gen != self._gen:
            self._gen, self._pairs = self._manager._assignments_of(self._principal)
        target = scope.lower()
        for role, granted in self._pairs:
            if (granted == "/" or target == granted or target.startswith(granted + "/")) and role.grants(action):
                return True
        return False


def _is_text(value: object) -> bool:
    """A ``str`` that is valid Unicode (no lone surrogates): anything else is no credential."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
