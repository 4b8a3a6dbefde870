"""``vault.access``: principals, their credentials and role assignments.

Principals:

- the **administrator**: whoever holds the vault credential (``vault`` itself);
- **application** principals: a client id and a client secret. The secret (256 random bits,
  base64url) is shown once; only an Argon2id hash with a per-principal salt is stored.
- **OS-user** principals: a Unix uid, authenticated by the local server's Unix socket
  (``SO_PEERCRED``) — the local analogue of a managed identity, with no secret to leak.

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
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from vaultcore.access._operations import Session, operation
from vaultcore.access._roles import BUILTIN_ROLES, DataAction, role_allows
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
_SCOPE = re.compile(r"/|/(secrets|keys|certificates)/[0-9A-Za-z-]{1,127}")


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
    id: str
    principal_id: str
    role: str
    scope: str


def _hash_secret(secret: bytes, salt: bytes, kdf: KdfParameters) -> bytes:
    return Argon2id(
        salt=salt, length=32, iterations=kdf.iterations, lanes=kdf.lanes, memory_cost=kdf.memory_cost
    ).derive(secret)


class AccessManager:
    """Create and list principals, rotate their secrets, assign and remove roles."""

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
        raw = txn.get(META, GEN_KEY)
        txn.put(META, GEN_KEY, _GEN.pack((_GEN.unpack(raw)[0] if raw else 0) + 1))

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
    def create_application(self, client_id: str, *, display_name: str = "") -> NewApplication:
        """A new application principal; the returned client secret is shown only once."""
        if not isinstance(client_id, str) or not _CLIENT_ID.fullmatch(client_id):
            raise InvalidParameterError("client_id must be 1-64 characters of letters, digits, '.', '_' and '-'")
        pid = f"app:{client_id}"
        secret, cred = self._new_secret()
        now = self._ctx.now()
        doc = {
            "id": pid,
            "kind": "application",
            "display_name": display_name,
            "created": now,
            "rotated": now,
            "cred": cred,
            "inc": _bindings.random_bytes(8).hex(),
        }

        def run(txn: WriteTxn) -> None:
            if self._get_principal(txn, pid) is not None:
                raise ConflictError(f"principal {pid} already exists")
            self._put(txn, self._pkey(pid), doc)

        self._ctx.write(run)
        return NewApplication(self._principal(doc), client_id, secret)

    @operation("PrincipalCreate", DataAction.ROLE_WRITE)
    def create_os_user(self, uid: int, *, display_name: str = "") -> Principal:
        """A principal for the OS user *uid* (authenticated by the server's Unix socket)."""
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
            for key, doc in list(self._all(txn, b"A")):
                if _same(doc["principal"], principal_id):
                    txn.delete(ACCESS, key)
            raw = txn.get(META, GEN_KEY)
            txn.put(META, GEN_KEY, _GEN.pack((_GEN.unpack(raw)[0] if raw else 0) + 1))

        self._ctx.write(run)

    # -- role assignments --------------------------------------------------------------

    @operation("RoleAssignmentCreate", DataAction.ROLE_WRITE)
    def assign_role(self, principal_id: str, role: str, scope: str = "/") -> RoleAssignment:
        """Grant a built-in *role* on the vault (``/``) or one object (``/secrets/NAME``...)."""
        if role not in BUILTIN_ROLES:
            raise InvalidParameterError(f"unknown role {role!r}; built-in roles: {', '.join(BUILTIN_ROLES)}")
        if not isinstance(scope, str) or not _SCOPE.fullmatch(scope):
            raise InvalidParameterError("scope must be '/' or '/secrets/NAME', '/keys/NAME', '/certificates/NAME'")
        scope = scope.lower()
        assignment_id = _bindings.random_bytes(16).hex()

        def run(txn: WriteTxn) -> RoleAssignment:
            principal = self._get_principal(txn, principal_id)
            if principal is None:
                raise NotFoundError(f"principal {principal_id} was not found")
            pid = principal["id"]  # the id as created: ids are case-insensitive
            for _, doc in self._all(txn, b"A"):
                if _same(doc["principal"], pid) and (doc["role"], doc["scope"]) == (role, scope):
                    return RoleAssignment(doc["id"], doc["principal"], role, scope)
            doc = {"id": assignment_id, "principal": pid, "role": role, "scope": scope}
            self._put(txn, b"A" + bytes.fromhex(assignment_id), doc)
            return RoleAssignment(assignment_id, pid, role, scope)

        return self._ctx.write(run)

    @operation("RoleAssignmentDelete", DataAction.ROLE_WRITE)
    def remove_role(self, assignment_id: str) -> None:
        try:
            key = b"A" + bytes.fromhex(assignment_id)
        except ValueError:
            raise NotFoundError(f"role assignment {assignment_id} was not found") from None

        def run(txn: WriteTxn) -> None:
            if not txn.delete(ACCESS, key):
                raise NotFoundError(f"role assignment {assignment_id} was not found")
            raw = txn.get(META, GEN_KEY)
            txn.put(META, GEN_KEY, _GEN.pack((_GEN.unpack(raw)[0] if raw else 0) + 1))

        self._ctx.write(run)

    @operation("RoleAssignmentList", DataAction.ROLE_READ)
    def list_role_assignments(self, principal_id: str | None = None) -> list[RoleAssignment]:
        with self._ctx.read() as txn:
            docs = [doc for _, doc in self._all(txn, b"A")]
        return [
            RoleAssignment(d["id"], d["principal"], d["role"], d["scope"])
            for d in docs
            if principal_id is None or _same(d["principal"], principal_id)
        ]

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
        pid = f"app:{client_id}" if isinstance(client_id, str) else ""
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
        secret = client_secret.encode() if isinstance(client_secret, str) else b""
        digest = _hash_secret(secret or b"\0", salt, params)
        expected = bytes.fromhex(cred["hash"]) if cred else bytes(32)
        if doc is None or not cred or not secret or not hmac.compare_digest(digest, expected):
            raise UnauthorizedError("invalid client credentials")
        return str(doc["id"])  # the id as created, whatever casing the caller used

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

    def _assignments_of(self, principal_id: str) -> tuple[int, list[tuple[str, str]]]:
        with self._ctx.read() as txn:
            raw = txn.get(META, GEN_KEY)
            gen = _GEN.unpack(raw)[0] if raw else 0
            exists = self._get_principal(txn, principal_id) is not None
            pairs = [(d["role"], d["scope"]) for _, d in self._all(txn, b"A") if _same(d["principal"], principal_id)]
        return gen, pairs if exists else []

    def _generation(self) -> int:
        with self._ctx.read() as txn:
            raw = txn.get(META, GEN_KEY)
        return _GEN.unpack(raw)[0] if raw else 0


def _same(a: str, b: str) -> bool:
    """Principal ids compare case-insensitively (client ids are, as in Entra ID)."""
    return a.lower() == b.lower()


class _Authorizer:
    """Checks one principal's data actions, caching assignments per access generation."""

    def __init__(self, manager: AccessManager, principal_id: str) -> None:
        self._manager = manager
        self._principal = principal_id
        self._gen = -1
        self._pairs: list[tuple[str, str]] = []

    def __call__(self, action: str, scope: str) -> bool:
        gen = self._manager._generation()
        if gen != self._gen:
            self._gen, self._pairs = self._manager._assignments_of(self._principal)
        target = scope.lower()
        for role, granted in self._pairs:
            if (granted == "/" or target == granted or target.startswith(granted + "/")) and role_allows(role, action):
                return True
        return False
