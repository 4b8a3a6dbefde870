"""The binary version-record format and the hot read path's direct dataclass construction."""

from __future__ import annotations

import dataclasses
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vaultcore import KeyVaultSecret, RawKeyCredential, SecretProperties, Vault
from vaultcore.engine._records import DeletedRecord, ObjectRecord, VersionRecord, encode

_ts = st.one_of(st.none(), st.integers(min_value=-(2**62), max_value=2**62))
_text = st.text(max_size=40)


@given(
    name=st.text(min_size=1, max_size=127),
    version=st.binary(min_size=16, max_size=16),
    enabled=st.booleans(),
    nbf=_ts,
    exp=_ts,
    created=st.integers(min_value=0, max_value=2**40),
    updated=st.integers(min_value=0, max_value=2**40),
    tags=st.dictionaries(_text, _text, max_size=5),
    content_type=st.one_of(st.none(), _text),
    managed=st.booleans(),
    extra=st.dictionaries(_text, st.one_of(_text, st.integers(), st.booleans()), max_size=5),
    payload=st.binary(max_size=300),
)
def test_version_record_round_trips(**kw: object) -> None:
    rec = VersionRecord(
        name=kw["name"],  # type: ignore[arg-type]
        version=kw["version"].hex(),  # type: ignore[attr-defined]
        enabled=kw["enabled"],  # type: ignore[arg-type]
        not_before=kw["nbf"],  # type: ignore[arg-type]
        expires_on=kw["exp"],  # type: ignore[arg-type]
        created_on=kw["created"],  # type: ignore[arg-type]
        updated_on=kw["updated"],  # type: ignore[arg-type]
        tags=kw["tags"],  # type: ignore[arg-type]
        content_type=kw["content_type"],  # type: ignore[arg-type]
        managed=kw["managed"],  # type: ignore[arg-type]
        extra=kw["extra"],  # type: ignore[arg-type]
        payload=kw["payload"],  # type: ignore[arg-type]
    )
    data = rec.to_bytes()
    assert data[0] == 2
    back = VersionRecord.from_bytes(data)
    assert back == rec
    assert set(back.__dict__) == set(VersionRecord._fields)


def test_format_1_records_still_decode() -> None:
    head = {"n": "a", "v": "00" * 16, "e": True, "nbf": None, "exp": 5, "c": 1, "u": 2, "t": {}, "ct": None}
    head |= {"m": False, "x": {"k": 1}}
    rec = VersionRecord.from_bytes(encode(head, b"value"))
    assert (rec.name, rec.expires_on, rec.extra, rec.payload) == ("a", 5, {"k": 1}, b"value")


def test_truncated_records_are_integrity_errors() -> None:

    from vaultcore import IntegrityError

    data = VersionRecord("abc", "00" * 16, True, None, None, 1, 2, {"t": "v"}, "ct", False, {}, b"p").to_bytes()
    for cut in range(1, len(data) - 1):
        try:
            rec = VersionRecord.from_bytes(data[:cut])
        except IntegrityError:
            continue
        # Only a cut inside the payload can still parse, and then the payload is shorter.
        assert len(rec.payload) < 1


def test_hot_path_results_equal_regular_construction(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with Vault.create(tmp_path / "v", RawKeyCredential(os.urandom(32))) as vault:
        vault.secrets.set_secret("s", "value", tags={"a": "b"}, content_type="text/plain")
        got = vault.secrets.get_secret("s")
        props = got.properties
        assert set(props.__dict__) == {f.name for f in dataclasses.fields(SecretProperties)}
        rebuilt = SecretProperties(**{f.name: getattr(props, f.name) for f in dataclasses.fields(SecretProperties)})
        assert rebuilt == props
        assert got == KeyVaultSecret(properties=rebuilt, value="value")
        assert "value" not in repr(got)


@given(
    name=st.text(min_size=1, max_size=127),
    created=st.integers(min_value=0, max_value=2**40),
    extra=st.dictionaries(_text, st.one_of(_text, st.integers(), st.booleans()), max_size=5),
)
def test_object_record_round_trips(name: str, created: int, extra: dict[str, object]) -> None:
    from vaultcore.engine._records import ObjectRecord

    rec = ObjectRecord(name=name, created_on=created, extra=extra)
    assert ObjectRecord.from_bytes(rec.to_bytes()) == rec
    assert ObjectRecord.from_bytes(encode({"n": name, "c": created, "x": extra})) == rec  # format 1


def test_object_record_repr_hides_its_settings() -> None:
    from vaultcore.engine._records import DeletedRecord, ObjectRecord

    obj = ObjectRecord(name="cert", created_on=1, extra={"pending": {"key": "c2VjcmV0LWtleQ"}})
    assert "c2VjcmV0LWtleQ" not in repr(obj)
    assert "c2VjcmV0LWtleQ" not in repr(DeletedRecord(obj=obj, deleted_on=2, scheduled_purge=3))


def test_bulk_encoders_match_the_single_record_encoders() -> None:
    """``set_secrets`` encodes its records with ``to_bytes_many`` / ``new_many``: same bytes."""
    from vaultcore.engine._records import ObjectRecord

    template = VersionRecord(
        name="",
        version="00" * 16,
        enabled=True,
        not_before=None,
        expires_on=None,
        created_on=1_700_000_000,
        updated_on=1_700_000_000,
        tags={"env": "prod", "é": "ü"},
        content_type="text/plain",
    )
    names = ["a", "Bé-name", "c" * 127]
    vids = [os.urandom(16) for _ in names]
    payloads = [b"", b"x" * 100, "välue".encode()]
    expected = [
        template.evolve(name=n, version=v.hex(), payload=p).to_bytes()
        for n, v, p in zip(names, vids, payloads, strict=True)
    ]
    assert template.to_bytes_many(names, vids, payloads) == expected
    assert ObjectRecord.new_many(names, 42) == [ObjectRecord(name=n, created_on=42).to_bytes() for n in names]


def test_internal_records_are_immutable_values() -> None:
    """The engine's records (``_frozen.Frozen``, not dataclasses: cheaper to import) keep what
    frozen dataclasses gave: no assignment, equality by fields, ``evolve`` through
    ``__init__``, a repr without the payload, no default shared between instances."""
    rec = VersionRecord("a", "00" * 16, True, None, None, 1, 2, payload=b"secret-value")
    with pytest.raises(AttributeError):
        rec.name = "b"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del rec.name  # type: ignore[misc]
    same = VersionRecord("a", "00" * 16, True, None, None, 1, 2, payload=b"secret-value")
    assert rec == same and rec != rec.evolve(enabled=False) and rec != ("a",)
    assert rec.evolve(enabled=False).enabled is False and rec.enabled is True
    assert "secret-value" not in repr(rec) and "name='a'" in repr(rec)
    with pytest.raises(TypeError):
        rec.evolve(colour="red")
    obj = ObjectRecord("n", 5)
    assert DeletedRecord(obj, 1, 2) == DeletedRecord(ObjectRecord("n", 5), 1, 2)
    assert obj.extra == {} and ObjectRecord("m", 5).extra is not obj.extra  # no shared default
