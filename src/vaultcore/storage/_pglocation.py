"""A ``postgresql://`` vault location, parsed without the driver (``storage._postgres`` uses it).

``vault`` (default ``default``), ``schema`` (default ``public``), ``pool_size`` (default 8) and
the timeouts below are vaultcore's; every other parameter goes to libpq, with
``connect_timeout`` defaulting to 10 s and TCP keepalives (30 s idle, 10 s interval, 3 probes)
and ``tcp_user_timeout`` (60 s) set unless given, so a host that vanishes is noticed.

Timeouts, in milliseconds (docs/storage.md §6, "Faults"):

- ``statement_timeout`` (30000): the server cancels a statement after this long, including
  a wait for the vault's write lock;
- ``idle_in_transaction_timeout`` (20000): the server ends a session that sits inside a
  transaction this long without sending a statement (a partitioned or hung node), which
  rolls back its transaction and releases its write lock. Below ``statement_timeout``, so
  a writer queued behind such a node waits for it rather than failing;
- ``network_timeout`` (``statement_timeout`` + 10000; 0 when ``statement_timeout`` is 0):
  the client gives up on a round trip that has had no answer this long, closes the
  connection and retries or fails with ``StorageError`` (a blackholed network);
- ``retry_window`` (30000): how long a read or a write that was not applied is retried on
  new connections after its connection was lost (a database restart). The password (in the user info or as a
``password`` parameter) is kept only in ``conninfo`` and ``password`` (for redaction), never in
``shown``, which ``Vault.path``, ``repr`` and error messages use.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from vaultcore.exceptions import InvalidParameterError

__all__ = ["Location"]

_OWN_PARAMS = (
    "vault",
    "schema",
    "statement_timeout",
    "pool_size",
    "idle_in_transaction_timeout",
    "network_timeout",
    "retry_window",
)
#: libpq parameters set unless the URL gives them (docs/storage.md §6, "Faults").
_LIBPQ_DEFAULTS = (
    ("connect_timeout", "10"),
    ("keepalives", "1"),
    ("keepalives_idle", "30"),
    ("keepalives_interval", "10"),
    ("keepalives_count", "3"),
    ("tcp_user_timeout", "60000"),
)


class Location:
    """A parsed ``postgresql://`` location (the password never leaves ``conninfo``)."""

    def __init__(self, url: str) -> None:
        try:
            parts = urlsplit(url)
            query = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False)
            port = f":{parts.port}" if parts.port else ""
        except ValueError as exc:
            raise InvalidParameterError(f"not a valid PostgreSQL URL: {exc}") from None
        own = {k: v for k, v in query if k in _OWN_PARAMS}
        rest = [(k, v) for k, v in query if k not in _OWN_PARAMS]
        self.password = parts.password or next((v for k, v in rest if k == "password"), None)
        given = {k for k, _ in rest}
        rest += [(k, v) for k, v in _LIBPQ_DEFAULTS if k not in given]
        self.vault = own.get("vault", "default")
        self.schema = own.get("schema", "public")
        for what, value in (("vault", self.vault), ("schema", self.schema)):
            if not value or len(value) > 63 or not all(c.isalnum() or c in "_-" for c in value):
                raise InvalidParameterError(f"the {what} name in a PostgreSQL URL must be 1-63 of a-z, 0-9, '_', '-'")
        try:
            self.statement_timeout = int(own.get("statement_timeout", "30000"))
            self.pool_size = int(own.get("pool_size", "8"))
            self.idle_timeout = int(own.get("idle_in_transaction_timeout", "20000"))
            default_net = self.statement_timeout + 10000 if self.statement_timeout else 0
            self.network_timeout = int(own.get("network_timeout", str(default_net)))
            self.retry_window = int(own.get("retry_window", "30000"))
        except ValueError:
            raise InvalidParameterError("the timeouts and pool_size must be integers") from None
        if min(self.statement_timeout, self.idle_timeout, self.network_timeout, self.retry_window) < 0:
            raise InvalidParameterError("the timeouts must be >= 0 ms")
        if not 2 <= self.pool_size <= 256:
            raise InvalidParameterError("pool_size must be 2-256")
        # Server-side: the timeouts above, and keepalives from the server's end, so the server
        # also notices a vanished client (and frees its session advisory locks).
        self.session_options = (
            f"-c statement_timeout={self.statement_timeout} "
            f"-c idle_in_transaction_session_timeout={self.idle_timeout} "
            "-c tcp_keepalives_idle=30 -c tcp_keepalives_interval=10 -c tcp_keepalives_count=3 "
            "-c tcp_user_timeout=60000"
        )
        self.conninfo = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(rest), ""))
        # Shown in repr, errors and ``Vault.path``: the URL without its password, enough to
        # reopen the vault where the server needs none (trust, peer, a .pgpass file).
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        user = f"{parts.username}@" if parts.username else ""
        shown = [("vault", self.vault), ("schema", self.schema)]
        shown += [(k, v) for k, v in query if k not in _OWN_PARAMS and k != "password"]
        self.shown = urlunsplit((parts.scheme, f"{user}{host}{port}", parts.path, urlencode(shown, safe="/"), ""))
