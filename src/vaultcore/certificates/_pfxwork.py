"""The work a PFX (PKCS#12) file may demand before it is opened.

A PFX names its own iteration counts: the MAC's key derivation and the password-based
encryption of its bags (PKCS#12 PBE or PBES2/PBKDF2). Nothing bounds them, so a crafted
file with a count of 2**31 costs minutes of CPU per import attempt. :func:`check_pfx_work`
reads every count visible without the password (the MAC's, and those of the outer
encryption) with a small DER walker and refuses any above :data:`MAX_PFX_ITERATIONS`.
Counts inside encrypted bags are only visible after decryption; OpenSSL then applies them.
"""

from __future__ import annotations

from vaultcore.exceptions import InvalidParameterError

__all__ = ["MAX_PFX_ITERATIONS", "check_pfx_work"]

MAX_PFX_ITERATIONS = 1_000_000
"""OpenSSL writes 2048, current tools 10,000-600,000 (PBKDF2-SHA256)."""

_SEQUENCE, _INTEGER, _OCTET_STRING, _OID = 0x30, 0x02, 0x04, 0x06
_PBKDF2 = bytes.fromhex("2a864886f70d01050c")  # 1.2.840.113549.1.5.12
_PKCS12_PBE_PREFIX = bytes.fromhex("2a864886f70d010c01")  # 1.2.840.113549.1.12.1.*
_MAX_NODES = 20_000


def _tlv(data: bytes, pos: int) -> tuple[int, int, int] | None:
    """(tag, start of content, end of content) of the DER element at *pos*, or None."""
    if pos + 2 > len(data):
        return None
    tag, first = data[pos], data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            return None
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > len(data):
        return None
    return tag, pos, pos + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    out: list[tuple[int, int, int]] = []
    pos = start
    while pos < end:
        element = _tlv(data, pos)
        if element is None or element[2] > end:
            return []
        out.append(element)
        pos = element[2]
    return out


def _iterations(data: bytes, params: tuple[int, int, int]) -> int | None:
    """The iteration count in ``SEQUENCE {salt OCTET STRING, count INTEGER, ...}``."""
    if params[0] != _SEQUENCE:
        return None
    fields = _children(data, params[1], params[2])
    if len(fields) >= 2 and fields[1][0] == _INTEGER:
        return int.from_bytes(data[fields[1][1] : fields[1][2]], "big", signed=True)
    return None


def _check(count: int | None, what: str) -> None:
    if count is not None and count > MAX_PFX_ITERATIONS:
        raise InvalidParameterError(
            f"the PFX asks for {count} {what} iterations; at most {MAX_PFX_ITERATIONS} are accepted"
        )


def check_pfx_work(data: bytes) -> None:
    """``InvalidParameterError`` when a visible iteration count of the PFX *data* is too high.

    Malformed DER is left to the PKCS#12 parser (which reports it); this only refuses work.
    """
    top = _tlv(data, 0)
    if top is None or top[0] != _SEQUENCE:
        return
    parts = _children(data, top[1], top[2])
    if len(parts) >= 3 and parts[2][0] == _SEQUENCE:  # macData: {DigestInfo, salt, iterations}
        mac = _children(data, parts[2][1], parts[2][2])
        if len(mac) >= 3 and mac[2][0] == _INTEGER:
            _check(int.from_bytes(data[mac[2][1] : mac[2][2]], "big", signed=True), "MAC")
    # Every AlgorithmIdentifier in the clear (outer PBE, PBKDF2 params), also inside the
    # OCTET STRINGs that wrap the authenticated safe.
    stack = [top]
    seen = 0
    while stack and seen < _MAX_NODES:
        tag, start, end = stack.pop()
        seen += 1
        if tag & 0x20 or tag == _OCTET_STRING:  # constructed, or an octet string holding DER
            kids = _children(data, start, end)
            if len(kids) >= 2 and kids[0][0] == _OID:
                oid = data[kids[0][1] : kids[0][2]]
                if oid == _PBKDF2 or oid.startswith(_PKCS12_PBE_PREFIX):
                    _check(_iterations(data, kids[1]), "key derivation")
            stack.extend(kids)
