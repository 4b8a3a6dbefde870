"""Webhook subscriptions: handshake, signature, TLS verification, retries, dead letters, and
at-least-once delivery across a SIGKILL of the sender (receivers on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from eventhelpers import Receiver

from corehelpers import FakeClock
from vaultcore import ConflictError, InvalidParameterError, KeyFileCredential, NotFoundError, Vault
from vaultcore.events import verify_signature
from vaultcore.events._delivery import RETRY_SCHEDULE


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    r = Receiver(tmp_path).start()
    try:
        yield r
    finally:
        r.stop()


def test_event_grid_subscription_delivers_signed_events(vault: Vault, receiver: Receiver) -> None:
    vault.secrets.set_secret("before", "x")  # before the subscription: not delivered
    sub = vault.events.create_subscription(receiver.url, ca_file=str(receiver.cert))
    assert receiver.handshakes == ["eventgrid"]
    vault.secrets.set_secret("db", "x")
    vault.keys.create_ec_key("k")
    report = vault.events.deliver()
    assert report.delivered == 2 and report.failed == 0
    assert [e["subject"] for e in receiver.events] == ["db", "k"]
    first = receiver.events[0]
    assert first["eventType"] == "Microsoft.KeyVault.SecretNewVersionCreated" and first["data"]["ObjectName"] == "db"
    headers, body, raw = receiver.received[0]
    assert isinstance(body, list) and len(body) == 1
    assert headers["aeg-event-type"] == "Notification" and headers["aeg-subscription-name"] == sub.id
    assert verify_signature(sub.secret, headers["x-vaultcore-signature"], raw)
    assert not verify_signature(sub.secret, headers["x-vaultcore-signature"], raw + b" ")
    assert not verify_signature("00" * 32, headers["x-vaultcore-signature"], raw)
    assert vault.events.deliver().delivered == 0  # nothing twice without a failure


def test_cloudevents_subscription_and_type_filter(vault: Vault, receiver: Receiver) -> None:
    vault.events.create_subscription(
        receiver.url, ["SecretNewVersionCreated"], schema="cloudevents", ca_file=str(receiver.cert)
    )
    assert receiver.handshakes == ["cloudevents"]
    vault.keys.create_ec_key("k")
    vault.secrets.set_secret("s", "x")
    vault.events.deliver()
    assert len(receiver.received) == 1
    headers, body, _ = receiver.received[0]
    assert headers["content-type"].startswith("application/cloudevents+json")
    assert body["specversion"] == "1.0" and body["type"] == "Microsoft.KeyVault.SecretNewVersionCreated"
    assert body["subject"] == "s" and body["data"]["ObjectType"] == "Secret"


def test_failed_handshake_creates_nothing(vault: Vault, receiver: Receiver) -> None:
    receiver.answer_handshake = False
    with pytest.raises(InvalidParameterError, match="validation handshake"):
        vault.events.create_subscription(receiver.url, ca_file=str(receiver.cert))
    assert vault.events.list_subscriptions() == []


def test_tls_is_verified_by_default(vault: Vault, receiver: Receiver) -> None:
    with pytest.raises(InvalidParameterError, match="handshake"):
        vault.events.create_subscription(receiver.url)  # self-signed, no CA file given
    assert vault.events.list_subscriptions() == []
    sub = vault.events.create_subscription(receiver.url, ca_file=str(receiver.cert))
    assert sub.info.verify_tls


def test_insecure_skips_tls_verification(vault: Vault, receiver: Receiver) -> None:
    sub = vault.events.create_subscription(receiver.url, verify_tls=False)
    vault.secrets.set_secret("s", "x")
    assert vault.events.deliver().delivered == 1 and not sub.info.verify_tls


def test_plain_http_to_loopback(vault: Vault, tmp_path: Path) -> None:
    plain = Receiver(tmp_path, tls=False).start()
    try:
        vault.events.create_subscription(plain.url)
        vault.keys.create_ec_key("k")
        assert vault.events.deliver().delivered == 1 and plain.events[0]["subject"] == "k"
    finally:
        plain.stop()


@pytest.mark.parametrize("url", ["http://example.com/hook", "ftp://127.0.0.1/x", "https:///nohost", "not a url"])
def test_only_https_urls(vault: Vault, url: str) -> None:
    with pytest.raises(InvalidParameterError, match="https"):
        vault.events.create_subscription(url, validate=False)


def test_a_receiver_that_is_down_gets_the_events_when_it_returns(
    vault: Vault, receiver: Receiver, clock: FakeClock
) -> None:
    vault.events.create_subscription(receiver.url, ca_file=str(receiver.cert))
    receiver.stop()
    for i in range(3):
        vault.secrets.set_secret(f"s{i}", "x")
    report = vault.events.deliver()
    assert report.failed == 1 and report.delivered == 0  # in order: the first failure blocks the rest
    info = vault.events.list_subscriptions()[0]
    assert info.attempts == 1 and info.last_error and "reach" in info.last_error
    assert vault.events.deliver().failed == 0  # backing off: no attempt before the retry time
    clock.advance(seconds=RETRY_SCHEDULE[0])
    assert vault.events.deliver().failed == 1
    receiver.start()  # back, on the same port
    assert vault.events.deliver().delivered == 0  # still backing off (30 s after the 2nd failure)
    clock.advance(seconds=RETRY_SCHEDULE[1])
    assert vault.events.deliver().delivered == 3
    assert [e["subject"] for e in receiver.events] == ["s0", "s1", "s2"]
    assert vault.events.dead_letters() == []
    assert vault.events.list_subscriptions()[0].attempts == 0


def test_dead_letter_after_max_attempts(vault: Vault, receiver: Receiver, clock: FakeClock) -> None:
    sub = vault.events.create_subscription(receiver.url, ca_file=str(receiver.cert), max_attempts=3)
    vault.secrets.set_secret("doomed", "x")
    receiver.status = 500
    for _ in range(3):
        vault.events.deliver()
        clock.advance(hours=1)
    letters = vault.events.dead_letters()
    assert len(letters) == 1
    letter = letters[0]
    assert letter.subscription_id == sub.id and letter.attempts == 3 and "HTTP 500" in letter.error
    assert letter.event is not None and letter.event.object_name == "doomed" and letter.event_id == letter.event.id
    # the cursor moved past it: later events flow again
    receiver.status = 200
    vault.secrets.set_secret("next", "x")
    assert vault.events.deliver().delivered == 1
    assert [e["subject"] for e in receiver.events] == ["next"]
    vault.events.redeliver(sub.id, letter.seq)
    assert [e["subject"] for e in receiver.events] == ["next", "doomed"]
    assert vault.events.dead_letters() == []
    with pytest.raises(NotFoundError):
        vault.events.redeliver(sub.id, letter.seq)


def test_redelivery_that_fails_keeps_the_dead_letter(vault: Vault, receiver: Receiver) -> None:
    sub = vault.events.create_subscription(receiver.url, ca_file=str(receiver.cert), max_attempts=1)
    receiver.status = 503
    vault.secrets.set_secret("x", "x")
    assert vault.events.deliver().dead_lettered == 1
    with pytest.raises(ConflictError, match="503"):
        vault.events.redeliver(sub.id, vault.events.dead_letters()[0].seq)
    assert len(vault.events.dead_letters(sub.id)) == 1


def test_delete_subscription(vault: Vault, receiver: Receiver) -> None:
    sub = vault.events.create_subscription(receiver.url, ca_file=str(receiver.cert))
    vault.events.delete_subscription(sub.id)
    vault.secrets.set_secret("s", "x")
    vault.events.deliver()
    assert receiver.received == [] and vault.events.list_subscriptions() == []
    with pytest.raises(NotFoundError):
        vault.events.delete_subscription(sub.id)


# -- at least once across a SIGKILL -----------------------------------------------------------

_CHILD = textwrap.dedent(
    """
    import sys, time
    from vaultcore import KeyFileCredential, Vault
    vault = Vault.open(sys.argv[1], KeyFileCredential(sys.argv[2]))
    for i in range(int(sys.argv[3])):
        vault.secrets.set_secret(f"s{i}", "x")
    print("committed", flush=True)
    if sys.argv[4] == "deliver":
        vault.events.deliver()
        print("delivered", flush=True)
    time.sleep(600)
    """
)


def _setup(tmp_path: Path, receiver: Receiver) -> tuple[Path, Path]:
    key = tmp_path / "vault.key"
    KeyFileCredential.generate(key)
    path = tmp_path / "v"
    with Vault.create(path, KeyFileCredential(key)) as vault:
        vault.events.create_subscription(receiver.url, ca_file=str(receiver.cert))
    return path, key


@contextmanager
def _child(path: Path, key: Path, count: int, mode: str) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path), str(key), str(count), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with proc:
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()


def _ids_in_outbox(path: Path, key: Path) -> list[str]:
    with Vault.open(path, KeyFileCredential(key)) as vault:
        return [e.id for e in vault.events.read()]


def test_sigkill_after_commit_before_delivery(tmp_path: Path, receiver: Receiver) -> None:
    path, key = _setup(tmp_path, receiver)
    with _child(path, key, 5, "idle") as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "committed", proc.stderr.read() if proc.stderr else ""
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
    assert receiver.received == []
    with Vault.open(path, KeyFileCredential(key)) as vault:
        assert vault.events.deliver().delivered == 5
    ids = _ids_in_outbox(path, key)
    assert len(ids) == 5 and [e["id"] for e in receiver.events] == ids


def test_sigkill_during_delivery_redelivers(tmp_path: Path, receiver: Receiver) -> None:
    path, key = _setup(tmp_path, receiver)
    killed: list[str] = []
    with _child(path, key, 3, "deliver") as proc:

        def kill_sender(body: object) -> None:
            if not killed:  # the first notification: the sender dies before it hears the answer
                assert isinstance(body, list)
                killed.append(body[0]["id"])
                os.kill(proc.pid, signal.SIGKILL)

        receiver.on_notification = kill_sender
        assert proc.wait(timeout=120) == -signal.SIGKILL
        assert proc.stdout is not None and "delivered" not in proc.stdout.read()
    receiver.on_notification = None
    with Vault.open(path, KeyFileCredential(key)) as vault:
        vault.events.deliver()
    ids = _ids_in_outbox(path, key)
    got = [e["id"] for e in receiver.events]
    assert set(got) == set(ids) and len(ids) == 3  # every event at least once
    assert got.count(killed[0]) == 2 and got[-3:] == ids  # the interrupted one again, then in order


def test_cli_events_commands(tmp_path: Path, receiver: Receiver) -> None:
    from click.testing import CliRunner

    from vaultcore.cli import cli

    path, key = _setup(tmp_path, receiver)
    env = {"VAULTCORE_VAULT": str(path), "VAULTCORE_KEY_FILE": str(key)}
    runner = CliRunner()
    listed = runner.invoke(cli, ["-o", "json", "events", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.output)[0]["url"] == receiver.url and "secret" not in json.loads(listed.output)[0]
    sub = runner.invoke(
        cli,
        ["-o", "json", "events", "subscribe", "--url", receiver.url, "--types", "SecretExpired", "--ca-file",
         str(receiver.cert), "--max-attempts", "1", "--schema", "cloudevents"],
        env=env,
    )  # fmt: skip
    assert sub.exit_code == 0, sub.output
    created = json.loads(sub.output)
    assert created["types"] == ["Microsoft.KeyVault.SecretExpired"] and len(created["secret"]) == 64
    with Vault.open(path, KeyFileCredential(key)) as vault:
        vault.secrets.set_secret("a", "1")
        vault.secrets.set_secret("b", "2")
    tail = runner.invoke(cli, ["events", "tail"], env=env)
    assert tail.exit_code == 0, tail.output
    lines = [json.loads(line) for line in tail.output.splitlines()]
    assert [x["subject"] for x in lines] == ["a", "b"] and lines[0]["eventType"].endswith("SecretNewVersionCreated")
    tail = runner.invoke(cli, ["events", "tail", "--after", "1", "--schema", "cloudevents"], env=env)
    assert [json.loads(x)["specversion"] for x in tail.output.splitlines()] == ["1.0"]
    receiver.status = 500
    deliver = runner.invoke(cli, ["-o", "json", "events", "deliver"], env=env)
    assert deliver.exit_code == 0 and json.loads(deliver.output)["failed"] == 1
    dead = runner.invoke(cli, ["-o", "json", "events", "dead-letters"], env=env)
    assert dead.exit_code == 0 and json.loads(dead.output) == []  # max 30 attempts: still retrying
    unsub = runner.invoke(cli, ["events", "unsubscribe", created["id"]], env=env)
    assert unsub.exit_code == 0
    bad = runner.invoke(cli, ["events", "tail", "--types", "Nope"], env=env)
    assert bad.exit_code != 0 and "unknown event type" in bad.output


def test_cli_tail_follow_prints_new_events_as_json_lines(tmp_path: Path, receiver: Receiver) -> None:
    path, key = _setup(tmp_path, receiver)
    env = {**os.environ, "VAULTCORE_VAULT": str(path), "VAULTCORE_KEY_FILE": str(key)}
    command = [sys.executable, "-m", "vaultcore.cli", "events", "tail", "--follow", "--interval", "0.05"]
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            with Vault.open(path, KeyFileCredential(key)) as vault:
                vault.secrets.set_secret("live-1", "x")
                vault.keys.create_ec_key("live-2")
            assert proc.stdout is not None
            lines = [json.loads(proc.stdout.readline()) for _ in range(2)]
            assert [(x["subject"], x["seq"]) for x in lines] == [("live-1", 1), ("live-2", 2)]
            assert lines[1]["eventType"] == "Microsoft.KeyVault.KeyNewVersionCreated"
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
