"""One premium vault used by 8 threads at once, and opened by 4 (spawned) processes at once."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from hsmhelpers import MAIN_LABEL, PIN, SoftHsmEnv, public_key_from_jwk, raw_to_der

from vaultcore import Pkcs11Credential, Vault

pytestmark = pytest.mark.hsm

_ES256 = ec.ECDSA(utils.Prehashed(hashes.SHA256()))
_OAEP_SHA1 = padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None)


def test_eight_threads_use_hsm_keys_through_one_vault(softhsm: SoftHsmEnv, tmp_path: Path) -> None:
    vault = Vault.create(tmp_path / "v", softhsm.credential())
    try:
        ec_public = public_key_from_jwk(vault.keys.create_key("ec", "EC-HSM", curve="P-256").key)
        rsa_public = public_key_from_jwk(vault.keys.create_key("rsa", "RSA-HSM", size=2048).key)
        vault.keys.create_key("oct", "oct-HSM", size=256)
        vault.secrets.set_secret("shared", "read by every thread")
        assert isinstance(ec_public, ec.EllipticCurvePublicKey) and isinstance(rsa_public, rsa.RSAPublicKey)
        errors: list[str] = []
        done = [0] * 8
        barrier = threading.Barrier(8)

        def worker(index: int) -> None:
            try:
                ec_client = vault.keys.get_cryptography_client("ec")
                rsa_client = vault.keys.get_cryptography_client("rsa")
                oct_client = vault.keys.get_cryptography_client("oct")
                barrier.wait()
                for i in range(20):
                    data = b"thread %d message %d" % (index, i)
                    digest = hashlib.sha256(data).digest()
                    signature = ec_client.sign("ES256", digest).signature
                    ec_public.verify(raw_to_der(signature), digest, _ES256)
                    assert ec_client.verify("ES256", digest, signature).is_valid
                    out = oct_client.encrypt("A256GCM", data, additional_authenticated_data=b"t%d" % index)
                    plain = oct_client.decrypt(
                        "A256GCM",
                        out.ciphertext,
                        iv=out.iv,
                        authentication_tag=out.authentication_tag,
                        additional_authenticated_data=b"t%d" % index,
                    )
                    assert plain.plaintext == data
                    assert vault.secrets.get_secret("shared").value == "read by every thread"
                    if i % 5 == 0:
                        assert rsa_client.decrypt("RSA-OAEP", rsa_public.encrypt(data, _OAEP_SHA1)).plaintext == data
                        rsa_sig = rsa_client.sign("PS256", digest).signature
                        pss = padding.PSS(padding.MGF1(hashes.SHA256()), 32)
                        rsa_public.verify(rsa_sig, digest, pss, utils.Prehashed(hashes.SHA256()))
                        vault.secrets.set_secret(f"thread-{index}", f"value {i}")
                    done[index] += 1
            except BaseException:  # collected and asserted below
                errors.append(traceback.format_exc())

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not any(thread.is_alive() for thread in threads)
        assert errors == []
        assert done == [20] * 8
        for n in range(8):
            assert vault.secrets.get_secret(f"thread-{n}").value == "value 15"
    finally:
        vault.close()


def _process_worker(
    index: int, path: str, key_label: str, jwk: dict[str, Any], barrier: Any, results: Any
) -> None:  # runs in a spawned process
    try:
        from vaultcore import JsonWebKey

        credential = Pkcs11Credential(token_label=MAIN_LABEL, pin=PIN, key_label=key_label)
        barrier.wait(timeout=60)
        with Vault.open(path, credential) as vault:
            public = public_key_from_jwk(JsonWebKey.from_dict(jwk))
            assert isinstance(public, ec.EllipticCurvePublicKey)
            client = vault.keys.get_cryptography_client("ec")
            for i in range(10):
                vault.secrets.set_secret(f"proc-{index}-{i}", f"value {index}/{i}")
                assert vault.secrets.get_secret(f"proc-{index}-{i}").value == f"value {index}/{i}"
                assert vault.secrets.get_secret("shared").value == "from the parent"
                digest = hashlib.sha256(b"process %d message %d" % (index, i)).digest()
                public.verify(raw_to_der(client.sign("ES256", digest).signature), digest, _ES256)
            vault.keys.create_key(f"proc-{index}", "EC-HSM")  # a token write from every process
            signature = vault.keys.get_cryptography_client(f"proc-{index}").sign("ES256", bytes(32)).signature
        results.put((index, "ok", len(signature)))
    except BaseException:
        results.put((index, "error", traceback.format_exc()))


def test_four_processes_open_one_premium_vault_at_once(softhsm: SoftHsmEnv, tmp_path: Path) -> None:
    credential = softhsm.credential()
    path = str(tmp_path / "v")
    vault = Vault.create(path, credential)
    try:
        vault.secrets.set_secret("shared", "from the parent")
        jwk = vault.keys.create_key("ec", "EC-HSM", curve="P-256").key.to_dict()
        ctx = multiprocessing.get_context("spawn")
        barrier = ctx.Barrier(4)
        results = ctx.Queue()
        env_conf = os.environ["SOFTHSM2_CONF"]  # inherited by the children
        assert env_conf == softhsm.conf_path
        procs = [
            ctx.Process(target=_process_worker, args=(n, path, credential.config.key_label, jwk, barrier, results))
            for n in range(4)
        ]
        for proc in procs:
            proc.start()
        # The parent keeps using the vault and its HSM key while the children run.
        client = vault.keys.get_cryptography_client("ec")
        while any(proc.is_alive() for proc in procs) and results.qsize() < 4:
            assert vault.secrets.get_secret("shared").value == "from the parent"
            assert client.verify("ES256", bytes(32), client.sign("ES256", bytes(32)).signature).is_valid
            time.sleep(0.01)
        outcomes = sorted(results.get(timeout=120) for _ in procs)
        for proc in procs:
            proc.join(timeout=60)
        assert [proc.exitcode for proc in procs] == [0] * 4
        assert outcomes == [(n, "ok", 64) for n in range(4)], outcomes
        for n in range(4):  # every child's writes are visible to the parent's open handle
            assert vault.secrets.get_secret(f"proc-{n}-9").value == f"value {n}/9"
            assert vault.keys.get_key(f"proc-{n}").key.kty == "EC-HSM"
    finally:
        vault.close()
    with Vault.open(path, credential) as again:  # and the vault is intact afterwards
        assert len(list(again.secrets.list_properties_of_secrets())) == 41
