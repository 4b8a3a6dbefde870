"""Who is on the other end of a loopback TCP connection: the owner's uid, from the kernel.

For managed identity by OS user the server must know which local user opened the
connection, without trusting anything the client sends. On Linux every TCP socket is listed
in ``/proc/net/tcp`` (IPv4) or ``/proc/net/tcp6`` (IPv6, including IPv4-mapped addresses)
with its local and remote address and the uid that created it. The client's socket on a
loopback connection is the row whose *local* end is the peer address the server sees and
whose *remote* end is the server's own address, in state ESTABLISHED; its uid is the
answer. This is what identd did, and it works only for peers on this machine: any other
peer is refused (:func:`loopback_peer_uid` returns ``None``). On a Unix socket the kernel
says it directly: ``SO_PEERCRED`` (:func:`unix_peer_uid`).
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import struct
import sys
from pathlib import Path

__all__ = ["UNIX_CLIENT", "loopback_peer_uid", "parse_proc_net_tcp", "unix_peer_uid"]

#: ``scope["client"]`` of a Unix-socket connection is ``(UNIX_CLIENT, uid)``, the uid from
#: ``SO_PEERCRED`` (set by :class:`._web.PeerCredProtocol`; no request header can change it).
UNIX_CLIENT = "unix"

_ESTABLISHED = "01"
_TABLES = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))

Address = tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]


def _normalise(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    ip = ipaddress.ip_address(host.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _decode(field: str) -> Address:
    """``0100007F:1F90`` -> (127.0.0.1, 8080): each 32-bit word of the address is printed in
    the kernel's byte order, the port in hex."""
    hexaddr, _, hexport = field.partition(":")
    words = [int(hexaddr[i : i + 8], 16) for i in range(0, len(hexaddr), 8)]
    raw = b"".join(struct.pack("=I", w) for w in words)
    family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
    return _normalise(socket.inet_ntop(family, raw)), int(hexport, 16)


def parse_proc_net_tcp(text: str) -> list[tuple[Address, Address, str, int]]:
    """``(local, remote, state, uid)`` for every row of a ``/proc/net/tcp{,6}`` table."""
    rows: list[tuple[Address, Address, str, int]] = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        try:
            rows.append((_decode(fields[1]), _decode(fields[2]), fields[3], int(fields[7])))
        except (ValueError, OSError, struct.error):
            continue
    return rows


def _proc_forms(addr: Address) -> set[str]:
    """How /proc/net/tcp{,6} print *addr*: ``HEX:PORT`` (and the IPv4-mapped IPv6 form)."""
    ip, port = addr
    packed = [ip.packed] if isinstance(ip, ipaddress.IPv6Address) else [ip.packed, bytes(10) + b"\xff\xff" + ip.packed]
    return {"".join(f"{w:08X}" for w in struct.unpack(f"={len(raw) // 4}I", raw)) + f":{port:04X}" for raw in packed}


def loopback_peer_uid(peer: tuple[str, int], server: tuple[str, int]) -> int | None:
    """The uid owning the client socket of the TCP connection *peer* -> *server*.

    ``None`` unless the peer is a loopback address on this machine and exactly one
    established connection matches (not Linux, no ``/proc``, or the client went away).
    The tables are matched on the kernel's own text form (no parsing of other rows).
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        peer_addr: Address = (_normalise(peer[0]), int(peer[1]))
        server_addr: Address = (_normalise(server[0]), int(server[1]))
    except (ValueError, TypeError, IndexError):
        return None
    if not peer_addr[0].is_loopback:
        return None
    local, remote = _proc_forms(peer_addr), _proc_forms(server_addr)
    # An IPv4 client's socket is listed in tcp (even when the server's is dual-stack); reading
    # a table costs the kernel about a millisecond, so tcp6 is read only when needed.
    tables = _TABLES if isinstance(peer_addr[0], ipaddress.IPv4Address) else _TABLES[::-1]
    for table in tables:
        uids: set[int] = set()
        try:
            text = table.read_text()
        except OSError:
            continue
        for line in text.splitlines()[1:]:
            fields = line.split()
            if len(fields) >= 8 and fields[1] in local and fields[2] in remote and fields[3] == _ESTABLISHED:
                with contextlib.suppress(ValueError):
                    uids.add(int(fields[7]))
        if uids:
            return uids.pop() if len(uids) == 1 else None
    return None


def unix_peer_uid(sock: socket.socket) -> int | None:
    """The uid of the process at the other end of a connected Unix socket (``SO_PEERCRED``)."""
    if sock.family != getattr(socket, "AF_UNIX", None) or not hasattr(socket, "SO_PEERCRED"):
        return None
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return None
    _, uid, _ = struct.unpack("3i", raw)
    return int(uid)
