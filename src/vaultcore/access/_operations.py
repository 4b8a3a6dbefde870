"""Every public operation passes through here: authorisation, then audit.

A :class:`Session` is *who* is calling (the administrator who unlocked the vault, an
application principal, or an OS user). Client methods are decorated with
:func:`operation`, which names the Azure-style operation (``SecretGet``), the data action
it needs (``Microsoft.KeyVault/vaults/secrets/getSecret/action``) and the scope it acts on
(``/secrets/NAME`` or the vault ``/``). The decorator:

1. checks the session's role assignments (``ForbiddenError`` naming the missing action);
2. publishes the pending audit event, so a write transaction commits it atomically with
   the mutation (see ``VaultContext.write``);
3. records the outcome (success, denied, not found, ...) and hands events that did not
   ride in a mutation to the audit log's group commit.
"""

from __future__ import annotations

import functools
import itertools
import os
import re
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar

from vaultcore.access._audit import AuditLog, PendingEvent, caller_json
from vaultcore.crypto._bindings import NO_EVENT
from vaultcore.crypto._bindings import push_event as _push_event
from vaultcore.engine._context import utc_now
from vaultcore.exceptions import ForbiddenError, VaultError

if TYPE_CHECKING:
    from vaultcore.crypto._bindings import EventTemplate
    from vaultcore.engine._context import VaultContext

__all__ = ["ADMIN", "FastOp", "Session", "operation", "read_event", "run_fast", "url_path"]

P = ParamSpec("P")
R = TypeVar("R")

ADMIN = "admin"
_REQ_PREFIX = os.urandom(4).hex()
_req_counter = itertools.count(1)


#: Set by a front end (the REST server) to the request id of the request being served, so
#: audit events carry the id the client sees; otherwise each operation gets a fresh one.
current_request_id: ContextVar[str | None] = ContextVar("vaultcore_request_id", default=None)


def new_request_id() -> str:
    return current_request_id.get() or f"{_REQ_PREFIX}-{next(_req_counter):012x}"


class Session:
    """Who performs operations, and what they may do."""

    def __init__(
        self,
        principal: str,
        *,
        authorizer: Callable[[str, str], bool] | None = None,
        caller: dict[str, Any] | None = None,
    ) -> None:
        self.principal = principal
        self._authorizer = authorizer
        self.caller = {"pid": os.getpid(), "uid": os.getuid() if hasattr(os, "getuid") else None, **(caller or {})}
        self.caller_json = caller_json(self.caller)  # serialised once, not per audited event

    @property
    def is_admin(self) -> bool:
        return self._authorizer is None

    def allowed(self, action: str, scope: str) -> bool:
        return self._authorizer is None or self._authorizer(action, scope)


class _HasSession(Protocol):
    _ctx: VaultContext
    _session: Session


def _result_of(exc: BaseException) -> str:
    if isinstance(exc, VaultError):
        return exc.code
    return "InternalError"


def operation(
    name: str,
    action: str,
    scope: Callable[..., str] | None = None,
    *,
    object_id: Callable[[Any], str | None] | None = None,
    pure: bool = False,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a client method as an audited, authorised operation.

    *scope* receives the method's arguments and returns the scope path (``/secrets/x``);
    *object_id* receives the result and returns the object id with version for the event.
    *pure*: the operation never writes to the vault and calls no other operation (key
    operations); for an administrator it then runs with its success event built and queued
    in C (:func:`read_event`), and only a failure takes the event object of Python.
    """

    def deco(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            # The hot path of every operation: kept free of context managers and properties.
            client: _HasSession = args[0]  # type: ignore[assignment]
            ctx = client._ctx
            session = client._session
            audit = ctx.audit
            if pure and session._authorizer is None:
                template = read_event(client, name, "")
                if template is not None:  # (held until the event is queued)
                    return _run_pure(fn, args, kwargs, template, name, scope, object_id)
            if scope is not None:
                try:
                    target = scope(*args[1:], **kwargs)
                except TypeError:
                    target = "/"
            else:
                target = getattr(client, "_default_scope", "/")
            event = PendingEvent(
                session.principal,
                name,
                target,
                new_request_id(),
                session.caller,
                ctx.timestamp(),
                session.caller_json,
            )
            if not session.allowed(action, target):
                event.result = "Forbidden"
                audit.record(event)
                raise ForbiddenError(
                    f"Principal {session.principal!r} is not authorized to perform {name} on {target}: "
                    f"missing permission {action}",
                    inner_code="ForbiddenByRbac",
                )
            local = audit._local
            if local.__dict__.get("event") is not None:  # nested: audited by the outer operation
                return fn(*args, **kwargs)
            local.event = event
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                event.result = _result_of(exc)
                local.event = None
                audit.record(event)
                raise
            local.event = None
            if object_id is not None:
                try:
                    found = object_id(result)
                except (AttributeError, TypeError):
                    found = None
                if found:
                    event.object_id = found
            audit.record(event)
            return result

        return wrapper

    return deco


def _target_of(client: Any, scope: Callable[..., str] | None, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """The scope of an operation call (what its event names when the result does not)."""
    if scope is not None:
        try:
            return scope(*args[1:], **kwargs)
        except TypeError:
            return "/"
    return getattr(client, "_default_scope", "/")  # type: ignore[no-any-return]


def _run_pure(
    fn: Callable[..., R],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    template: EventTemplate,
    name: str,
    scope: Callable[..., str] | None,
    object_id: Callable[[Any], str | None] | None,
) -> R:
    """A pure operation by an administrator: the call, then its success event queued in C
    through *template*; a failure (or an object id C will not take) is recorded as the
    decorated path records it."""
    client = args[0]
    audit: AuditLog = client._ctx.audit
    try:
        result = fn(*args, **kwargs)
    except BaseException as exc:
        _record(client, name, _target_of(client, scope, args, kwargs), _result_of(exc))
        raise
    if template.address:
        found = None
        if object_id is not None:
            try:
                found = object_id(result)
            except (AttributeError, TypeError):
                found = None
        oid = found or _target_of(client, scope, args, kwargs)
        waiting = template.push(oid)
        if waiting is None:
            _record(client, name, oid, "success")
        elif waiting >= audit.backlog:  # the flusher lags: flush here
            audit.flush()
    return result


def _record(client: Any, name: str, object_id: str, result: str) -> None:
    session: Session = client._session
    ctx: VaultContext = client._ctx
    event = PendingEvent(
        session.principal, name, object_id, new_request_id(), session.caller, ctx.timestamp(), session.caller_json
    )
    event.result = result
    ctx.audit.record(event)


def read_event(client: Any, operation: str, id_prefix: str, known: list[Any] | None = None) -> EventTemplate | None:
    """What a fused operation of *client* queues as its event when it succeeds, if it may
    run with no Python around it (what :func:`operation` would do on success, done in C):
    the audit log's native template for object ids starting with *id_prefix*
    (``NO_EVENT`` when successful operations are not recorded); the caller holds it for the
    length of the call. None when the decorated path must run: a session with roles to
    check, a call inside another operation, a front end's request id, a vault clock that is
    not the system's (the event's time is taken in C), or ``audit="sync"``.

    *known*: a one-item list in which a caller that always passes the same client and
    *operation* keeps the template found in the log's table of templates, with that table
    (one tuple: a thread sees both or neither); it serves while that table is the log's (a
    table never replaces a template; a fork, or another log, makes a new table)."""
    session: Session = client._session
    ctx: VaultContext = client._ctx
    audit: AuditLog = ctx.audit
    # _plain_call's checks, inline (one frame less on every fused read)
    if (
        session._authorizer is not None
        or ctx.clock is not utc_now
        or _get_request_id() is not None
        or audit._local.__dict__.get("event") is not None
    ):
        return None
    mode = audit.mode
    if mode == "group":
        table = audit._templates
        if known is not None:
            seen = known[0]
            if seen is not None and seen[0] is table:
                return seen[1]  # type: ignore[no-any-return]
        template = table.get((session, operation))  # (read_template's first step, inline)
        if template is None:  # (made now; remembered from the table on the next call)
            return audit.read_template(session, operation, id_prefix)
        if known is not None:
            known[0] = (table, template)
        return template
    if mode == "off":
        return NO_EVENT
    return audit.read_template(session, operation, id_prefix)


def _plain_call(session: Session, ctx: VaultContext, audit: AuditLog) -> bool:
    """Whether a call may skip the decorated path (what :func:`read_event`, inline, and
    :func:`run_fast` both require): no roles to check, the system clock (the event's time
    is taken in C), no front end's request id, and no enclosing operation (the thread's
    dict of the log's local state: a thread that never ran an operation has no ``event``,
    and ``getattr`` on a ``threading.local`` pays for an AttributeError then)."""
    return (
        session._authorizer is None
        and ctx.clock is utc_now
        and _get_request_id() is None
        and audit._local.__dict__.get("event") is None
    )


class FastOp:
    """What a pure operation learnt on its decorated path for one key version, so that the
    next call can skip that path (:func:`run_fast`): the store's check that the version's
    sealed record is still the one read (``same()``: 1 or 0, see ``vc_watch_same``), the
    operation's time window ``[lo, hi)`` on it, the operation bound to its key, the
    template's key (session, operation name), the audited object id (ASCII bytes) and what
    makes the result (``make(key_id, algorithm, value)``)."""

    __slots__ = ("alg", "hi", "kid", "lo", "make", "name", "oid", "op", "same", "tkey")

    def __init__(
        self,
        same: Callable[[], int],
        window: tuple[float, float],
        op: Callable[..., Any],
        session: Session,
        name: str,
        oid: bytes,
        kid: str,
        alg: Any,
        make: Callable[[str, Any, Any], Any],
    ) -> None:
        self.same = same
        self.lo, self.hi = window
        self.op = op
        self.tkey = (session, name)
        self.name = name
        self.oid = oid
        self.kid = kid
        self.alg = alg
        self.make = make


_time = time.time
_get_request_id = current_request_id.get


def run_fast(client: Any, fast: FastOp, args: tuple[Any, ...]) -> Any:
    """A pure operation by an administrator on an unchanged record, or None: then the caller
    runs the decorated operation, which checks, runs and audits everything (a failure
    included: nothing here raises, records or queues anything unless the call succeeds).

    What the decorated path would check is checked here, cheaply: the vault open, the
    session without roles, the system clock, no front end's request id, no enclosing
    operation, the audit mode and its C template; the sealed record unchanged since the
    path read it (``fast.same()``, one C call: a change by any process is seen); the time
    within the operation's window. The success event is queued in C as ``_run_pure`` does.
    """
    ctx: VaultContext = client._ctx
    audit: AuditLog = ctx.audit
    mode = audit.mode
    if mode == "group":
        template = audit._templates.get(fast.tkey)
        if template is None:
            return None
    elif mode == "off":
        template = None
    else:
        return None
    if ctx._closed or not _plain_call(client._session, ctx, audit) or not fast.same():
        return None
    now = _time()
    if not fast.lo <= now < fast.hi:  # (integer bounds: the same as int(now))
        return None
    try:
        value = fast.op(*args)
    except Exception:
        return None  # the decorated path runs it again and raises and audits its error
    if template is not None:
        waiting = _push_event(template.address, fast.oid)
        if waiting < 0:
            _record(client, fast.name, fast.oid.decode(), "success")
        elif waiting >= audit.backlog:  # the flusher lags: flush here
            audit.flush()
    return fast.make(fast.kid, fast.alg, value)


#: The scope (and audited object) of a request whose name is invalid: no valid name collides.
INVALID_NAME = "<invalid-name>"
_VALID_NAME = re.compile(r"[0-9A-Za-z-]{1,127}").fullmatch


def name_scope(collection: str) -> Callable[..., str]:
    """Scope function for methods whose first argument is an object name."""

    def scope(name: object = None, *args: Any, **kwargs: Any) -> str:
        if name is None:
            name = kwargs.get("name")
        if isinstance(name, str) and _VALID_NAME(name):
            return f"/{collection}/{name.lower()}"
        # Never into the audit log: an invalid "name" is often a value passed by mistake.
        return f"/{collection}/{INVALID_NAME}" if isinstance(name, str) else "/"

    return scope


def id_of(result: Any) -> str | None:
    """The versioned id of a result (``.id`` or ``.properties.id``), as a scope-style path."""
    ident = getattr(result, "id", None) or getattr(result, "key_id", None)
    if ident is None:
        props = getattr(result, "properties", None)
        ident = getattr(props, "id", None)
    return url_path(ident) if isinstance(ident, str) else None


def url_path(ident: str) -> str:
    """The path of an object id URL (``https://vault/keys/k/v`` -> ``/keys/k/v``): the audited object."""
    marker = ident.find("/", ident.find("//") + 2)
    return ident[marker:] if marker > 0 else ident
