"""A ``postgresql://`` vault location, parsed without the driver (``storage._postgres`` uses it).

``vault`` (default ``default``), ``schema`` (default ``public``), ``statement_timeout`` (ms,
default 30000) and ``pool_size`` (default 8) are vaultcore's; every other parameter goes to
libpq, with ``connect_timeout`` defaulting to 10 s. The password (in the user info or as a
``password`` parameter) is kept only in ``conninfo`` and ``password`` (for redaction), never in
``shown``, which ``Vault.path``, ``repr`` and error messages use.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from vaultcore.exceptions import InvalidParameterError

__all__ = ["Location"]

_OWN_PARAMS = ("vault", "schema", "statement_timeout", "pool_size")


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
        if not any(k == "connect_timeout" for k, _ in rest):
            rest.append(("connect_timeout", "10"))
        self.vault = own.get("vault", "default")
        self.schema = own.get("schema", "public")
        for what, value in (("vault", self.vault), ("schema", self.schema)):
            if not value or len(value) > 63 or not all(c.isalnum() or c in "_-" for c in value):
                raise InvalidParameterError(f"the {what} name in a PostgreSQL URL must be 1-63 of a-z, 0-9, '_', '-'")
        try:
            self.statement_timeout = int(own.get("statement_timeout", "30000"))
            self.pool_size = int(own.get("pool_size", "8"))
        except ValueError:
            raise InvalidParameterError("statement_timeout and pool_size must be integers") from None
        if self.statement_timeout < 0 or not 2 <= self.pool_size <= 256:
            raise InvalidParameterError("statement_timeout must be >= 0 ms and pool_size 2-256")
        self.conninfo = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(rest), ""))
        # Shown in repr, errors and ``Vault.path``: the URL without its password, enough to
        # reopen the vault where the server needs none (trust, peer, a .pgpass file).
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        user = f"{parts.username}@" if parts.username else ""
        shown = [("vault", self.vault), ("schema", self.schema)]
        shown += [(k, v) for k, v in query if k not in _OWN_PARAMS and k != "password"]
        self.shown = urlunsplit((parts.scheme, f"{user}{host}{port}", parts.path, urlencode(shown, safe="/"), ""))
