"""Threads, processes, fork and a token directory that disappears: the measured traps."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from hsmhelpers import MAIN_LABEL, PIN, SRC_DIR, SoftHsmEnv, run_python

from vaultcore.hsm import _softhsm as _hsm_softhsm
from vaultcore.hsm._pkcs11 import HsmKeyRef, HsmRootKey, HsmToken, Pkcs11Config, generation_label

pytestmark = pytest.mark.hsm


def test_eight_threads_use_hsm_keys_at_once(hsm_token: HsmToken, hsm_config: Pkcs11Config) -> None:
    root = HsmRootKey(hsm_config, create=True)
    blob = root.wrap(b"keyring" * 40, b"aad")
    ec_ref = hsm_token.generate_hsm_key("EC-HSM", key_id=os.urandom(16), curve="P-256")
    rsa_ref = hsm_token.generate_hsm_key("RSA-HSM", key_id=os.urandom(16), size=2048)
    oct_ref = hsm_token.generate_hsm_key("oct-HSM", key_id=os.urandom(16), size=256)
    ec_public = hsm_token.public_key(ec_ref)
    rsa_public = hsm_token.public_key(rsa_ref)
    assert isinstance(ec_public, ec.EllipticCurvePublicKey) and isinstance(rsa_public, rsa.RSAPublicKey)
    oaep = padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None)
    counter = generation_label(os.urandom(8))
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def worker(index: int) -> None:
        try:
            barrier.wait()
            for i in range(25):
                digest = hashlib.sha256(b"%d-%d" % (index, i)).digest()
                signature = hsm_token.sign(ec_ref, "ES256", digest)
                r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
                ec_public.verify(utils.encode_dss_signature(r, s), digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
                assert root.unwrap(blob, b"aad") == b"keyring" * 40
                assert root.unwrap(root.wrap(digest, b"t"), b"t") == digest
                out = hsm_token.encrypt(oct_ref, "A256GCM", digest)
                assert hsm_token.decrypt(oct_ref, "A256GCM", out.ciphertext, iv=out.iv, tag=out.tag) == digest
                assert len(hsm_token.random_bytes(32)) == 32
                if i % 5 == 0:
                    assert hsm_token.decrypt(rsa_ref, "RSA-OAEP", rsa_public.encrypt(digest, oaep)) == digest
                    rsa_sig = hsm_token.sign(rsa_ref, "PS256", digest)
                    rsa_public.verify(
                        rsa_sig,
                        digest,
                        padding.PSS(padding.MGF1(hashes.SHA256()), 32),
                        utils.Prehashed(hashes.SHA256()),
                    )
                    hsm_token.read_generation(counter)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []


_PROCESS_WORKER = """
import json, os, sys, hashlib
from vaultcore.hsm._pkcs11 import HsmRootKey, Pkcs11Config, generation_label
n, label, key_label, blob_hex = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
root = HsmRootKey(Pkcs11Config(None, label, os.environ["VC_TEST_PIN"], key_label), create=False)
blob = bytes.fromhex(blob_hex)
for _ in range(100):
    assert root.unwrap(blob, b"shared") == b"the keyring"
token = root.token
mine = generation_label("proc-" + n)
for value in range(1, 11):
    token.write_generation(mine, value)
ref = token.generate_hsm_key("EC-HSM", key_id=os.urandom(16), curve="P-256")
assert len(token.sign(ref, "ES256", hashlib.sha256(n.encode()).digest())) == 64
token.delete_hsm_key(ref)
print(json.dumps({"generation": token.read_generation(mine), "sessions": token.open_session_count()}))
"""


def test_four_processes_open_the_token_and_use_the_root_key_at_once(
    softhsm: SoftHsmEnv, hsm_config: Pkcs11Config
) -> None:
    root = HsmRootKey(hsm_config, create=True)
    blob = root.wrap(b"the keyring", b"shared")
    env = dict(os.environ, VC_TEST_PIN=PIN, PYTHONPATH=SRC_DIR)
    code = _PROCESS_WORKER
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(n), MAIN_LABEL, hsm_config.key_label, blob.hex()],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    results = [proc.communicate(timeout=120) for proc in procs]
    for proc, (out, err) in zip(procs, results):
        assert proc.returncode == 0, err
        assert json.loads(out) == {"generation": 10, "sessions": 1}
    assert root.unwrap(blob, b"shared") == b"the keyring"  # this process is unaffected


def test_forked_child_reinitialises_and_uses_the_root_key(hsm_token: HsmToken, hsm_config: Pkcs11Config) -> None:
    root = HsmRootKey(hsm_config, create=True)
    blob = root.wrap(b"parent secret", b"fork")
    ref = hsm_token.generate_hsm_key("EC-HSM", key_id=os.urandom(16), curve="P-256")
    stop = threading.Event()
    failures: list[BaseException] = []

    def busy() -> None:  # PKCS#11 calls in flight while the process forks
        try:
            while not stop.is_set():
                root.unwrap(blob, b"fork")
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=busy)
    thread.start()
    try:
        for _ in range(3):
            read_fd, write_fd = os.pipe()
            pid = os.fork()
            if pid == 0:  # child: must leave through os._exit
                status = 1
                try:
                    os.close(read_fd)
                    child_root = HsmRootKey(hsm_config, create=False)
                    ok = root.unwrap(blob, b"fork") == b"parent secret"
                    ok = ok and child_root.unwrap(root.wrap(b"child", b""), b"") == b"child"
                    ok = ok and len(hsm_token.sign(ref, "ES256", bytes(32))) == 64
                    os.write(write_fd, b"ok" if ok else b"bad")
                    status = 0
                except BaseException as exc:
                    os.write(write_fd, repr(exc).encode()[:500])
                finally:
                    os._exit(status)
            os.close(write_fd)
            with os.fdopen(read_fd, "rb") as pipe:
                message = pipe.read()
            _, status = os.waitpid(pid, 0)
            assert message == b"ok" and os.waitstatus_to_exitcode(status) == 0, message
            time.sleep(0.02)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert failures == []
    assert root.unwrap(blob, b"fork") == b"parent secret"  # the parent keeps its session


_DELETED_DIR_WORKER = """
import os, shutil
from vaultcore.hsm._pkcs11 import HsmRootKey, Pkcs11Config
from vaultcore.exceptions import HSMError
root = HsmRootKey(Pkcs11Config(None, "doomed", os.environ["VC_TEST_PIN"], "root"), create=True)
blob = root.wrap(b"x" * 32, b"")
token = root.token
ref = token.generate_hsm_key("EC-HSM", key_id=b"k1", curve="P-256")
token.sign(ref, "ES256", bytes(32))
shutil.rmtree(os.environ["VC_TOKENDIR"])
for name, call in (
    ("unwrap", lambda: root.unwrap(blob, b"")),
    ("sign", lambda: token.sign(ref, "ES256", bytes(32))),
    ("counter", lambda: token.write_generation("g", 1)),
    ("reopen", lambda: HsmRootKey(Pkcs11Config(None, "doomed", os.environ["VC_TEST_PIN"], "root"), create=False)),
):
    try:
        call()
        print(name, "NO ERROR")
    except HSMError as exc:
        print(name, type(exc).__name__, exc)
"""


def test_token_directory_deleted_while_running(softhsm: SoftHsmEnv, tmp_path: os.PathLike[str]) -> None:
    token = _hsm_softhsm.create_softhsm_token(os.fspath(tmp_path), label="doomed", pin=PIN, so_pin="0000")
    env = dict(os.environ, SOFTHSM2_CONF=token.conf_path, VC_TOKENDIR=token.tokendir, VC_TEST_PIN=PIN)
    result = run_python(_DELETED_DIR_WORKER, env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == ["unwrap", "sign", "counter", "reopen"]
    for line in lines[:3]:
        assert line.split()[1] == "HSMUnavailableError", line
        assert token.tokendir in line and "deleted while running" in line
    assert lines[3].split()[1] in ("HSMUnavailableError", "HSMConfigurationError"), lines[3]
    assert token.tokendir in lines[3]


_PROXY_WORKER = """
import os, threading
from vaultcore.hsm._pkcs11 import HsmRootKey, HsmToken, Pkcs11Config
from vaultcore.exceptions import UnauthorizedError
proxy, label, pin = os.environ["VC_PROXY"], os.environ["VC_LABEL"], os.environ["VC_TEST_PIN"]
for _ in range(3):
    try:
        HsmToken(Pkcs11Config(proxy, label, "wrong-pin", "r"))
        raise SystemExit("wrong PIN accepted")
    except UnauthorizedError:
        pass
root = HsmRootKey(Pkcs11Config(proxy, label, pin, "proxy-root"), create=True)
blob = root.wrap(b"via proxy", b"")
ref = root.token.generate_hsm_key("EC-HSM", key_id=os.urandom(8), curve="P-256")
def work():
    for _ in range(20):
        assert root.unwrap(blob, b"") == b"via proxy"
        root.token.sign(ref, "ES256", bytes(32))
threads = [threading.Thread(target=work) for _ in range(8)]
[t.start() for t in threads]; [t.join() for t in threads]
pid = os.fork()
if pid == 0:
    try:
        ok = HsmRootKey(Pkcs11Config(proxy, label, pin, "proxy-root"), create=False).unwrap(blob, b"")
        os._exit(0 if ok == b"via proxy" else 1)
    except BaseException:
        os._exit(2)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, status
print("proxy ok")
"""


def test_p11_kit_proxy_path(softhsm: SoftHsmEnv) -> None:
    proxy = next((p for p in _hsm_softhsm.P11KIT_PROXY_CANDIDATES if os.path.isfile(p)), None)
    if proxy is None or not _hsm_softhsm.p11kit_exposes_softhsm():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true: p11-kit proxy tests must run; make test installs p11-kit-modules", pytrace=False)
        pytest.skip("p11-kit proxy with SoftHSM2 not installed")
    env = dict(os.environ, VC_PROXY=proxy, VC_LABEL=softhsm.aux.label, VC_TEST_PIN=PIN)
    result = run_python(_PROXY_WORKER, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "proxy ok"


def test_ref_round_trips_as_plain_data(hsm_token: HsmToken) -> None:
    ref = hsm_token.generate_hsm_key("oct-HSM", key_id=os.urandom(16), size=128)
    stored = HsmKeyRef(ref.kty, bytes(ref.key_id), size=ref.size, curve=ref.curve)
    assert stored == ref
    wrapped = hsm_token.wrap_key(stored, "A128KW", bytes(16))
    assert hsm_token.unwrap_key(ref, "A128KW", wrapped) == bytes(16)
