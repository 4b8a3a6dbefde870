"""Hypothesis stateful test of the secrets API against an in-memory model (issue 3 §7)."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from corehelpers import FakeClock
from vaultcore import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    RawKeyCredential,
    Vault,
)

RETENTION = 7
NAMES = st.sampled_from(["alpha", "ALPHA", "Alpha", "b-1", "B-1", "c", "d-long-name-0"])
VALUES = st.text(max_size=24)
KEY = RawKeyCredential(b"\x42" * 32)


@dataclass
class Obj:
    name: str  # original spelling
    versions: list[tuple[str, str, bool]] = field(default_factory=list)  # (id, value, enabled)
    deleted_at: float | None = None


class SecretsMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="vc-stateful-"))
        self.clock = FakeClock()
        self.vault = Vault.create(self.dir / "v", KEY, clock=self.clock, retention_days=RETENTION)
        self.live: dict[str, Obj] = {}
        self.deleted: dict[str, Obj] = {}
        self.backups: dict[str, tuple[Obj, bytes]] = {}

    def teardown(self) -> None:
        self.vault.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- writes ---------------------------------------------------------------------------

    @rule(name=NAMES, value=VALUES, enabled=st.booleans())
    def set_secret(self, name: str, value: str, enabled: bool) -> None:
        key = name.lower()
        if key in self.deleted:
            with pytest.raises(ConflictError):
                self.vault.secrets.set_secret(name, value, enabled=enabled)
            return
        got = self.vault.secrets.set_secret(name, value, enabled=enabled)
        obj = self.live.setdefault(key, Obj(name))
        assert got.name == obj.name
        assert all(got.properties.version > v for v, _, _ in obj.versions)
        obj.versions.append((got.properties.version, value, enabled))

    @rule(items=st.dictionaries(NAMES, VALUES, min_size=1, max_size=4))
    def set_secrets(self, items: dict[str, str]) -> None:
        if any(n.lower() in self.deleted for n in items):
            with pytest.raises(ConflictError):
                self.vault.secrets.set_secrets(items)
            return
        props = self.vault.secrets.set_secrets(items)
        assert len(props) == len(items)
        for (name, value), p in zip(items.items(), props):
            obj = self.live.setdefault(name.lower(), Obj(name))
            assert p.name == obj.name
            obj.versions.append((p.version, value, True))

    @rule(name=NAMES, enabled=st.booleans(), which=st.integers(0, 5))
    def update_enabled(self, name: str, enabled: bool, which: int) -> None:
        obj = self.live.get(name.lower())
        if obj is None:
            with pytest.raises(NotFoundError):
                self.vault.secrets.update_secret_properties(name, enabled=enabled)
            return
        i = which % len(obj.versions)
        vid, value, _ = obj.versions[i]
        props = self.vault.secrets.update_secret_properties(name, vid, enabled=enabled)
        assert (props.version, props.enabled) == (vid, enabled)
        obj.versions[i] = (vid, value, enabled)

    @rule(name=NAMES)
    def delete(self, name: str) -> None:
        key = name.lower()
        if key not in self.live:
            with pytest.raises(NotFoundError):
                self.vault.secrets.delete_secret(name)
            return
        deleted = self.vault.secrets.delete_secret(name)
        obj = self.live.pop(key)
        assert deleted.name == obj.name
        assert deleted.properties.version == obj.versions[-1][0]
        obj.deleted_at = self.clock.now.timestamp()
        self.deleted[key] = obj

    @rule(name=NAMES)
    def recover(self, name: str) -> None:
        key = name.lower()
        if key not in self.deleted:
            with pytest.raises(NotFoundError):
                self.vault.secrets.recover_deleted_secret(name)
            return
        props = self.vault.secrets.recover_deleted_secret(name)
        obj = self.deleted.pop(key)
        assert props.version == obj.versions[-1][0]
        obj.deleted_at = None
        self.live[key] = obj

    @rule(name=NAMES)
    def purge(self, name: str) -> None:
        key = name.lower()
        if key not in self.deleted:
            with pytest.raises(NotFoundError):
                self.vault.secrets.purge_deleted_secret(name)
            return
        self.vault.secrets.purge_deleted_secret(name)
        del self.deleted[key]

    @rule(name=NAMES)
    def backup(self, name: str) -> None:
        obj = self.live.get(name.lower())
        if obj is None:
            with pytest.raises(NotFoundError):
                self.vault.secrets.backup_secret(name)
            return
        blob = self.vault.secrets.backup_secret(name)
        self.backups[name.lower()] = (Obj(obj.name, list(obj.versions)), blob)

    @rule(name=NAMES)
    def restore(self, name: str) -> None:
        key = name.lower()
        if key not in self.backups:
            return
        snapshot, blob = self.backups[key]
        if key in self.live or key in self.deleted:
            with pytest.raises(ConflictError):
                self.vault.secrets.restore_secret_backup(blob)
            return
        props = self.vault.secrets.restore_secret_backup(blob)
        assert (props.name, props.version) == (snapshot.name, snapshot.versions[-1][0])
        self.live[key] = Obj(snapshot.name, list(snapshot.versions))

    @rule(days=st.integers(0, RETENTION + 1))
    def advance_and_sweep(self, days: int) -> None:
        self.clock.advance(days=days)
        due = [
            k
            for k, o in self.deleted.items()
            if o.deleted_at is not None
            and o.deleted_at + timedelta(days=RETENTION).total_seconds() <= self.clock.now.timestamp()
        ]
        assert self.vault.run_maintenance().purged == len(due)
        for k in due:
            del self.deleted[k]

    @precondition(lambda self: bool(self.live or self.deleted))
    @rule()
    def reopen(self) -> None:
        self.vault.close()
        self.vault = Vault.open(self.dir / "v", KEY, clock=self.clock)

    # -- reads ----------------------------------------------------------------------------

    @rule(name=NAMES)
    def get_latest(self, name: str) -> None:
        obj = self.live.get(name.lower())
        if obj is None:
            with pytest.raises(NotFoundError):
                self.vault.secrets.get_secret(name)
            return
        vid, value, enabled = obj.versions[-1]
        if not enabled:
            with pytest.raises(ForbiddenError):
                self.vault.secrets.get_secret(name)
            return
        got = self.vault.secrets.get_secret(name)
        assert (got.value, got.properties.version, got.name) == (value, vid, obj.name)

    @rule(name=NAMES, which=st.integers(0, 5))
    def get_version(self, name: str, which: int) -> None:
        obj = self.live.get(name.lower()) or self.deleted.get(name.lower())
        if obj is None:
            return
        vid, value, enabled = obj.versions[which % len(obj.versions)]
        if name.lower() in self.deleted:
            with pytest.raises(NotFoundError):
                self.vault.secrets.get_secret(name, vid)
        elif not enabled:
            with pytest.raises(ForbiddenError):
                self.vault.secrets.get_secret(name, vid)
        else:
            assert self.vault.secrets.get_secret(name, vid).value == value

    @invariant()
    def listings_match(self) -> None:
        listed = {p.name: (p.version, p.enabled) for p in self.vault.secrets.list_properties_of_secrets()}
        assert listed == {o.name: (o.versions[-1][0], o.versions[-1][2]) for o in self.live.values()}
        deleted = {d.name for d in self.vault.secrets.list_deleted_secrets()}
        assert deleted == {o.name for o in self.deleted.values()}

    @rule(name=NAMES)
    def versions_match(self, name: str) -> None:
        obj = self.live.get(name.lower())
        if obj is None:
            with pytest.raises(NotFoundError):
                list(self.vault.secrets.list_properties_of_secret_versions(name))
            return
        got = [(p.version, p.enabled) for p in self.vault.secrets.list_properties_of_secret_versions(name)]
        assert got == [(v, e) for v, _, e in obj.versions]


SecretsMachine.TestCase.settings = settings(
    max_examples=30,
    stateful_step_count=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_secrets_state_machine = SecretsMachine.TestCase
