"""Key material: generation, the sealed format, JWK import/export, and secrecy hygiene."""

from __future__ import annotations

import base64
import contextlib
import copy
import pickle
import re
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from vaultcore.crypto._keymaterial import (
    KeyCurveName,
    KeyMaterial,
    KeyOperation,
    KeyType,
    PublicKeyMaterial,
    default_key_ops,
    from_jwk,
    generate,
    public_from_jwk,
)
from vaultcore.exceptions import IntegrityError, InvalidParameterError, UnsupportedError

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k", "oth"}
CURVES = {
    KeyCurveName.p_256: (ec.SECP256R1(), 32),
    KeyCurveName.p_384: (ec.SECP384R1(), 48),
    KeyCurveName.p_521: (ec.SECP521R1(), 66),
    KeyCurveName.p_256_k: (ec.SECP256K1(), 32),
}


def b64d(text: str) -> bytes:
    assert re.fullmatch(r"[A-Za-z0-9_-]*", text), "base64url without padding"
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def uint(text: str) -> int:
    return int.from_bytes(b64d(text), "big")


@pytest.fixture(scope="module")
def rsa_keys() -> dict[int, KeyMaterial]:
    """One key per size for the whole module: 4096-bit generation takes about a second."""
    return {bits: generate("RSA", size=bits) for bits in (2048, 3072, 4096)}


@pytest.fixture(scope="module")
def rsa2048(rsa_keys: dict[int, KeyMaterial]) -> KeyMaterial:
    return rsa_keys[2048]


@pytest.fixture(scope="module", params=list(KeyCurveName))
def ec_key(request: pytest.FixtureRequest) -> KeyMaterial:
    return generate(KeyType.ec, curve=request.param)


@pytest.fixture(params=[128, 192, 256])
def oct_key(request: pytest.FixtureRequest) -> KeyMaterial:
    return generate(KeyType.oct, size=request.param)


@pytest.fixture(params=["rsa2048", "ec", "oct"])
def any_key(request: pytest.FixtureRequest, rsa2048: KeyMaterial) -> KeyMaterial:
    if request.param == "rsa2048":
        return rsa2048
    if request.param == "ec":
        return generate("EC", curve="P-384")
    return generate("oct")


# --------------------------------------------------------------------------- enums


def test_enums_compare_equal_to_azure_strings() -> None:
    pairs: list[tuple[object, str]] = [
        (KeyType.rsa_hsm, "RSA-HSM"),
        (KeyType.oct, "oct"),
        (KeyCurveName.p_256_k, "P-256K"),
        (KeyOperation.wrap_key, "wrapKey"),
        (KeyOperation.import_key, "import"),
    ]
    for member, text in pairs:
        assert member == text and hash(member) == hash(text)
    assert KeyType("rsa") is KeyType.rsa  # case-insensitive like the Azure SDK
    assert KeyType.rsa_hsm.software is KeyType.rsa and KeyType.oct.software is KeyType.oct
    assert f"{KeyType.ec_hsm}" == "EC-HSM"


def test_default_key_ops() -> None:
    assert default_key_ops("EC") == ["sign", "verify"]
    assert default_key_ops(KeyType.rsa_hsm) == [
        "encrypt",
        "decrypt",
        "sign",
        "verify",
        "wrapKey",
        "unwrapKey",
    ]
    assert default_key_ops("oct-HSM") == ["encrypt", "decrypt", "wrapKey", "unwrapKey"]
    with pytest.raises(InvalidParameterError):
        default_key_ops("DSA")


# --------------------------------------------------------------------------- generation


def test_generate_rsa_sizes(rsa_keys: dict[int, KeyMaterial]) -> None:
    for bits, km in rsa_keys.items():
        assert km.kty is KeyType.rsa
        assert km.key_size == bits
        assert km.curve is None
        assert km.public_exponent == 65537


def test_generate_rsa_defaults_and_exponent_3() -> None:
    km = generate(KeyType.rsa, public_exponent=3)
    assert (km.key_size, km.public_exponent) == (2048, 3)


def test_generate_ec_curves(ec_key: KeyMaterial) -> None:
    assert ec_key.kty is KeyType.ec
    assert ec_key.curve in CURVES
    private = ec_key.as_cryptography()
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    assert private.curve.name == CURVES[ec_key.curve][0].name
    assert ec_key.key_size == private.curve.key_size


def test_generate_ec_default_is_p256() -> None:
    assert generate("EC").curve is KeyCurveName.p_256


def test_generate_oct(oct_key: KeyMaterial) -> None:
    assert oct_key.kty is KeyType.oct
    assert oct_key.key_size in (128, 192, 256)
    assert generate("oct").key_size == 256
    assert generate("oct").to_bytes() != generate("oct").to_bytes()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"kty": "RSA", "size": 1024},
            "RSA key size 1024 is not supported; use 2048, 3072 or 4096",
        ),
        ({"kty": "RSA", "size": 2047}, "RSA key size 2047 is not supported"),
        ({"kty": "RSA", "public_exponent": 17}, "RSA public exponent 17 is not supported"),
        ({"kty": "RSA", "size": True}, "RSA key size must be an integer"),
        ({"kty": "RSA", "size": "2048"}, "RSA key size must be an integer"),
        ({"kty": "RSA", "curve": "P-256"}, "curve does not apply to RSA keys"),
        (
            {"kty": "EC", "curve": "P-192"},
            "EC curve 'P-192' is not supported; use P-256, P-384, P-521 or P-256K",
        ),
        ({"kty": "EC", "curve": "secp256k1"}, "EC curve 'secp256k1' is not supported"),
        ({"kty": "EC", "size": 256}, "size does not apply to EC keys"),
        ({"kty": "EC", "public_exponent": 3}, "public_exponent applies to RSA keys only"),
        ({"kty": "oct", "size": 512}, "oct key size 512 is not supported; use 128, 192 or 256"),
        ({"kty": "oct", "curve": "P-256"}, "curve does not apply to oct keys"),
        ({"kty": "DSA"}, "key type 'DSA' is not supported"),
        ({"kty": None}, "key type None is not supported"),
    ],
)
def test_generate_rejects_bad_parameters(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameterError, match=re.escape(message)):
        generate(**kwargs)


@pytest.mark.parametrize("kty", ["RSA-HSM", "EC-HSM", "oct-HSM"])
def test_generate_hsm_types_belong_to_the_hsm_layer(kty: str) -> None:
    with pytest.raises(UnsupportedError, match="lives in the HSM"):
        generate(kty)


# --------------------------------------------------------------------------- sealed format


def test_to_bytes_round_trip(any_key: KeyMaterial) -> None:
    blob = any_key.to_bytes()
    assert blob[0] == {"RSA": 1, "EC": 2, "oct": 3}[any_key.kty]
    again = KeyMaterial.from_bytes(blob)
    assert again.kty is any_key.kty and again.key_size == any_key.key_size
    assert again.private_jwk("k1") == any_key.private_jwk("k1")
    assert KeyMaterial.from_bytes(bytearray(blob)).to_bytes() == blob


def test_to_bytes_round_trip_every_curve(ec_key: KeyMaterial) -> None:
    again = KeyMaterial.from_bytes(ec_key.to_bytes())
    assert again.curve is ec_key.curve
    assert again.private_jwk() == ec_key.private_jwk()


def test_oct_to_bytes_is_raw(oct_key: KeyMaterial) -> None:
    blob = oct_key.to_bytes()
    assert len(blob) == 1 + oct_key.key_size // 8
    assert b64d(oct_key.private_jwk()["k"]) == blob[1:]


def _der(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def test_from_bytes_rejects_malformed(rsa2048: KeyMaterial) -> None:
    rsa_blob = rsa2048.to_bytes()
    ec_blob = generate("EC").to_bytes()
    small_rsa = _der(rsa.generate_private_key(65537, 1024))
    p192 = _der(ec.generate_private_key(ec.SECP192R1()))
    bad = [
        b"",
        b"\x01",
        b"\x09" + rsa_blob[1:],  # unknown tag
        rsa_blob[:-10],  # truncated DER
        b"\x02" + rsa_blob[1:],  # RSA DER under the EC tag
        b"\x01" + ec_blob[1:],  # EC DER under the RSA tag
        b"\x03" + bytes(20),  # oct of 160 bits
        b"\x01" + small_rsa,  # unsupported size
        b"\x02" + p192,  # unsupported curve
        b"\x01" + b"\x30\x03\x02\x01\x00",
    ]
    for blob in bad:
        with pytest.raises(IntegrityError):
            KeyMaterial.from_bytes(blob)


def test_from_bytes_needs_bytes() -> None:
    with pytest.raises(InvalidParameterError, match="must be bytes"):
        KeyMaterial.from_bytes("AQID")  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_from_bytes_fuzz_raises_only_integrity_error(blob: bytes) -> None:
    with contextlib.suppress(IntegrityError):
        KeyMaterial.from_bytes(blob)


# --------------------------------------------------------------------------- public JWK


def test_public_jwk_rsa(rsa_keys: dict[int, KeyMaterial]) -> None:
    for bits, km in rsa_keys.items():
        jwk = km.public_jwk("https://v/keys/k/1", key_ops=["sign", KeyOperation.verify])
        assert list(jwk) == ["kid", "kty", "key_ops", "n", "e"]
        assert jwk["kty"] == "RSA" and jwk["key_ops"] == ["sign", "verify"]
        assert jwk["e"] == "AQAB"
        assert len(b64d(jwk["n"])) == bits // 8
        numbers = km.as_cryptography().public_key().public_numbers()
        assert isinstance(numbers, rsa.RSAPublicNumbers)
        assert uint(jwk["n"]) == numbers.n


def test_public_jwk_ec_fixed_width(ec_key: KeyMaterial) -> None:
    jwk = ec_key.public_jwk("kid")
    assert list(jwk) == ["kid", "kty", "crv", "x", "y"]
    assert jwk["crv"] == ec_key.curve
    width = CURVES[KeyCurveName(jwk["crv"])][1]
    assert len(b64d(jwk["x"])) == width and len(b64d(jwk["y"])) == width


def test_public_jwk_ec_keeps_leading_zero_bytes() -> None:
    for _ in range(5000):  # about 1 in 128 P-256 keys has a coordinate below 2**248
        km = generate("EC")
        point = km.as_cryptography().public_key().public_numbers()
        assert isinstance(point, ec.EllipticCurvePublicNumbers)
        if point.x < 2**248 or point.y < 2**248:
            break
    else:
        pytest.fail("no short coordinate found")
    jwk = km.public_jwk()
    assert len(b64d(jwk["x"])) == len(b64d(jwk["y"])) == 32
    assert public_from_jwk(jwk) == km.public_key()
    assert from_jwk(km.private_jwk()).private_jwk() == km.private_jwk()


def test_public_jwk_oct_has_no_key_material(oct_key: KeyMaterial) -> None:
    assert oct_key.public_jwk("kid", key_ops=["encrypt"]) == {
        "kid": "kid",
        "kty": "oct",
        "key_ops": ["encrypt"],
    }
    assert oct_key.public_jwk() == {"kty": "oct"}


def test_public_jwk_never_has_private_members(any_key: KeyMaterial, rsa_keys: dict[int, KeyMaterial]) -> None:
    for km in [any_key, *rsa_keys.values()]:
        assert not PRIVATE_MEMBERS & set(km.public_jwk("kid"))
        assert not PRIVATE_MEMBERS & set(km.public_jwk("kid", key_ops=default_key_ops(km.kty)))
        if km.kty is not KeyType.oct:
            assert not PRIVATE_MEMBERS & set(km.public_key().public_jwk("kid"))


def test_public_jwk_rejects_unknown_key_op(rsa2048: KeyMaterial) -> None:
    with pytest.raises(InvalidParameterError, match="key operation 'fly' is not supported"):
        rsa2048.public_jwk("kid", key_ops=["sign", "fly"])


# --------------------------------------------------------------------------- private JWK


def test_private_jwk_rsa_members(rsa2048: KeyMaterial) -> None:
    jwk = rsa2048.private_jwk("kid")
    assert list(jwk) == ["kid", "kty", "n", "e", "d", "p", "q", "dp", "dq", "qi"]
    n = rsa2048.as_cryptography().private_numbers()
    assert isinstance(n, rsa.RSAPrivateNumbers)
    assert (uint(jwk["d"]), uint(jwk["p"]), uint(jwk["q"])) == (n.d, n.p, n.q)
    assert (uint(jwk["dp"]), uint(jwk["dq"]), uint(jwk["qi"])) == (n.dmp1, n.dmq1, n.iqmp)


def test_private_jwk_ec_d_fixed_width(ec_key: KeyMaterial) -> None:
    jwk = ec_key.private_jwk()
    assert len(b64d(jwk["d"])) == CURVES[KeyCurveName(jwk["crv"])][1]


def _check_jwk_round_trip(km: KeyMaterial) -> None:
    jwk = km.private_jwk("kid", key_ops=["sign"])
    again = from_jwk(jwk)
    assert again.kty is km.kty
    assert again.to_bytes() == km.to_bytes()
    assert again.private_jwk("kid", key_ops=["sign"]) == jwk


def test_jwk_round_trip(any_key: KeyMaterial) -> None:
    _check_jwk_round_trip(any_key)


def test_jwk_round_trip_every_curve(ec_key: KeyMaterial) -> None:
    _check_jwk_round_trip(ec_key)


def test_jwk_round_trip_every_oct_size(oct_key: KeyMaterial) -> None:
    _check_jwk_round_trip(oct_key)


def test_jwk_round_trip_large_rsa(rsa_keys: dict[int, KeyMaterial]) -> None:
    for km in (rsa_keys[3072], rsa_keys[4096]):
        assert from_jwk(km.private_jwk()).private_jwk() == km.private_jwk()


def test_rsa_import_recovers_crt_members(rsa2048: KeyMaterial) -> None:
    full = rsa2048.private_jwk()
    minimal = {m: full[m] for m in ("kty", "n", "e", "d")}
    assert from_jwk(minimal).private_jwk() == full


def test_import_accepts_raw_bytes_members_and_padding(rsa2048: KeyMaterial) -> None:
    full = rsa2048.private_jwk()
    raw = {m: (b64d(v) if m != "kty" else v) for m, v in full.items()}
    assert from_jwk(raw).private_jwk() == full
    ec_jwk = generate("EC", curve="P-384").private_jwk()  # 48-byte members: 64 chars, no pad
    p521 = generate("EC", curve="P-521").private_jwk()  # 66 bytes: 88 chars, would pad "=="
    padded = {m: v + "==" if m in ("x", "y", "d") else v for m, v in p521.items()}
    assert from_jwk(padded).private_jwk() == p521
    assert from_jwk(ec_jwk).private_jwk() == ec_jwk


def test_import_rejects_hsm_and_unknown_types() -> None:
    with pytest.raises(InvalidParameterError, match="names an HSM key; import the material as kty 'RSA'"):
        from_jwk({"kty": "RSA-HSM", "n": "AQAB", "e": "AQAB", "d": "AQAB"})
    with pytest.raises(InvalidParameterError, match="key type 'OKP' is not supported"):
        from_jwk({"kty": "OKP", "crv": "Ed25519"})
    with pytest.raises(InvalidParameterError, match="JWK has no 'kty' member"):
        from_jwk({"n": "AQAB"})
    with pytest.raises(InvalidParameterError, match="a JWK must be a mapping"):
        from_jwk([("kty", "RSA")])  # type: ignore[arg-type]


def _swap(jwk: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = {k: v for k, v in jwk.items() if k not in changes or changes[k] is not None}
    out.update({k: v for k, v in changes.items() if v is not None})
    return out


def test_import_rejects_bad_rsa_jwks(rsa2048: KeyMaterial, rsa_keys: dict[int, KeyMaterial]) -> None:
    good = rsa2048.private_jwk()
    other = rsa_keys[3072].private_jwk()
    public_only = rsa2048.public_jwk()
    small_key = rsa.generate_private_key(65537, 1024).private_numbers()
    small_jwk = {
        "kty": "RSA",
        "n": b64e(small_key.public_numbers.n.to_bytes(128, "big")),
        "e": "AQAB",
        "d": b64e(small_key.d.to_bytes(128, "big")),
    }
    d_plus_2 = b64e((uint(good["d"]) + 2).to_bytes(256, "big"))
    cases: list[tuple[dict[str, Any], str]] = [
        (public_only, "must contain the private key (member 'd')"),
        (small_jwk, "RSA key size 1024 is not supported; use 2048, 3072 or 4096"),
        (_swap(good, n=None), "RSA JWK is missing member 'n'"),
        (_swap(good, p=None, q=None), "RSA JWK has dp, dq, qi but lacks p, q"),
        (_swap(good, q=other["q"]), "p and q do not multiply to n"),
        (_swap(good, d=d_plus_2), "d is not the private exponent for e"),
        (_swap(good, dp=good["dq"]), "dp, dq, qi do not match"),
        (_swap(good, qi="AQ"), "dp, dq, qi do not match"),
        (
            _swap(good, p=None, q=None, dp=None, dq=None, qi=None, d=d_plus_2),
            "d does not match n and e",
        ),
        (_swap(good, oth=[{"r": "AQ"}]), "multi-prime RSA keys"),
        (_swap(good, n="not base64!"), "JWK member 'n' is not valid base64url"),
        (_swap(good, n="AQAB+/"), "JWK member 'n' is not valid base64url"),
        (_swap(good, n="A"), "JWK member 'n' is not valid base64url"),
        (_swap(good, e=""), "JWK member 'e' is empty"),
        (_swap(good, e=65537), "JWK member 'e' must be a base64url string, not int"),
    ]
    for jwk, message in cases:
        with pytest.raises(InvalidParameterError, match=re.escape(message)):
            from_jwk(jwk)


def test_import_rejects_bad_ec_jwks() -> None:
    km = generate("EC")
    good = km.private_jwk()
    other = generate("EC").private_jwk()
    p384 = generate("EC", curve="P-384").private_jwk()
    order_p256 = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    cases: list[tuple[dict[str, Any], str]] = [
        (km.public_jwk(), "must contain the private key (member 'd')"),
        (_swap(good, crv="P-192"), "EC curve 'P-192' is not supported"),
        (_swap(good, crv=None), "EC JWK is missing member 'crv'"),
        (_swap(good, d=other["d"]), "EC JWK members x and y do not match d"),
        (_swap(good, x=other["x"]), "is not on curve P-256"),
        (_swap(good, x=good["x"][:-3]), "EC JWK member 'x' must be 32 bytes for P-256"),
        (_swap(good, d=p384["d"]), "EC JWK member 'd' must be 32 bytes for P-256"),
        (_swap(good, d=b64e(order_p256.to_bytes(32, "big"))), "'d' is out of range for P-256"),
        (_swap(good, d=b64e(bytes(32))), "'d' is out of range for P-256"),
    ]
    for jwk, message in cases:
        with pytest.raises(InvalidParameterError, match=re.escape(message)):
            from_jwk(jwk)


def test_import_rejects_bad_oct_jwks() -> None:
    with pytest.raises(InvalidParameterError, match=re.escape("must contain the key (member 'k')")):
        from_jwk({"kty": "oct", "kid": "x", "key_ops": ["encrypt"]})
    with pytest.raises(InvalidParameterError, match="oct key size 512 is not supported"):
        from_jwk({"kty": "oct", "k": b64e(bytes(64))})
    with pytest.raises(InvalidParameterError, match="oct key size 8 is not supported"):
        from_jwk({"kty": "oct", "k": "AA"})


def test_import_errors_do_not_leak_material(rsa2048: KeyMaterial) -> None:
    good = rsa2048.private_jwk()
    secrets = [good[m] for m in ("d", "p", "q", "dp", "dq", "qi")]
    for jwk in (_swap(good, dp=good["dq"]), _swap(good, q=good["p"])):
        with pytest.raises(InvalidParameterError) as info:
            from_jwk(jwk)
        text = str(info.value) + repr(info.value)
        assert not any(s in text or s[:16] in text for s in secrets)
        assert info.value.__cause__ is None


# --------------------------------------------------------------------------- public keys


def _check_public_from_jwk(km: KeyMaterial) -> None:
    public = public_from_jwk(km.public_jwk("kid"))
    assert public == km.public_key()
    assert hash(public) == hash(km.public_key())
    assert (public.kty, public.key_size, public.curve) == (km.kty, km.key_size, km.curve)
    assert public.public_jwk("kid") == km.public_jwk("kid")
    assert public_from_jwk(km.private_jwk()) == public  # private members ignored


def test_public_from_jwk_rsa(rsa_keys: dict[int, KeyMaterial]) -> None:
    for km in rsa_keys.values():
        _check_public_from_jwk(km)


def test_public_from_jwk_every_curve(ec_key: KeyMaterial) -> None:
    _check_public_from_jwk(ec_key)


def test_oct_keys_have_no_public_key(oct_key: KeyMaterial) -> None:
    with pytest.raises(InvalidParameterError, match="oct keys are symmetric"):
        public_from_jwk(oct_key.private_jwk())
    with pytest.raises(InvalidParameterError, match="oct keys are symmetric"):
        oct_key.public_key()


def test_public_from_jwk_accepts_hsm_types(rsa2048: KeyMaterial) -> None:
    jwk = dict(rsa2048.public_jwk(), kty="RSA-HSM")
    assert public_from_jwk(jwk) == rsa2048.public_key()
    ec_jwk = dict(generate("EC").public_jwk(), kty="EC-HSM")
    assert public_from_jwk(ec_jwk).curve is KeyCurveName.p_256


def test_public_from_jwk_rejects_bad_input(rsa2048: KeyMaterial) -> None:
    ec_jwk = generate("EC").public_jwk()
    with pytest.raises(InvalidParameterError, match="is not on curve P-256"):
        public_from_jwk(dict(ec_jwk, y=ec_jwk["x"]))
    with pytest.raises(InvalidParameterError, match="RSA JWK is missing member 'e'"):
        public_from_jwk({"kty": "RSA", "n": rsa2048.public_jwk()["n"]})
    with pytest.raises(InvalidParameterError, match="RSA public exponent must be an odd number"):
        public_from_jwk(dict(rsa2048.public_jwk(), e="Ag"))  # even exponent
    with pytest.raises(InvalidParameterError, match="RSA public exponent must be an odd number"):
        public_from_jwk(dict(rsa2048.public_jwk(), e="AQAD"))  # 65539: above Azure's range
    with pytest.raises(InvalidParameterError, match="key type 'XYZ' is not supported"):
        public_from_jwk({"kty": "XYZ"})


def test_public_key_material_wraps_cryptography_keys() -> None:
    key = ec.generate_private_key(ec.SECP256K1())
    public = PublicKeyMaterial.from_cryptography(key.public_key())
    assert public.curve is KeyCurveName.p_256_k
    assert public.public_jwk() == KeyMaterial.from_cryptography(key).public_jwk()
    assert isinstance(public.as_cryptography(), ec.EllipticCurvePublicKey)
    assert public != KeyMaterial.from_cryptography(key)  # different kinds never compare equal
    with pytest.raises(InvalidParameterError, match="EC curve secp192r1 is not supported"):
        PublicKeyMaterial(ec.generate_private_key(ec.SECP192R1()).public_key())
    with pytest.raises(InvalidParameterError, match="unsupported public key type"):
        PublicKeyMaterial(key)  # type: ignore[arg-type]


def test_key_material_from_cryptography() -> None:
    key = rsa.generate_private_key(65537, 2048)
    km = KeyMaterial.from_cryptography(key)
    assert km.as_cryptography() is key
    with pytest.raises(InvalidParameterError, match="RSA key size 1024 is not supported"):
        KeyMaterial.from_cryptography(rsa.generate_private_key(65537, 1024))
    with pytest.raises(InvalidParameterError, match="unsupported private key type str"):
        KeyMaterial("secret")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="no cryptography private key object"):
        generate("oct").as_cryptography()


# --------------------------------------------------------------------------- hygiene


def test_repr_has_no_material(any_key: KeyMaterial, ec_key: KeyMaterial) -> None:
    for km in (any_key, ec_key):
        text = repr(km) + str(km)
        jwk = km.private_jwk()
        for member in PRIVATE_MEMBERS & set(jwk):
            assert jwk[member] not in text
            assert b64d(jwk[member]).hex() not in text
        assert text.startswith("KeyMaterial(kty=")
    assert repr(generate("oct", size=128)) == "KeyMaterial(kty='oct', key_size=128)"
    assert repr(generate("EC", curve="P-521")) == "KeyMaterial(kty='EC', curve='P-521')"
    assert repr(generate("EC").public_key()) == "PublicKeyMaterial(kty='EC', curve='P-256')"


def test_pickling_is_refused(any_key: KeyMaterial) -> None:
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(any_key, protocol=protocol)
    with pytest.raises(TypeError, match="cannot be pickled"):
        any_key.__reduce__()
    assert copy.copy(any_key) is any_key
    assert copy.deepcopy({"k": any_key})["k"] is any_key


def test_key_material_is_immutable(any_key: KeyMaterial) -> None:
    with pytest.raises(AttributeError):
        any_key._key = b"x" * 32
    with pytest.raises(AttributeError):
        del any_key._key
    with pytest.raises(AttributeError):
        any_key.extra = 1
    if any_key.kty is not KeyType.oct:
        public = any_key.public_key()
        with pytest.raises(AttributeError):
            public._key = None  # type: ignore[assignment]
