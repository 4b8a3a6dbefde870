"""The bound key operations (``_keybind.bind_*``) against the unbound functions they speed up:
same outputs, same refusals with the same messages, and no binding for a key that does not
fit (the handle then runs the unbound function, which reports the error)."""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.keywrap import aes_key_wrap

from vaultcore.crypto._keybind import (
    bind_sign,
    bind_sign_data,
    bind_unwrap_key,
    bind_verify,
    bind_verify_data,
    bind_wrap_key,
)
from vaultcore.crypto._keymaterial import KeyMaterial, generate
from vaultcore.crypto._keyops import (
    raw_signature,
    sign,
    sign_data,
    unwrap_key,
    verify,
    verify_data,
    wrap_key,
)
from vaultcore.exceptions import IntegrityError, InvalidParameterError
from vaultcore.keys._handles import SoftwareHandle


@pytest.fixture(scope="module")
def keys() -> dict[str, KeyMaterial]:
    return {
        "rsa": generate("RSA", size=2048),
        "ec": generate("EC", curve="P-256"),
        "ec384": generate("EC", curve="P-384"),
        "oct128": generate("oct", size=128),
        "oct256": generate("oct", size=256),
    }


def _secret(km: KeyMaterial) -> bytes:
    k = km.private_jwk()["k"]
    return base64.urlsafe_b64decode(k + "=" * (-len(k) % 4))


def _outcome(call: Callable[[], object]) -> tuple[str, object]:
    """What a call did: the type and length of its result (RSA-OAEP and ECDSA outputs are
    random), or its exception's type and message."""
    try:
        result = call()
        return "ok", (type(result), len(result) if isinstance(result, bytes) else result)
    except (InvalidParameterError, IntegrityError) as exc:
        return type(exc).__name__, str(exc)


@pytest.mark.parametrize("alg", ["A128KW", "CKM_AES_KEY_WRAP", "CKM_AES_KEY_WRAP_PAD", "RSA-OAEP-256"])
def test_bound_wrap_and_unwrap_round_trip(keys: dict[str, KeyMaterial], alg: str) -> None:
    km = keys["rsa"] if alg.startswith("RSA") else keys["oct128"]
    wrap, unwrap = bind_wrap_key(km, alg), bind_unwrap_key(km, alg)
    for dek in (bytes(range(16)), bytes(range(32)), bytearray(range(24)), memoryview(bytes(range(40)))):
        if alg == "CKM_AES_KEY_WRAP_PAD" or len(dek) % 8 == 0:
            wrapped = wrap(dek)
            assert unwrap(wrapped) == bytes(dek) == unwrap_key(km, alg, wrapped)
            assert unwrap_key(km, alg, wrapped) == bytes(dek)
            if not alg.startswith("RSA"):  # deterministic: the bound and unbound outputs are equal
                assert wrapped == wrap_key(km, alg, dek)
    if alg == "A128KW":
        assert wrap(bytes(range(32))) == aes_key_wrap(_secret(km), bytes(range(32)))


BAD_INPUTS: list[object] = [b"", bytes(15), bytes(20), bytes(23), bytes(30), "text", None, 42, bytearray(8)]


@pytest.mark.parametrize("alg", ["A256KW", "CKM_AES_KEY_WRAP_PAD", "RSA-OAEP"])
def test_bound_wrap_refuses_what_wrap_key_refuses_with_its_message(keys: dict[str, KeyMaterial], alg: str) -> None:
    km = keys["rsa"] if alg.startswith("RSA") else keys["oct256"]
    wrap, unwrap = bind_wrap_key(km, alg), bind_unwrap_key(km, alg)
    for value in [*BAD_INPUTS, bytes(600)]:
        assert _outcome(lambda: wrap(value)) == _outcome(lambda: wrap_key(km, alg, value))  # type: ignore[arg-type]  # noqa: B023
        assert _outcome(lambda: unwrap(value)) == _outcome(lambda: unwrap_key(km, alg, value))  # type: ignore[arg-type]  # noqa: B023
    if not alg.startswith("RSA"):
        wrapped = bytearray(wrap(bytes(32)))
        wrapped[3] ^= 1
        with pytest.raises(IntegrityError):
            unwrap(bytes(wrapped))


@pytest.mark.parametrize(("name", "alg"), [("rsa", "PS256"), ("rsa", "RS384"), ("ec", "ES256"), ("ec384", "ES384")])
def test_bound_sign_and_verify_agree_with_the_unbound_functions(
    keys: dict[str, KeyMaterial], name: str, alg: str
) -> None:
    km = keys[name]
    digest = hashlib.new("sha" + alg[2:], b"message").digest()
    signature = bind_sign(km, alg)(digest)
    assert verify(km, alg, digest, signature)
    assert bind_verify(km, alg)(digest, signature)
    assert bind_verify(km.public_key(), alg)(bytearray(digest), memoryview(signature))
    assert not bind_verify(km, alg)(digest, signature[:-1] + bytes([signature[-1] ^ 1]))
    assert not bind_verify(km, alg)(digest, signature[:-1])
    unbound = sign(km, alg, digest)
    assert verify(km, alg, digest, unbound) and bind_verify(km, alg)(digest, unbound)
    data_signature = bind_sign_data(km, alg)(b"data")
    assert verify_data(km, alg, b"data", data_signature)
    assert bind_verify_data(km, alg)(b"data", data_signature)
    assert bind_verify_data(km, alg)(b"data", sign_data(km, alg, b"data"))
    assert not bind_verify_data(km, alg)(b"dat4", data_signature)


@pytest.mark.parametrize(("name", "alg"), [("rsa", "RS256"), ("ec", "ES256")])
def test_bound_signatures_refuse_what_the_unbound_refuse_with_their_messages(
    keys: dict[str, KeyMaterial], name: str, alg: str
) -> None:
    km = keys[name]
    good = hashlib.sha256(b"m").digest()
    signature = sign(km, alg, good)
    for value in [b"", bytes(31), bytes(33), bytes(48), "text", None, bytearray(32)]:
        assert _outcome(lambda: bind_sign(km, alg)(value)) == _outcome(lambda: sign(km, alg, value))  # type: ignore[arg-type]  # noqa: B023
        outcome = _outcome(lambda: bind_verify(km, alg)(value, signature))  # type: ignore[arg-type]  # noqa: B023
        assert outcome == _outcome(lambda: verify(km, alg, value, signature))  # type: ignore[arg-type]  # noqa: B023
        outcome = _outcome(lambda: bind_verify(km, alg)(good, value))  # type: ignore[arg-type]  # noqa: B023
        assert outcome == _outcome(lambda: verify(km, alg, good, value))  # type: ignore[arg-type]  # noqa: B023
        outcome = _outcome(lambda: bind_sign_data(km, alg)(value))  # type: ignore[arg-type]  # noqa: B023
        assert outcome == _outcome(lambda: sign_data(km, alg, value))  # type: ignore[arg-type]  # noqa: B023


@pytest.mark.parametrize(
    ("name", "binder", "alg", "message"),
    [
        ("oct128", bind_wrap_key, "A256KW", "A256KW needs a 256-bit oct key; this key has 128 bits"),
        ("rsa", bind_wrap_key, "A128KW", "A128KW needs a 128-bit oct key; this key is RSA"),
        ("oct256", bind_unwrap_key, "RSA-OAEP", "RSA-OAEP needs an RSA key; this key is oct"),
        ("ec", bind_sign, "ES384", "ES384 needs an EC P-384 key; this key is on P-256"),
        ("rsa", bind_sign, "ES256", "ES256 needs an EC P-256 key; this key is RSA"),
        ("ec", bind_verify, "PS256", "PS256 needs an RSA key; this key is EC"),
        ("oct256", bind_sign_data, "RS256", "RS256 needs an RSA key; this key is oct"),
        ("rsa", bind_wrap_key, "A256GCM", "'A256GCM' is not a key wrap algorithm"),
        ("rsa", bind_sign, "HS256", "'HS256' is not a signature algorithm"),
    ],
)
def test_a_key_that_does_not_fit_is_not_bound(
    keys: dict[str, KeyMaterial], name: str, binder: Callable[[KeyMaterial, str], object], alg: str, message: str
) -> None:
    with pytest.raises(InvalidParameterError, match=re.escape(message)):
        binder(keys[name], alg)


def test_the_software_handle_binds_once_and_reports_errors_as_before(keys: dict[str, KeyMaterial]) -> None:
    handle = SoftwareHandle(keys["oct256"])
    first = handle.wrap_key("A256KW", bytes(32))
    bound: Any = handle._bound[("wrapKey", "A256KW")]
    assert handle.wrap_key("A256KW", bytes(32)) == first == wrap_key(keys["oct256"], "A256KW", bytes(32))
    assert handle._bound[("wrapKey", "A256KW")] is bound  # bound on first use, then reused
    with pytest.raises(InvalidParameterError, match="A128KW needs a 128-bit oct key"):
        handle.wrap_key("A128KW", bytes(32))
    with pytest.raises(InvalidParameterError, match="key must not be empty"):
        handle.wrap_key("A128KW", b"")  # the unbound order: the input is checked before the key
    with pytest.raises(InvalidParameterError, match="is not a key wrap algorithm"):
        handle.wrap_key(["A256KW"], bytes(32))  # type: ignore[arg-type]  # unhashable: never bound
    assert set(handle._bound) == {("wrapKey", "A256KW")}  # refusals are not bound
    assert handle.unwrap_key("A256KW", first) == bytes(32)
    ec_handle = SoftwareHandle(keys["ec"])
    digest = hashlib.sha256(b"m").digest()
    assert ec_handle.verify("ES256", digest, ec_handle.sign("ES256", digest))
    assert ec_handle.verify_data("ES256", b"m", ec_handle.sign_data("ES256", b"m"))
    assert not ec_handle.verify("ES256", digest, bytes(64))
    with pytest.raises(InvalidParameterError, match="ES384 needs an EC P-384 key"):
        ec_handle.sign("ES384", hashlib.sha384(b"m").digest())


@pytest.mark.parametrize("width", [32, 48, 66])
@pytest.mark.parametrize(
    "pick",
    [
        lambda w: (1, 1),
        lambda w: (2 ** (8 * w) - 1, 2 ** (8 * w - 1)),  # high bits set: DER adds a zero byte
        lambda w: (2 ** (8 * w - 9), 255),  # short integers: padded back to the width
        lambda w: (int.from_bytes(os.urandom(w), "big") | 1, int.from_bytes(os.urandom(w), "big") | 1),
    ],
)
def test_raw_signature_slices_der_as_decoding_would(width: int, pick: Any) -> None:
    r, s = pick(width)
    der = encode_dss_signature(r, s)
    assert raw_signature(der, width) == r.to_bytes(width, "big") + s.to_bytes(width, "big")


def test_raw_signature_of_real_signatures_on_every_curve() -> None:
    for curve, width in ((ec.SECP256R1(), 32), (ec.SECP384R1(), 48), (ec.SECP521R1(), 66), (ec.SECP256K1(), 32)):
        key = ec.generate_private_key(curve)
        for _ in range(64):
            der = key.sign(os.urandom(16), ec.ECDSA(hashes.SHA256()))
            r, s = decode_dss_signature(der)
            assert raw_signature(der, width) == r.to_bytes(width, "big") + s.to_bytes(width, "big")
