"""The public result types are ``_frozen.DataclassView`` classes, not dataclasses (cheaper to
import: issue 12's cold start), and ``dataclasses`` must not notice: ``is_dataclass``,
``fields``, ``replace``, ``asdict``, ``astuple``, frozen assignment, equality, pickling,
``match`` and real dataclasses that extend them behave as with the frozen dataclasses they
replaced."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from datetime import UTC, datetime

import pytest

from vaultcore import KdfParameters, KeyVaultSecret, RawKeyCredential, SecretProperties, Vault
from vaultcore.engine._models import DeletedSecret, ObjectProperties
from vaultcore.keys._models import KeyProperties

_OBJECT_FIELDS = [
    "id",
    "name",
    "version",
    "vault_url",
    "enabled",
    "not_before",
    "expires_on",
    "created_on",
    "updated_on",
    "recovery_level",
    "recoverable_days",
    "tags",
    "managed",
]


def _props(**changes: object) -> SecretProperties:
    when = datetime(2026, 1, 2, tzinfo=UTC)
    fields = dict(
        id="https://v/secrets/a/1",
        name="a",
        version="1",
        vault_url="https://v",
        enabled=True,
        not_before=None,
        expires_on=None,
        created_on=when,
        updated_on=when,
        recovery_level="Recoverable",
        recoverable_days=90,
    )
    return SecretProperties(**{**fields, **changes})  # type: ignore[arg-type]


def test_fields_names_defaults_and_repr_flags() -> None:
    assert dataclasses.is_dataclass(SecretProperties) and dataclasses.is_dataclass(_props())
    fields = dataclasses.fields(SecretProperties)
    assert [f.name for f in fields] == [*_OBJECT_FIELDS, "content_type", "key_id"]
    by_name = {f.name: f for f in fields}
    assert by_name["tags"].default_factory is dict and by_name["managed"].default is False
    assert by_name["content_type"].default is None and by_name["id"].default is dataclasses.MISSING
    assert [f.name for f in dataclasses.fields(KeyVaultSecret)] == ["properties", "value"]
    assert not {f.name: f for f in dataclasses.fields(KeyVaultSecret)}["value"].repr
    assert [(f.name, f.default) for f in dataclasses.fields(KdfParameters)] == [
        ("memory_cost", 65536),
        ("iterations", 3),
        ("lanes", 4),
    ]
    assert dataclasses.fields(DeletedSecret)[1].name == "recovery_id"
    assert KdfParameters.__dataclass_params__.frozen  # type: ignore[attr-defined]


def test_replace_asdict_astuple_and_defaults() -> None:
    props = _props(tags={"k": "v"})
    changed = dataclasses.replace(props, enabled=False)
    assert type(changed) is SecretProperties and changed.enabled is False and props.enabled is True
    assert changed.tags == {"k": "v"} and props.evolve(enabled=False) == changed
    secret = KeyVaultSecret(props, "value")
    as_dict = dataclasses.asdict(secret)
    assert as_dict["value"] == "value" and as_dict["properties"]["tags"] == {"k": "v"}
    assert dataclasses.astuple(KdfParameters(iterations=5)) == (65536, 5, 4)
    assert _props().tags == {} and _props().tags is not _props().tags  # no shared default
    with pytest.raises(TypeError):
        dataclasses.replace(props, colour="red")


def test_frozen_equality_hash_repr_and_pickle() -> None:
    params = KdfParameters(memory_cost=1024, iterations=2, lanes=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.lanes = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del params.lanes  # type: ignore[misc]
    assert params == KdfParameters(1024, 2, 1) and params != KdfParameters(1024, 2, 2)
    assert hash(params) == hash(KdfParameters(1024, 2, 1)) and params != (1024, 2, 1)
    assert repr(params) == "KdfParameters(memory_cost=1024, iterations=2, lanes=1)"
    secret = KeyVaultSecret(_props(), "do-not-print")
    assert "do-not-print" not in repr(secret) and repr(secret).startswith("KeyVaultSecret(properties=SecretProperties(")
    for clone in (pickle.loads(pickle.dumps(secret)), copy.deepcopy(secret), copy.copy(secret)):
        assert clone == secret and clone.value == "do-not-print"
    match params:
        case KdfParameters(memory, iterations, lanes):
            assert (memory, iterations, lanes) == (1024, 2, 1)


def test_a_dataclass_may_extend_them() -> None:
    """``KeyProperties`` is a real frozen dataclass on ``ObjectProperties``: it inherits the
    view's fields (in order, with their defaults) as from a dataclass base."""
    names = [f.name for f in dataclasses.fields(KeyProperties)]
    assert names[: len(_OBJECT_FIELDS)] == _OBJECT_FIELDS and len(names) > len(_OBJECT_FIELDS)
    assert issubclass(KeyProperties, ObjectProperties)
    base = {f.name: getattr(_props(), f.name) for f in dataclasses.fields(ObjectProperties)}
    extra = {f.name: None for f in dataclasses.fields(KeyProperties) if f.name not in base}
    key_props = KeyProperties(**base, **extra)  # type: ignore[arg-type]
    evolved = key_props.evolve(enabled=False)  # every field of the subclass carried over
    assert type(evolved) is KeyProperties and evolved.enabled is False and evolved.name == "a"


def test_results_of_a_vault_are_what_dataclasses_expect(tmp_path: object) -> None:
    vault = Vault.create(f"{tmp_path}/v", RawKeyCredential(bytes(range(32))), audit="off")
    try:
        vault.secrets.set_secret("n", "v", tags={"a": "b"})
        got = vault.secrets.get_secret("n")  # the fused read's lazy result
        assert dataclasses.is_dataclass(got) and isinstance(got, KeyVaultSecret)
        assert dataclasses.asdict(got)["properties"]["tags"] == {"a": "b"}
        assert dataclasses.replace(got, value="w").value == "w"
        assert vault.secrets.get_secret("n") == got
    finally:
        vault.close()
