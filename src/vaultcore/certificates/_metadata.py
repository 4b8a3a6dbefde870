"""Vault-level certificate metadata: the contacts and the issuers, in the ``certmeta`` database.

Split out of :mod:`vaultcore.certificates._client` because this storage has nothing to do with
certificate versions: it is its own database with its own record keys. The public
``CertificateClient`` methods (``set_contacts``, ``create_issuer``, ...) keep their
authorisation and audit and delegate the storage work here.

Records are sealed (``RecordType.META``) under opaque keys (issuer: keyed hash of the name),
so keyring rotation re-wraps them and names are not readable at rest. Issuer passwords are
stored sealed and never returned.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from vaultcore.certificates._policy import CertificateContact, CertificateIssuer, IssuerProperties, WellKnownIssuerNames
from vaultcore.crypto._envelope import RecordType
from vaultcore.engine._records import decode, encode
from vaultcore.engine._validation import check_name
from vaultcore.exceptions import IntegrityError, InvalidParameterError, NotFoundError
from vaultcore.storage._interface import ReadTxn, WriteTxn

if TYPE_CHECKING:
    from vaultcore.engine._context import VaultContext

__all__ = ["CERTMETA", "RESERVED_ISSUERS", "CertificateMetadata", "contacts_from"]

CERTMETA = b"certmeta"
_CONTACTS_KEY = b"contacts"
_ISSUER_PREFIX = b"issuer/"
RESERVED_ISSUERS = {n.value.lower() for n in WellKnownIssuerNames}


class CertificateMetadata:
    """Sealed contacts and issuer records of one vault."""

    def __init__(self, ctx: VaultContext) -> None:
        self._ctx = ctx

    # -- sealed records ----------------------------------------------------------------

    def get(self, txn: ReadTxn, key: bytes) -> dict[str, Any] | None:
        blob = txn.get(CERTMETA, key)
        if blob is None:
            return None
        head, _ = decode(self._ctx.envelope.open(RecordType.META, CERTMETA + b"/" + key, blob))
        return head

    def put_in(self, txn: WriteTxn, key: bytes, doc: dict[str, Any]) -> None:
        txn.put(CERTMETA, key, self._ctx.envelope.seal(RecordType.META, CERTMETA + b"/" + key, encode(doc)))

    def export_in(self, txn: ReadTxn) -> list[dict[str, Any]]:
        """Every contacts/issuer record as plain docs (a full backup; issuer passwords included)."""
        out = []
        for key, _ in list(txn.scan(CERTMETA, b"")):
            doc = self.get(txn, key)
            if doc is not None:
                out.append({"t": "contacts" if key == _CONTACTS_KEY else "issuer", "doc": doc})
        return out

    def replace_in(self, txn: WriteTxn, records: Sequence[Mapping[str, Any]]) -> None:
        """Replace every record by exported ones, re-keyed for this vault (a full restore)."""
        for key, _ in list(txn.scan(CERTMETA, b"")):
            txn.delete(CERTMETA, key)
        for record in records:
            doc = record.get("doc")
            if not isinstance(doc, dict):
                raise InvalidParameterError("the backup's certificate metadata is damaged")
            if record.get("t") == "contacts":
                self.put_in(txn, _CONTACTS_KEY, doc)
            elif record.get("t") == "issuer" and isinstance(doc.get("name"), str):
                self.put_in(txn, self.issuer_key(doc["name"]), doc)
            else:
                raise InvalidParameterError("the backup's certificate metadata is damaged")

    # -- contacts ----------------------------------------------------------------------

    def read_contacts(self) -> list[CertificateContact] | None:
        with self._ctx.read() as txn:
            doc = self.get(txn, _CONTACTS_KEY)
        return None if doc is None else contacts_from(doc)

    def set_contacts(self, contacts: Sequence[CertificateContact]) -> list[CertificateContact]:
        if isinstance(contacts, CertificateContact) or not isinstance(contacts, Sequence) or not contacts:
            raise InvalidParameterError("contacts must be a non-empty list of CertificateContact")
        if not all(isinstance(c, CertificateContact) for c in contacts):
            raise InvalidParameterError("contacts must be a non-empty list of CertificateContact")
        doc = {"contacts": [c.to_dict() for c in contacts]}
        self._ctx.write(lambda txn: self.put_in(txn, _CONTACTS_KEY, doc))
        return list(contacts)

    def get_contacts(self) -> list[CertificateContact]:
        contacts = self.read_contacts()
        if contacts is None:
            raise NotFoundError("No certificate contacts are set in this key vault.", inner_code="ContactsNotFound")
        return contacts

    def delete_contacts(self) -> list[CertificateContact]:
        def run(txn: WriteTxn) -> list[CertificateContact]:
            doc = self.get(txn, _CONTACTS_KEY)
            if doc is None:
                raise NotFoundError("No certificate contacts are set in this key vault.", inner_code="ContactsNotFound")
            txn.delete(CERTMETA, _CONTACTS_KEY)
            return contacts_from(doc)

        return self._ctx.write(run)

    # -- issuers -----------------------------------------------------------------------

    def issuer_key(self, name: str) -> bytes:
        h = self._ctx.name_hasher()
        h.update(b"\xffcertificate-issuer\x00" + name.lower().encode())
        return _ISSUER_PREFIX + h.digest()[:16]

    def has_issuer(self, name: str, txn: ReadTxn | None = None) -> bool:
        """Whether *name* is registered (read in *txn*, or in a read transaction of its own)."""
        if txn is None:
            with self._ctx.read() as rtxn:
                return rtxn.get(CERTMETA, self.issuer_key(name)) is not None
        return txn.get(CERTMETA, self.issuer_key(name)) is not None

    def issuer_out(self, doc: Mapping[str, Any]) -> CertificateIssuer:
        """The stored issuer as returned: with its id, never its password."""
        try:
            issuer = CertificateIssuer.from_dict(str(doc["name"]), doc["issuer"])
        except (KeyError, TypeError, InvalidParameterError):
            raise IntegrityError() from None
        ident = f"{self._ctx.settings.url}/certificates/issuers/{issuer.name}"
        return dataclasses.replace(issuer, password=None, id=ident)

    def issuer_doc(self, txn: ReadTxn, name: str) -> dict[str, Any]:
        doc = self.get(txn, self.issuer_key(name))
        if doc is None:
            raise NotFoundError(f"Issuer not found: {name}", inner_code="CertificateIssuerNotFound")
        return doc

    @staticmethod
    def check_issuer_name(name: object) -> str:
        check_name(name)
        assert isinstance(name, str)
        if name.lower() in RESERVED_ISSUERS:
            raise InvalidParameterError(f"the issuer name {name!r} is reserved", inner_code="BadParameter")
        return name

    def store_issuer_in(self, txn: WriteTxn, issuer: CertificateIssuer, previous: dict[str, Any] | None) -> None:
        now = self._ctx.clock()
        created = None if previous is None else CertificateIssuer.from_dict(previous["name"], previous["issuer"])
        stamped = dataclasses.replace(
            issuer,
            enabled=True if issuer.enabled is None else issuer.enabled,
            created_on=created.created_on if created is not None and created.created_on else now,
            updated_on=now,
            id=None,
        )
        doc = {"name": issuer.name, "issuer": stamped.to_dict(include_password=True)}
        self.put_in(txn, self.issuer_key(issuer.name), doc)

    def create_issuer(self, name: str, issuer: CertificateIssuer) -> CertificateIssuer:
        """Store *issuer* under *name* (replacing one of that name); returns it as stored, without password."""

        def run(txn: WriteTxn) -> dict[str, Any]:
            key = self.issuer_key(name)
            previous = self.get(txn, key)
            self.store_issuer_in(txn, issuer, previous)
            return self.issuer_doc(txn, name)

        return self.issuer_out(self._ctx.write(run))

    def update_issuer(self, name: str, changes: dict[str, Any]) -> CertificateIssuer:
        """Apply *changes* (field: value) to the stored issuer *name*."""

        def run(txn: WriteTxn) -> dict[str, Any]:
            previous = self.issuer_doc(txn, name)
            try:
                current = CertificateIssuer.from_dict(previous["name"], previous["issuer"])
            except (KeyError, TypeError, InvalidParameterError):
                raise IntegrityError() from None
            self.store_issuer_in(txn, dataclasses.replace(current, **changes), previous)
            return self.issuer_doc(txn, name)

        return self.issuer_out(self._ctx.write(run))

    def get_issuer(self, name: str) -> CertificateIssuer:
        with self._ctx.read() as txn:
            return self.issuer_out(self.issuer_doc(txn, name))

    def delete_issuer(self, name: str) -> CertificateIssuer:
        def run(txn: WriteTxn) -> dict[str, Any]:
            doc = self.issuer_doc(txn, name)
            txn.delete(CERTMETA, self.issuer_key(name))
            return doc

        return self.issuer_out(self._ctx.write(run))

    def list_issuers(self) -> list[IssuerProperties]:
        out: list[IssuerProperties] = []
        with self._ctx.read() as txn:
            for key, _ in txn.scan(CERTMETA, _ISSUER_PREFIX):
                doc = self.get(txn, key)
                if doc is not None:
                    out.append(self.issuer_out(doc).properties)
        return sorted(out, key=lambda p: p.name.lower())


def contacts_from(doc: Mapping[str, Any]) -> list[CertificateContact]:
    try:
        return [CertificateContact.from_dict(c) for c in doc["contacts"]]
    except (KeyError, TypeError, InvalidParameterError):
        raise IntegrityError() from None
