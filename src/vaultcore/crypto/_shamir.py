"""Shamir secret sharing over GF(2^8), byte by byte (the security domain's quorum).

Each byte of the secret is the constant term of a random polynomial of degree ``quorum-1``
over GF(2^8) (AES's field, reduction polynomial x^8+x^4+x^3+x+1); share ``x`` (1..255)
holds the polynomial's values at ``x``. Any ``quorum`` shares give the secret back by
Lagrange interpolation at 0; fewer shares are consistent with every secret value, each
equally likely, so they reveal nothing about it.

Field arithmetic is branch-free on the operands (shift-and-add multiplication with masks,
inversion as a^254), not table-driven, so the time taken does not depend on secret bytes
through memory access; Python gives no stronger constant-time guarantee, and splitting runs
offline on an operator's request.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from vaultcore.crypto import _bindings
from vaultcore.exceptions import InvalidParameterError

__all__ = ["combine", "gf_div", "gf_mul", "split"]

MAX_SHARES = 255


def gf_mul(a: int, b: int) -> int:
    """a * b in GF(2^8) (AES polynomial 0x11B)."""
    product = 0
    for _ in range(8):
        product ^= -(b & 1) & a
        carry = -((a >> 7) & 1) & 0x1B
        a = ((a << 1) & 0xFF) ^ carry
        b >>= 1
    return product & 0xFF


def _gf_inv(a: int) -> int:
    """a^-1 = a^254 (a != 0); the exponent, not *a*, decides the steps."""
    result, base, exp = 1, a, 254
    while exp:
        if exp & 1:
            result = gf_mul(result, base)
        base = gf_mul(base, base)
        exp >>= 1
    return result


def gf_div(a: int, b: int) -> int:
    if b == 0:
        raise ZeroDivisionError("division by zero in GF(2^8)")
    return gf_mul(a, _gf_inv(b))


def split(
    secret: bytes, quorum: int, count: int, *, random: Callable[[int], bytes] = _bindings.random_bytes
) -> list[tuple[int, bytes]]:
    """*count* shares ``(x, bytes)`` of *secret*, any *quorum* of which recover it."""
    if not isinstance(secret, bytes) or not secret:
        raise InvalidParameterError("the secret must be non-empty bytes")
    if not 1 <= quorum <= count <= MAX_SHARES:
        raise InvalidParameterError(f"need 1 <= quorum <= count <= {MAX_SHARES}")
    coefficients = [random(len(secret)) for _ in range(quorum - 1)]
    shares = []
    for x in range(1, count + 1):
        out = bytearray(len(secret))
        for i, byte in enumerate(secret):
            # Horner's rule from the highest coefficient down to the secret byte
            acc = 0
            for coefficient in reversed(coefficients):
                acc = gf_mul(acc, x) ^ coefficient[i]
            out[i] = gf_mul(acc, x) ^ byte
        shares.append((x, bytes(out)))
    return shares


def combine(shares: Sequence[tuple[int, bytes]]) -> bytes:
    """The secret from shares (pass exactly the quorum, or more: all are used)."""
    if not shares:
        raise InvalidParameterError("no shares given")
    xs = [x for x, _ in shares]
    if len(set(xs)) != len(xs) or not all(isinstance(x, int) and 1 <= x <= MAX_SHARES for x in xs):
        raise InvalidParameterError("shares must have distinct indices from 1 to 255")
    size = len(shares[0][1])
    if any(len(value) != size for _, value in shares):
        raise InvalidParameterError("shares must all have the same length")
    # Lagrange basis at 0: l_j = prod_{m != j} x_m / (x_m - x_j); subtraction is XOR here.
    basis = []
    for j, xj in enumerate(xs):
        numerator, denominator = 1, 1
        for m, xm in enumerate(xs):
            if m != j:
                numerator = gf_mul(numerator, xm)
                denominator = gf_mul(denominator, xm ^ xj)
        basis.append(gf_div(numerator, denominator))
    out = bytearray(size)
    for (_, value), weight in zip(shares, basis, strict=True):
        for i, byte in enumerate(value):
            out[i] ^= gf_mul(byte, weight)
    return bytes(out)
