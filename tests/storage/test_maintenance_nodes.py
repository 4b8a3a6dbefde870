"""Scheduled jobs on two nodes at once (issue 16 §2): two processes run maintenance on one vault
over and over while key rotation policies and certificate lifetime actions are due. Each due
rotation makes exactly one new key version and each due lifetime action fires exactly once.

On PostgreSQL ``run_maintenance`` elects one leader (a session advisory lock); the
``two_leaders`` case runs the jobs on both nodes regardless, as when a leader's session was
ended by the server (a partition) while its process still thinks it leads: then it is the
re-check of every due action inside its write transaction that keeps it once. LMDB vaults
have no leader (every process runs the jobs), so they depend on that re-check too."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from datetime import datetime, timedelta

import pytest

from corehelpers import START
from vaultcore import (
    CertificateContact,
    CertificatePolicy,
    CertificatePolicyAction,
    LifetimeAction,
    RawKeyCredential,
    Vault,
)

ROUNDS = 12
KEYS = ("k0", "k1", "k2")


def _later() -> datetime:
    """The nodes' clock: 300 days after the objects were made (every action below is due)."""
    return START + timedelta(days=300)


def _node(location: str, raw: bytes, two_leaders: bool, start: object, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    try:
        start.wait(60)  # type: ignore[attr-defined]
        with Vault.open(location, RawKeyCredential(raw), clock=_later) as vault:
            for _ in range(ROUNDS):
                report = vault._maintain() if two_leaders else vault.run_maintenance()
                for e in report.events:
                    out.put((e["event"], e.get("key") or e.get("certificate"), e["version"]))
        out.put(("done", "", ""))
    except BaseException as exc:
        out.put(("error", f"{type(exc).__name__}: {exc}", ""))
        raise


def _policy(action: LifetimeAction) -> CertificatePolicy:
    return CertificatePolicy(
        issuer_name="Self",
        subject="CN=node.example",
        key_type="EC",
        key_curve_name="P-256",
        validity_in_months=12,
        lifetime_actions=[action],
    )


@pytest.mark.parametrize("two_leaders", [False, True], ids=["run_maintenance", "two_leaders"])
def test_due_rotations_and_lifetime_actions_fire_once_with_two_nodes(
    vault: Vault, vault_location: str, raw_cred: RawKeyCredential, two_leaders: bool
) -> None:
    for name in KEYS:
        vault.keys.create_ec_key(name)
        vault.keys.update_key_rotation_policy(
            name, lifetime_actions=[{"action": "Rotate", "time_after_create": "P30D"}]
        )
    vault.certificates.set_contacts([CertificateContact(email="ops@example.com")])
    vault.certificates.create_certificate(
        "renew", _policy(LifetimeAction(CertificatePolicyAction.auto_renew, lifetime_percentage=80))
    )
    vault.certificates.create_certificate(
        "mail", _policy(LifetimeAction(CertificatePolicyAction.email_contacts, lifetime_percentage=50))
    )
    first = {name: vault.keys.get_key(name).properties.version for name in KEYS}

    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    out = ctx.Queue()
    raw = raw_cred._key  # type: ignore[attr-defined]
    procs = [ctx.Process(target=_node, args=(vault_location, raw, two_leaders, start, out)) for _ in range(2)]
    for p in procs:
        p.start()
    start.set()
    results = []
    while sum(r[0] in ("done", "error") for r in results) < len(procs):
        results.append(out.get(timeout=240))
    for p in procs:
        p.join(60)
    assert [r for r in results if r[0] == "error"] == []
    assert [p.exitcode for p in procs] == [0, 0]

    fired = Counter((event, name) for event, name, _ in results if event != "done")
    expected = {("KeyRotated", name): 1 for name in KEYS}
    expected |= {("CertificateRenewed", "renew"): 1, ("CertificateNearExpiry", "mail"): 1}
    assert dict(fired) == expected
    for name in KEYS:
        versions = [p.version for p in vault.keys.list_properties_of_key_versions(name)]
        assert len(versions) == 2 and first[name] in versions, versions
    assert len(list(vault.certificates.list_properties_of_certificate_versions("renew"))) == 2
    assert len(list(vault.certificates.list_properties_of_certificate_versions("mail"))) == 1
    result = vault.audit.verify()
    assert result.ok, result.reason
    audited = Counter(e.operation for e in vault.audit.events())
    assert (audited["KeyRotated"], audited["CertificateRenewed"], audited["CertificateNearExpiry"]) == (3, 1, 1)
