"""The facade's principal views: acting as an application, an OS user or an authenticated principal.

Split out of :mod:`vaultcore._vault` (a mixin of :class:`~vaultcore.Vault`): each method
returns a view of the same open vault whose session is another principal, checked by the
role engine and audited; failed and refused attempts are audited here too. May import
``access``, ``engine`` and ``exceptions``.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, Self

from vaultcore.access._audit import PendingEvent
from vaultcore.access._operations import ADMIN, Session, new_request_id
from vaultcore.exceptions import ForbiddenError, UnauthorizedError, VaultError

if TYPE_CHECKING:
    from vaultcore.access._principals import AccessManager
    from vaultcore.crypto._credentials import KdfParameters
    from vaultcore.engine._context import VaultContext

__all__ = ["PrincipalViews"]


class PrincipalViews:
    """``as_principal``, ``as_os_user``, ``as_authenticated`` and ``record_sign_in`` of ``Vault``."""

    _ctx: VaultContext
    _session: Session
    _access_kdf: KdfParameters

    if TYPE_CHECKING:

        @property
        def access(self) -> AccessManager: ...

        def __init__(
            self,
            ctx: VaultContext,
            session: Session | None = None,
            *,
            owner: bool = True,
            access_kdf: KdfParameters = ...,
        ) -> None: ...

        def _require_open(self) -> None: ...

    def as_principal(self, client_id: str, client_secret: str, *, caller: dict[str, Any] | None = None) -> Self:
        """A view of this vault acting as an application principal (checked and audited)."""
        self._require_open()
        try:
            pid = self.access.authenticate(client_id, client_secret)
        except UnauthorizedError:
            event = PendingEvent(
                self._attempted_principal(client_id),
                "PrincipalAuthenticate",
                "/",
                new_request_id(),
                {**self._session.caller, **(caller or {})},
                self._ctx.clock().timestamp(),
            )
            event.result = "Unauthorized"
            self._ctx.audit.record(event)
            raise
        return self._view(pid, caller)

    def _attempted_principal(self, client_id: object) -> str:
        """How a failed login names its principal in the audit log.

        A known client id is logged as is; anything else only as a short hash, because a
        caller who swapped the arguments would otherwise write its client secret to the log.
        """
        text = client_id if isinstance(client_id, str) else repr(client_id)
        text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")  # lone surrogates
        try:
            self.access.require_principal(f"app:{text}")
        except VaultError:
            return "app:unknown-" + hashlib.sha256(text.encode()).hexdigest()[:12]
        return f"app:{text}"

    def as_os_user(self, uid: int, *, caller: dict[str, Any] | None = None) -> Self:
        """A view acting as the OS user *uid*.

        For a trusted front end that has authenticated the uid itself (the local server reads
        it from its Unix socket with ``SO_PEERCRED``); the principal must exist. Only the
        administrator (the holder of the vault credential) may do this: a principal's view
        asking for another identity is ``ForbiddenError`` (and audited).
        """
        self._require_open()
        pid = f"uid:{uid}"
        if not self._session.is_admin:
            event = PendingEvent(
                self._session.principal,
                "PrincipalImpersonate",
                f"/principals/{pid}",
                new_request_id(),
                {**self._session.caller, **(caller or {})},
                self._ctx.clock().timestamp(),
            )
            event.result = "Forbidden"
            self._ctx.audit.record(event)
            raise ForbiddenError(
                f"Principal {self._session.principal!r} may not act as {pid}: only the vault administrator can",
                inner_code="ForbiddenByRbac",
            )
        self.access.require_principal(pid)
        return self._view(pid, caller)

    def as_authenticated(self, principal_id: str, *, caller: dict[str, Any] | None = None) -> Self:
        """A view acting as *principal_id*, which a trusted front end authenticated itself.

        For the REST server (a bearer token it issued and verified) and the Unix-socket front
        end (``SO_PEERCRED``): no client secret is checked here, so only the administrator's
        vault object may create such views. ``"admin"`` gives an administrator view with
        *caller* recorded in its audit events.
        """
        self._require_open()
        if not self._session.is_admin:
            raise ForbiddenError(
                f"Principal {self._session.principal!r} may not act as {principal_id}: "
                "only the vault administrator can",
                inner_code="ForbiddenByRbac",
            )
        if principal_id == ADMIN:
            return type(self)(self._ctx, Session(ADMIN, caller=caller), owner=False, access_kdf=self._access_kdf)
        self.access.require_principal(principal_id)
        return self._view(principal_id, caller)

    def record_sign_in(self, principal_id: str, operation_name: str, caller: dict[str, Any], result: str) -> None:
        """Audit a sign-in a trusted front end decided itself (the server's token endpoints:
        client assertions, managed identity by OS user); administrator's handle only."""
        self._require_open()
        if not self._session.is_admin:
            raise ForbiddenError("only the vault administrator's handle records sign-ins", inner_code="ForbiddenByRbac")
        event = PendingEvent(
            principal_id,
            operation_name,
            "/",
            new_request_id(),
            {**self._session.caller, **caller},
            self._ctx.clock().timestamp(),
        )
        event.result = result
        self._ctx.audit.record(event)

    def _view(self, pid: str, caller: dict[str, Any] | None) -> Self:
        session = Session(pid, authorizer=self.access.authorizer(pid), caller=caller)
        view = type(self)(self._ctx, session, owner=False, access_kdf=self._access_kdf)
        return view
