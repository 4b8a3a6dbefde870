"""PKCS#11 layer: the root key, rollback counter and HSM-backed keys inside a token.

The only module of vaultcore that imports ``pkcs11`` (python-pkcs11). Everything that
touches the token goes through one process-wide :class:`_TokenManager`, which exists to
defuse the traps measured with SoftHSM 2.6.1 + python-pkcs11 0.10.1 (docs/hsm.md):

* one ``threading.RLock`` around every PKCS#11 call: python-pkcs11 initialises modules with
  ``C_Initialize(NULL)`` (no module locking) yet releases the GIL, so SoftHSM crashes under
  threads without it;
* one long-lived login session per (module, token) per process: login state is per process
  and closing a logged-in session logs every session out. The session is opened without a
  PIN and logged in afterwards, so a wrong PIN never leaks a session;
* ``fcntl.flock`` on a file next to the token directory around initialisation, login and
  object writes (every ``C_Login`` rewrites SoftHSM's ``token.object``), plus retries with
  backoff on ``NoSuchToken``/``GeneralError`` at start-up;
* re-initialisation after ``fork()`` and when ``SOFTHSM2_CONF`` changes (SoftHSM reads it
  once, in ``C_Initialize``); stale object handles are looked up once more;
* every ``pkcs11`` exception is translated in :func:`_translate`, the one mapping table.

Parts that need no binding live beside it and are re-exported here, so callers import
from this module only: :mod:`vaultcore.hsm._config` (:class:`Pkcs11Config`, constants),
:mod:`vaultcore.hsm._types` (:class:`HsmKeyRef`, :class:`HsmEncrypted`, plain algorithm
tables), :mod:`vaultcore.hsm._softhsm` and :mod:`vaultcore.hsm._raw`. What remains here
calls the library (token manager, error translation, token and root-key operations).

Root-key blob format (:meth:`HsmRootKey.wrap`)::

    version (1 byte, 0x01) || nonce (12 bytes) || AES-256-GCM ciphertext || tag (16 bytes)

with ``AAD = version || caller aad``; the GCM operation runs inside the token.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import hmac
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pkcs11
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pkcs11 import (
    DEFAULT,
    MGF,
    Attribute,
    GCMParams,
    KeyType,
    Mechanism,
    MechanismFlag,
    ObjectClass,
)
from pkcs11 import exceptions as p11e

from vaultcore.exceptions import (
    ConflictError,
    HSMConfigurationError,
    HSMError,
    HSMUnavailableError,
    IntegrityError,
    InvalidParameterError,
    NotFoundError,
    RollbackError,
    UnauthorizedError,
    UnsupportedError,
    VaultError,
)
from vaultcore.hsm import _raw, _softhsm
from vaultcore.hsm._config import (
    _APPLICATION,
    _MAX_RANDOM,
    _MAX_WRAP_INPUT,
    _NONCE_LEN,
    _RETRY_DELAYS,
    _TAG_LEN,
    Pkcs11Config,
    default_module,
    generation_label,
)
from vaultcore.hsm._config import ROOT_BLOB_VERSION as ROOT_BLOB_VERSION  # re-exported (tests)
from vaultcore.hsm._types import (
    _AZURE_ONLY_ALGS,
    _BACKUP_REFUSAL,
    _CURVES,
    _DIGEST_INFO,
    _ECDSA_ALGS,
    _GCM_ALGS,
    _KW_ALGS,
    _KW_PADDED,
    _OCT_SIZES,
    _RSA_DIGEST_LEN,
    _RSA_SIZES,
    HsmEncrypted,
    HsmKeyRef,
    _check_bytes,
    _parse_ec_point,
)
from vaultcore.hsm._types import _OAEP256_REFUSAL as _OAEP256_REFUSAL  # re-exported (_key_handles)

__all__ = [
    "HsmEncrypted",
    "HsmKeyRef",
    "HsmRootKey",
    "HsmToken",
    "Pkcs11Config",
    "default_module",
    "generation_label",
]

_log = logging.getLogger("vaultcore.hsm")
_T = TypeVar("_T")


# --------------------------------------------------------------------------- error mapping


class _Missing(Exception):
    """Internal: a looked-up object is absent (becomes NotFoundError after health checks)."""


_STALE = (
    p11e.ObjectHandleInvalid,
    p11e.KeyHandleInvalid,
    p11e.SessionHandleInvalid,
    p11e.SessionClosed,
    p11e.UserNotLoggedIn,
)
_RETRYABLE_AT_START = (p11e.NoSuchToken, p11e.GeneralError)
_BAD_PIN = (p11e.PinIncorrect, p11e.PinInvalid, p11e.PinLenRange)
_NO_TOKEN = (p11e.NoSuchToken, p11e.TokenNotPresent, p11e.TokenNotRecognised, p11e.SlotIDInvalid)
_DEVICE = (p11e.DeviceRemoved, p11e.DeviceError, p11e.DeviceMemory)
_UNSUPPORTED = (
    p11e.MechanismInvalid,
    p11e.MechanismParamInvalid,
    p11e.FunctionNotSupported,
    p11e.ArgumentsBad,
    p11e.KeyTypeInconsistent,
)
# Ambiguous codes SoftHSM returns for a bad tag, bad padding or tampered wrapped key.
_AUTH_FAILED = (
    p11e.GeneralError,
    p11e.FunctionFailed,
    p11e.EncryptedDataInvalid,
    p11e.EncryptedDataLenRange,
    p11e.WrappedKeyInvalid,
    p11e.WrappedKeyLenRange,
    p11e.DataInvalid,
    p11e.DataLenRange,
)
# CK_RV values of a raw C_Login, as the python-pkcs11 classes _translate understands.
_LOGIN_RV: dict[int, type[p11e.PKCS11Error]] = {
    0x05: p11e.GeneralError,
    0x06: p11e.FunctionFailed,
    0x30: p11e.DeviceError,
    0x31: p11e.DeviceMemory,
    0x32: p11e.DeviceRemoved,
    0xA0: p11e.PinIncorrect,
    0xA1: p11e.PinInvalid,
    0xA2: p11e.PinLenRange,
    0xA3: p11e.PinExpired,
    0xA4: p11e.PinLocked,
    0xB3: p11e.SessionHandleInvalid,
    0xE0: p11e.TokenNotPresent,
    0x100: p11e.UserAlreadyLoggedIn,
    0x102: p11e.UserPinNotInitialized,
}


@dataclasses.dataclass(frozen=True)
class _Where:
    """What was being done, for error messages (never holds a secret)."""

    module: str
    token_label: str
    conf: str | None
    tokendir: str | None
    op: str
    integrity: bool = False
    started: bool = True


def _translate(exc: BaseException, where: _Where) -> VaultError:
    """Map a python-pkcs11 (or internal) exception to vaultcore's tree: the one table.

    python-pkcs11 exceptions carry no message and no CK_RV, so the class and the context
    decide. A vanished SoftHSM token directory wins over everything once the module ran.
    """
    if isinstance(exc, VaultError):
        return exc
    label, module, op = where.token_label, where.module, where.op
    name = type(exc).__name__
    if where.started and where.tokendir and not os.path.isdir(where.tokendir):
        return HSMUnavailableError(
            f"SoftHSM2 token directory '{where.tokendir}' is gone (deleted while running?); "
            f"{op} on PKCS#11 token '{label}' failed"
        )
    if isinstance(exc, _Missing):
        return NotFoundError(f"{exc.args[0]} not found in PKCS#11 token '{label}'")
    if isinstance(exc, _BAD_PIN):
        return UnauthorizedError(f"wrong PIN for PKCS#11 token '{label}'")
    if isinstance(exc, p11e.PinLocked):
        return UnauthorizedError(f"the user PIN of PKCS#11 token '{label}' is locked")
    if isinstance(exc, p11e.UserAlreadyLoggedIn):
        return UnauthorizedError(f"PKCS#11 token '{label}' is already logged in with another PIN")
    if isinstance(exc, p11e.PinExpired):
        return UnauthorizedError(f"the user PIN of PKCS#11 token '{label}' has expired")
    if isinstance(exc, p11e.UserPinNotInitialized):
        return HSMConfigurationError(f"PKCS#11 token '{label}' has no user PIN set")
    if isinstance(exc, _NO_TOKEN):
        return HSMUnavailableError(f"PKCS#11 token '{label}' not found in module {module}")
    if isinstance(exc, p11e.MultipleTokensReturned):
        return HSMConfigurationError(f"several PKCS#11 tokens are labelled '{label}' in module {module}")
    if isinstance(exc, p11e.MultipleObjectsReturned):
        return HSMConfigurationError(f"{op}: several objects match in PKCS#11 token '{label}'")
    if isinstance(exc, p11e.NoSuchKey):
        return NotFoundError(f"{op}: key not found in PKCS#11 token '{label}'")
    if isinstance(exc, _DEVICE):
        return HSMUnavailableError(f"PKCS#11 token '{label}' failed during {op} ({name})")
    if not where.started:
        if isinstance(exc, p11e.GeneralError) and where.conf:
            return HSMConfigurationError(
                f"PKCS#11 module {module} failed to initialise with SoftHSM2 configuration '{where.conf}'"
            )
        if type(exc) is p11e.PKCS11Error:  # python-pkcs11 raises the base class on dlopen
            detail = str(exc).split(": ", 1)[-1] if str(exc) else "unknown error"
            return HSMConfigurationError(f"cannot load PKCS#11 module '{module}': {detail}")
        return HSMConfigurationError(f"PKCS#11 module {module} failed during {op} ({name})")
    if where.integrity and isinstance(exc, _AUTH_FAILED):
        return IntegrityError()
    if isinstance(exc, _UNSUPPORTED):
        return UnsupportedError(f"{op} is not supported by this HSM ({name})")
    if isinstance(exc, _STALE):
        return HSMError(f"{op}: PKCS#11 session or object handle went stale twice ({name})")
    return HSMError(f"{op} failed in PKCS#11 token '{label}' ({name})")


# --------------------------------------------------------------------------- token manager


class _LibState:
    """One loaded module (keyed by real path), its config and its tokens."""

    def __init__(self, path: str, shown: str, family: str, softhsm_backed: bool) -> None:
        self.path = path
        self.shown = shown  # the path as configured, for messages
        self.family = family
        self.softhsm_backed = softhsm_backed
        self.lib: Any = None
        self.conf: str | None = None
        self.conf_env: str | None = None
        self.tokendir: str | None = None
        self.raw: _raw.RawModule | None = None
        self.raw_checked = False
        self.stale = False  # set in a forked child: finalize + initialize before use
        self.tokens: dict[str, _TokenState] = {}


class _TokenState:
    """The login session and object-handle cache of one token in this process."""

    def __init__(self, lib: _LibState, label: str, lock_path: str) -> None:
        self.lib = lib
        self.label = label
        self.lock_path = lock_path
        self.token: Any = None
        self.session: Any = None
        self.pin_digest: bytes | None = None
        self.objects: dict[tuple[Any, ...], Any] = {}

    def where(self, op: str, *, integrity: bool = False) -> _Where:
        return _Where(self.lib.shown, self.label, self.lib.conf, self.lib.tokendir, op, integrity)


class _TokenManager:
    """Process-wide owner of every PKCS#11 library, session and lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._libs: dict[str, _LibState] = {}
        self._realpaths: dict[str, str] = {}
        # (module, token label) -> PIN digest of a login a forked child inherited from its
        # parent: a module we cannot finalize in the child (the p11-kit proxy) keeps it.
        self._inherited: dict[tuple[str, str], bytes] = {}
        self._flocks: dict[str, list[int]] = {}
        self._salt = os.urandom(16)

    # ----- fork handling (registered with os.register_at_fork at import)
    def before_fork(self) -> None:
        self.lock.acquire()  # no PKCS#11 call is in flight while the process is copied

    def after_fork_parent(self) -> None:
        self.lock.release()

    def after_fork_child(self) -> None:
        self.lock = threading.RLock()
        for fd, _depth in self._flocks.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._flocks.clear()
        self._inherited.clear()
        for state in self._libs.values():
            for token_state in state.tokens.values():
                if token_state.session is not None and token_state.pin_digest is not None:
                    self._inherited[(state.path, token_state.label)] = token_state.pin_digest
            state.stale = True
            state.tokens.clear()  # drop handles without calling the module

    # ----- locks
    @contextlib.contextmanager
    def flock(self, path: str) -> Iterator[None]:
        """Re-entrant (within this process) exclusive flock; callers hold ``self.lock``."""
        entry = self._flocks.get(path)
        if entry is not None:
            entry[1] += 1
            try:
                yield
            finally:
                entry[1] -= 1
            return
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o660)
        except OSError as exc:
            raise HSMConfigurationError(f"cannot open the PKCS#11 lock file '{path}' ({exc.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._flocks[path] = [fd, 1]
            try:
                yield
            finally:
                del self._flocks[path]
        finally:
            os.close(fd)

    def _pin_digest(self, pin: str) -> bytes:
        return hashlib.sha256(self._salt + pin.encode("utf-8")).digest()

    # ----- library
    def _lib(self, config: Pkcs11Config) -> _LibState:
        path = self._realpaths.get(config.module_path)
        if path is None:
            path = self._realpaths[config.module_path] = os.path.realpath(config.module_path)
        state = self._libs.get(path)
        if state is None:
            family = _softhsm.module_family(path)
            backed = family == "softhsm" or (family == "p11-kit" and _softhsm.p11kit_exposes_softhsm())
            for other in self._libs.values():
                if backed and other.softhsm_backed:
                    raise HSMConfigurationError(
                        f"cannot load PKCS#11 module '{config.module_path}': '{other.shown}' "
                        "already drives SoftHSM2 in this process (load only one of them)"
                    )
            state = _LibState(path, config.module_path, family, backed)
            self._initialize(state, config, first=True)
            self._libs[path] = state
            return state
        if state.stale:
            self._initialize(state, config, first=False)
        elif state.softhsm_backed and os.environ.get("SOFTHSM2_CONF") != state.conf_env:
            _log.debug("SOFTHSM2_CONF changed; re-initialising %s", path)
            self._initialize(state, config, first=False)
        elif not state.lib.initialized:
            self._initialize(state, config, first=False)
        return state

    def _initialize(self, state: _LibState, config: Pkcs11Config, *, first: bool) -> None:
        """(Re)load the module: C_Finalize (if needed) + C_Initialize, with retries.

        The SoftHSM2 config is checked first, so a bad new ``SOFTHSM2_CONF`` leaves the
        module as it was. Finalising closes every session, so cached state is dropped.
        """
        conf = tokendir = None
        if state.softhsm_backed:
            conf = _softhsm.softhsm_conf_path()
            tokendir = _softhsm.softhsm_tokendir(conf)
        if not state.stale:  # a forked child keeps what its parent's login left behind
            for key in [key for key in self._inherited if key[0] == state.path]:
                del self._inherited[key]
        state.tokens.clear()
        state.stale = False
        state.conf, state.tokendir = conf, tokendir
        state.conf_env = os.environ.get("SOFTHSM2_CONF")
        where = _Where(state.shown, config.token_label, conf, tokendir, "initialise", started=False)
        lock_path = _softhsm.lock_path_for(tokendir, state.path)

        def attempt() -> None:
            with self.flock(lock_path):
                if state.lib is None:
                    state.lib = pkcs11.lib(state.path)
                else:
                    with contextlib.suppress(p11e.PKCS11Error):
                        state.lib.finalize()  # a forked child or a new SOFTHSM2_CONF
                    state.lib.initialize()

        try:
            self._retry(attempt)
        except p11e.PKCS11Error as exc:
            raise _translate(exc, where) from exc
        if first:
            state.raw_checked = False

    @staticmethod
    def _retry(fn: Callable[[], _T]) -> _T:
        for delay in (*_RETRY_DELAYS, None):
            try:
                return fn()
            except _RETRYABLE_AT_START as exc:
                if delay is None:
                    raise
                _log.debug("PKCS#11 start-up: %s, retrying in %.0f ms", type(exc).__name__, delay * 1e3)
                time.sleep(delay)
        raise AssertionError("unreachable")

    # ----- token + login
    def ready(self, config: Pkcs11Config) -> _TokenState:
        """The logged-in token state for ``config`` (loading, finding, logging in as needed)."""
        lib = self._lib(config)
        state = lib.tokens.get(config.token_label)
        if state is not None and state.session is not None:
            digest = self._pin_digest(config.pin)
            if state.pin_digest is None or not hmac.compare_digest(state.pin_digest, digest):
                raise UnauthorizedError(f"wrong PIN for PKCS#11 token '{config.token_label}'")
            return state
        if state is None:
            lock_path = _softhsm.lock_path_for(lib.tokendir, f"{lib.path}\0{config.token_label}")
            state = _TokenState(lib, config.token_label, lock_path)
        where = state.where("login")
        try:
            self._retry(lambda: self._open(lib, state, config))
        except p11e.PKCS11Error as exc:
            raise _translate(exc, where) from exc
        lib.tokens[config.token_label] = state
        return state

    def _open(self, lib: _LibState, state: _TokenState, config: Pkcs11Config) -> None:
        with self.flock(state.lock_path):
            state.token = lib.lib.get_token(token_label=config.token_label)
            state.objects.clear()
            state.session = self._login(lib, state.token, config.pin)
            state.pin_digest = self._pin_digest(config.pin)

    def _login(self, lib: _LibState, token: Any, pin: str) -> Any:
        """Open a R/W session and log it in without ever leaking a session."""
        session = token.open(rw=True)  # PIN-less: C_OpenSession only
        if not lib.raw_checked:
            lib.raw_checked = True
            lib.raw = None
            with contextlib.suppress(OSError, AttributeError):
                probe = _raw.RawModule(lib.path)
                if probe.shares_session(session.handle, token.slot.slot_id, _raw.CKS_RW_PUBLIC_SESSION):
                    lib.raw = probe
        raw = lib.raw
        if raw is None:
            return self._login_fallback(lib, session, token, pin)
        secret = pin.encode("utf-8")
        rv = raw.login(session.handle, secret)
        if rv == _raw.CKR_USER_ALREADY_LOGGED_IN:
            # Logged in by someone we do not track: log out and in again to check this PIN.
            raw.logout(session.handle)
            rv = raw.login(session.handle, secret)
        if rv != _raw.CKR_OK:
            session.close()  # PIN-less session: C_CloseSession only
            raise _LOGIN_RV.get(rv, p11e.PKCS11Error)()
        return session

    def _login_fallback(self, lib: _LibState, session: Any, token: Any, pin: str) -> Any:
        """Login through python-pkcs11 only (modules such as the p11-kit proxy).

        ``Token.open(user_pin=...)`` leaks its session when C_Login fails, so a failure
        re-initialises the module (closing every session of this process on it); after
        ``UserAlreadyLoggedIn`` the login is retried once. A forked child of the proxy
        cannot finalize SoftHSM and inherits its parent's login: the PIN-less session is
        then already logged in and is kept when the PIN matches the parent's.
        """
        inherited = self._inherited.get((lib.path, token.label))
        if inherited is not None and hmac.compare_digest(inherited, self._pin_digest(pin)):
            return session
        session.close()
        for attempt in (1, 2):
            try:
                return token.open(rw=True, user_pin=pin)
            except p11e.PKCS11Error as exc:
                for other in lib.tokens.values():
                    other.session = None
                    other.objects.clear()
                with contextlib.suppress(p11e.PKCS11Error):
                    lib.lib.finalize()
                lib.lib.initialize()
                if attempt == 2 or not isinstance(exc, p11e.UserAlreadyLoggedIn):
                    raise
                token = lib.lib.get_token(token_label=token.label)
        raise AssertionError("unreachable")

    # ----- running operations
    def run(
        self,
        config: Pkcs11Config,
        op: str,
        fn: Callable[[_TokenState], _T],
        *,
        write: bool = False,
        integrity: bool = False,
    ) -> _T:
        """Run ``fn`` on the logged-in token under the process lock (and flock if ``write``).

        Stale sessions or handles are refreshed and ``fn`` runs once more; every error
        leaves as a :class:`VaultError`.
        """
        with self.lock:
            for attempt in (1, 2):
                state = self.ready(config)
                try:
                    if write:
                        with self.flock(state.lock_path):
                            return fn(state)
                    return fn(state)
                except _STALE as exc:
                    state.objects.clear()
                    if not isinstance(exc, (p11e.ObjectHandleInvalid, p11e.KeyHandleInvalid)):
                        self._drop_session(state)
                    if attempt == 2:
                        raise _translate(exc, state.where(op, integrity=integrity)) from exc
                except (p11e.PKCS11Error, _Missing) as exc:
                    raise _translate(exc, state.where(op, integrity=integrity)) from exc
            raise AssertionError("unreachable")

    @staticmethod
    def _drop_session(state: _TokenState) -> None:
        """Forget a session that stopped working, closing it if the module still knows it."""
        session, state.session, state.pin_digest = state.session, None, None
        if session is not None:
            with contextlib.suppress(p11e.PKCS11Error):
                session.close()

    def session_count(self, config: Pkcs11Config, *, whole_module: bool) -> int | None:
        """Open sessions of this process on the token or module (None if it cannot tell)."""
        with self.lock:
            state = self.ready(config)
            raw = state.lib.raw
            if raw is None:
                return None
            return raw.count_sessions(None if whole_module else state.token.slot.slot_id)


_MANAGER = _TokenManager()
os.register_at_fork(
    before=lambda: _MANAGER.before_fork(),
    after_in_parent=lambda: _MANAGER.after_fork_parent(),
    after_in_child=lambda: _MANAGER.after_fork_child(),
)


def _find(state: _TokenState, cache_key: tuple[Any, ...], attrs: dict[Any, Any], what: str) -> Any:
    """One object matching ``attrs`` (cached handle; the lock is held by the caller)."""
    obj = state.objects.get(cache_key)
    if obj is None:
        found = list(state.session.get_objects(attrs))  # exhaust: no dangling FindObjects
        if not found:
            raise _Missing(what)
        if len(found) > 1:
            raise p11e.MultipleObjectsReturned()
        obj = found[0]
        state.objects[cache_key] = obj
    return obj


def _protection(obj: Any, secret_attribute: Attribute) -> dict[str, bool]:
    """Protection flags of a key object, and whether the token hands out its secret part."""
    flags = obj.get_attributes(
        [
            Attribute.SENSITIVE,
            Attribute.EXTRACTABLE,
            Attribute.ALWAYS_SENSITIVE,
            Attribute.NEVER_EXTRACTABLE,
        ]
    )
    try:
        obj[secret_attribute]
        readable = True
    except p11e.AttributeSensitive:
        readable = False
    return {
        "sensitive": bool(flags[Attribute.SENSITIVE]),
        "extractable": bool(flags[Attribute.EXTRACTABLE]),
        "always_sensitive": bool(flags[Attribute.ALWAYS_SENSITIVE]),
        "never_extractable": bool(flags[Attribute.NEVER_EXTRACTABLE]),
        "value_readable": readable,
    }


# --------------------------------------------------------------------------- HSM keys

# PS*: hash + MGF for CKM_RSA_PKCS_PSS; RSA encryption mechanisms (plain tables: ``hsm._types``).
_PSS = {
    "PS256": (Mechanism.SHA256, MGF.SHA256, 32),
    "PS384": (Mechanism.SHA384, MGF.SHA384, 48),
    "PS512": (Mechanism.SHA512, MGF.SHA512, 64),
}
_RSA_ENC = {
    "RSA1_5": (Mechanism.RSA_PKCS, None),
    "RSA-OAEP": (Mechanism.RSA_PKCS_OAEP, (Mechanism.SHA_1, MGF.SHA1, None)),
}


def _wrap_bytes(state: _TokenState, kek: Any, key: bytes, mechanism: Mechanism) -> bytes:
    """Wrap *key* under *kek* in the token (SoftHSM wraps key objects only, so the bytes
    become a temporary, non-token session object that is destroyed at once)."""
    temp = state.session.create_object(
        {
            Attribute.CLASS: ObjectClass.SECRET_KEY,
            Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
            Attribute.VALUE: key,
            Attribute.TOKEN: False,
            Attribute.SENSITIVE: False,
            Attribute.EXTRACTABLE: True,
        }
    )
    try:
        return bytes(kek.wrap_key(temp, mechanism=mechanism))
    finally:
        temp.destroy()


def _kwp_wrap_unaligned(kek: Any, data: bytes) -> bytes:
    """RFC 5649 wrap of *data* whose length is not a multiple of 8, built on the token's AES-ECB.

    SoftHSM 2.6.1 wraps a generic secret of such a length as if it were zero-padded to the
    next 8 bytes (the length in the integrity block is wrong), and it takes no IV parameter
    for CKM_AES_KEY_WRAP; its unwrap is right. So this runs RFC 5649 itself (the alternative
    initial value with the data length, then RFC 3394's six rounds, section 2.2.1), with every
    block encryption done in the token: the key never leaves it.
    """
    aiv = b"\xa6\x59\x59\xa6" + len(data).to_bytes(4, "big")
    padded = data + bytes(-len(data) % 8)

    def block(chunk: bytes) -> bytes:
        return bytes(kek.encrypt(chunk, mechanism=Mechanism.AES_ECB))

    if len(padded) == 8:
        return block(aiv + padded)
    blocks = [padded[i : i + 8] for i in range(0, len(padded), 8)]
    a, n = aiv, len(blocks)
    for j in range(6):
        for i in range(n):
            out = block(a + blocks[i])
            a = (int.from_bytes(out[:8], "big") ^ (n * j + i + 1)).to_bytes(8, "big")
            blocks[i] = out[8:]
    return a + b"".join(blocks)


class HsmToken:
    """A logged-in PKCS#11 token: random bytes, rollback counter and HSM-backed keys.

    Construction loads the module, finds the token and logs in, so a bad configuration
    fails here. Instances are cheap handles onto the process-wide token manager and are
    safe to share between threads.
    """

    def __init__(self, config: Pkcs11Config) -> None:
        if not isinstance(config, Pkcs11Config):
            raise InvalidParameterError("config must be a Pkcs11Config")
        self._config = config
        with _MANAGER.lock:
            state = _MANAGER.ready(config)
            self._serial = bytes(state.token.serial).decode("ascii", "replace").strip()

    def __repr__(self) -> str:
        return f"HsmToken(module={self._config.module!r}, token_label={self._config.token_label!r})"

    def __reduce__(self) -> Any:
        raise TypeError("HsmToken holds a PIN and cannot be pickled")

    @property
    def config(self) -> Pkcs11Config:
        return self._config

    def _run(self, op: str, fn: Callable[[_TokenState], _T], **kw: bool) -> _T:
        return _MANAGER.run(self._config, op, fn, **kw)

    def describe(self) -> dict[str, str]:
        """Non-secret facts: module path, token label and serial."""
        return {
            "module": self._config.module_path,
            "token_label": self._config.token_label,
            "token_serial": self._serial,
        }

    def open_session_count(self, *, whole_module: bool = False) -> int | None:
        """Sessions this process has open on the token, or on every slot of the module.

        A diagnostic (leak checks); None when the module does not let us count.
        """
        return _MANAGER.session_count(self._config, whole_module=whole_module)

    # ----- randomness
    def random_bytes(self, n: int) -> bytes:
        """``n`` random bytes from the token's RNG (``C_GenerateRandom`` takes bits)."""
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= _MAX_RANDOM:
            raise InvalidParameterError(f"n must be an integer in 1..{_MAX_RANDOM}")
        out = self._run("generate random", lambda s: s.session.generate_random(n * 8))
        if len(out) != n:
            raise HSMError("token returned a short random buffer")
        return bytes(out)

    # ----- rollback counter
    def _generation_objects(self, state: _TokenState, label: str) -> list[tuple[Any, int]]:
        found = []
        attrs = {Attribute.CLASS: ObjectClass.DATA, Attribute.LABEL: label, Attribute.APPLICATION: _APPLICATION}
        for obj in list(state.session.get_objects(attrs)):
            value = obj[Attribute.VALUE]
            if len(value) != 8:
                raise IntegrityError("malformed generation counter in the token")
            found.append((obj, int.from_bytes(value, "big")))
        return found

    def read_generation(self, label: str) -> int:
        """The rollback counter stored under ``label`` (0 if never written)."""
        self._check_label(label)
        found = self._run("read generation", lambda s: self._generation_objects(s, label))
        return max((value for _obj, value in found), default=0)

    def write_generation(self, label: str, value: int) -> None:
        """Raise the counter to ``value``; refuses to go down (:class:`RollbackError`).

        Runs under the token flock. A new object is written before the old ones are
        destroyed, so a crash leaves at worst two objects and readers take the maximum.
        """
        self._check_label(label)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << 64:
            raise InvalidParameterError("generation must be an integer in 0..2**64-1")

        def write(state: _TokenState) -> None:
            found = self._generation_objects(state, label)
            current = max((v for _obj, v in found), default=0)
            if value < current:
                raise RollbackError(f"generation {value} is older than generation {current} recorded in the token")
            if found and value == current and len(found) == 1:
                return
            state.session.create_object(
                {
                    Attribute.CLASS: ObjectClass.DATA,
                    Attribute.TOKEN: True,
                    Attribute.PRIVATE: True,
                    Attribute.LABEL: label,
                    Attribute.APPLICATION: _APPLICATION,
                    Attribute.VALUE: value.to_bytes(8, "big"),
                }
            )
            for obj, _v in found:
                obj.destroy()

        self._run("write generation", write, write=True)

    @staticmethod
    def _check_label(label: str) -> None:
        if not isinstance(label, str) or not label:
            raise InvalidParameterError("label must be a non-empty string")

    # ----- HSM-backed keys
    def generate_hsm_key(
        self,
        kty: str,
        *,
        key_id: bytes,
        size: int | None = None,
        curve: str | None = None,
    ) -> HsmKeyRef:
        """Create ``RSA-HSM`` (size), ``EC-HSM`` (curve) or ``oct-HSM`` (size) in the token.

        Private and secret parts are token objects, sensitive and never extractable;
        public parts are token objects too (for JWK export). ``key_id`` is CKA_ID.
        """
        key_id = _check_bytes("key_id", key_id)
        if not 1 <= len(key_id) <= 64:
            raise InvalidParameterError("key_id must be 1..64 bytes")
        if kty == "RSA-HSM":
            size = 2048 if size is None else size
            if size not in _RSA_SIZES or curve is not None:
                raise InvalidParameterError(f"RSA-HSM size must be one of {_RSA_SIZES}")
            ref = HsmKeyRef(kty, key_id, size=size)
        elif kty == "EC-HSM":
            curve = "P-256" if curve is None else curve
            if curve not in _CURVES or size is not None:
                raise InvalidParameterError(f"EC-HSM curve must be one of {sorted(_CURVES)}")
            ref = HsmKeyRef(kty, key_id, curve=curve)
        elif kty == "oct-HSM":
            size = 256 if size is None else size
            if size not in _OCT_SIZES or curve is not None:
                raise InvalidParameterError(f"oct-HSM size must be one of {_OCT_SIZES}")
            ref = HsmKeyRef(kty, key_id, size=size)
        else:
            raise InvalidParameterError(f"unknown HSM key type '{kty}'")
        private = {
            Attribute.TOKEN: True,
            Attribute.PRIVATE: True,
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
        }

        def generate(state: _TokenState) -> None:
            existing = list(state.session.get_objects({Attribute.ID: key_id}))
            if existing:
                raise ConflictError(f"a key with id {key_id.hex()} already exists in the token")
            common = {"id": key_id, "label": ref.label, "store": True}
            if kty == "oct-HSM":
                state.session.generate_key(
                    KeyType.AES,
                    ref.size,
                    capabilities=MechanismFlag.ENCRYPT
                    | MechanismFlag.DECRYPT
                    | MechanismFlag.WRAP
                    | MechanismFlag.UNWRAP,
                    template=private,
                    **common,
                )
            elif kty == "RSA-HSM":
                state.session.generate_keypair(
                    KeyType.RSA,
                    ref.size,
                    capabilities=MechanismFlag.SIGN
                    | MechanismFlag.VERIFY
                    | MechanismFlag.ENCRYPT
                    | MechanismFlag.DECRYPT,
                    public_template={Attribute.TOKEN: True},
                    private_template=private,
                    **common,
                )
            else:
                assert ref.curve is not None
                state.session.generate_keypair(
                    KeyType.EC,
                    capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY,
                    public_template={
                        Attribute.TOKEN: True,
                        Attribute.EC_PARAMS: _CURVES[ref.curve][0],
                        Attribute.ENCRYPT: DEFAULT,
                        Attribute.WRAP: DEFAULT,
                    },
                    private_template={
                        **private,
                        Attribute.DECRYPT: DEFAULT,
                        Attribute.UNWRAP: DEFAULT,
                    },
                    **common,
                )

        self._run(f"generate {kty} key", generate, write=True)
        return ref

    def _key(self, state: _TokenState, ref: HsmKeyRef, cls: ObjectClass) -> Any:
        attrs = {Attribute.CLASS: cls, Attribute.ID: ref.key_id}
        return _find(state, (cls, ref.key_id), attrs, f"HSM key {ref.key_id.hex()}")

    @staticmethod
    def _check_ref(ref: HsmKeyRef, *ktys: str) -> None:
        if not isinstance(ref, HsmKeyRef):
            raise InvalidParameterError("ref must be an HsmKeyRef")
        if ref.kty not in ktys:
            raise InvalidParameterError(f"operation not valid for a {ref.kty} key")

    def public_key(self, ref: HsmKeyRef) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
        """The public part as a ``cryptography`` key (for JWK export and verification)."""
        self._check_ref(ref, "RSA-HSM", "EC-HSM")

        def read(state: _TokenState) -> tuple[bytes, bytes]:
            key = self._key(state, ref, ObjectClass.PUBLIC_KEY)
            if ref.kty == "RSA-HSM":
                return key[Attribute.MODULUS], key[Attribute.PUBLIC_EXPONENT]
            return key[Attribute.EC_POINT], b""

        first, second = self._run("read public key", read)
        if ref.kty == "RSA-HSM":
            numbers = rsa.RSAPublicNumbers(int.from_bytes(second, "big"), int.from_bytes(first, "big"))
            return numbers.public_key()
        assert ref.curve is not None
        curve = _CURVES[ref.curve][1]()
        return ec.EllipticCurvePublicKey.from_encoded_point(curve, _parse_ec_point(first))

    def sign(self, ref: HsmKeyRef, alg: str, digest: bytes) -> bytes:
        """Sign a digest inside the token (RS*, PS*, ES*; ECDSA output is raw r || s)."""
        self._check_ref(ref, "RSA-HSM", "EC-HSM")
        digest = _check_bytes("digest", digest)
        if ref.kty == "RSA-HSM":
            if alg in _DIGEST_INFO:
                if len(digest) != _RSA_DIGEST_LEN[alg]:
                    raise InvalidParameterError(f"{alg} needs a {_RSA_DIGEST_LEN[alg]}-byte digest")
                data, mechanism, param = _DIGEST_INFO[alg] + digest, Mechanism.RSA_PKCS, None
            elif alg in _PSS:
                if len(digest) != _PSS[alg][2]:
                    raise InvalidParameterError(f"{alg} needs a {_PSS[alg][2]}-byte digest")
                data, mechanism, param = digest, Mechanism.RSA_PKCS_PSS, _PSS[alg]
            else:
                raise InvalidParameterError(f"'{alg}' is not an RSA signature algorithm")
            cls = ObjectClass.PRIVATE_KEY
        else:
            if alg not in _ECDSA_ALGS:
                raise InvalidParameterError(f"'{alg}' is not an EC signature algorithm")
            length, curve = _ECDSA_ALGS[alg]
            if curve != ref.curve:
                raise InvalidParameterError(f"{alg} needs a {curve} key, not {ref.curve}")
            if len(digest) != length:
                raise InvalidParameterError(f"{alg} needs a {length}-byte digest")
            data, mechanism, param, cls = digest, Mechanism.ECDSA, None, ObjectClass.PRIVATE_KEY

        def sign(state: _TokenState) -> bytes:
            key = self._key(state, ref, cls)
            return bytes(key.sign(data, mechanism=mechanism, mechanism_param=param))

        return self._run(f"sign {alg}", sign)

    def _gcm_size(self, ref: HsmKeyRef, alg: str) -> None:
        if _GCM_ALGS[alg] != ref.size:
            raise InvalidParameterError(f"{alg} needs a {_GCM_ALGS[alg]}-bit key, not {ref.size}")

    def _rsa_mechanism(self, alg: str) -> tuple[Any, Any]:
        if alg == "RSA-OAEP-256":
            raise UnsupportedError(_OAEP256_REFUSAL)
        if alg not in _RSA_ENC:
            self._unknown(alg, "RSA encryption")
        return _RSA_ENC[alg]

    @staticmethod
    def _unknown(alg: str, what: str) -> None:
        if alg in _AZURE_ONLY_ALGS:
            raise UnsupportedError(f"{alg} is not supported by this HSM")
        raise InvalidParameterError(f"'{alg}' is not a valid {what} algorithm for this key")

    def encrypt(self, ref: HsmKeyRef, alg: str, plaintext: bytes, *, aad: bytes | None = None) -> HsmEncrypted:
        """Encrypt inside the token: RSA1_5/RSA-OAEP (public key) or A*GCM (token IV)."""
        self._check_ref(ref, "RSA-HSM", "oct-HSM")
        plaintext = _check_bytes("plaintext", plaintext)
        if ref.kty == "RSA-HSM":
            mechanism, param = self._rsa_mechanism(alg)
            if aad:
                raise InvalidParameterError(f"{alg} takes no additional authenticated data")

            def rsa_encrypt(state: _TokenState) -> bytes:
                key = self._key(state, ref, ObjectClass.PUBLIC_KEY)
                return bytes(key.encrypt(plaintext, mechanism=mechanism, mechanism_param=param))

            return HsmEncrypted(self._run(f"encrypt {alg}", rsa_encrypt))
        if alg not in _GCM_ALGS:
            self._unknown(alg, "AES encryption")
        self._gcm_size(ref, alg)
        aad_bytes = b"" if aad is None else _check_bytes("aad", aad)

        def gcm_encrypt(state: _TokenState) -> tuple[bytes, bytes]:
            key = self._key(state, ref, ObjectClass.SECRET_KEY)
            iv = bytes(state.session.generate_random(_NONCE_LEN * 8))
            out = key.encrypt(plaintext, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(iv, aad_bytes, 128))
            return iv, bytes(out)

        iv, out = self._run(f"encrypt {alg}", gcm_encrypt)
        return HsmEncrypted(out[:-_TAG_LEN], iv=iv, tag=out[-_TAG_LEN:])

    def decrypt(
        self,
        ref: HsmKeyRef,
        alg: str,
        ciphertext: bytes,
        *,
        iv: bytes | None = None,
        tag: bytes | None = None,
        aad: bytes | None = None,
    ) -> bytes:
        """Decrypt inside the token; a bad padding or tag raises :class:`IntegrityError`."""
        self._check_ref(ref, "RSA-HSM", "oct-HSM")
        ciphertext = _check_bytes("ciphertext", ciphertext)
        if ref.kty == "RSA-HSM":
            mechanism, param = self._rsa_mechanism(alg)

            def rsa_decrypt(state: _TokenState) -> bytes:
                key = self._key(state, ref, ObjectClass.PRIVATE_KEY)
                return bytes(key.decrypt(ciphertext, mechanism=mechanism, mechanism_param=param))

            return self._run(f"decrypt {alg}", rsa_decrypt, integrity=True)
        if alg not in _GCM_ALGS:
            self._unknown(alg, "AES decryption")
        self._gcm_size(ref, alg)
        iv = _check_bytes("iv", iv)
        tag = _check_bytes("tag", tag)
        if len(iv) != _NONCE_LEN or len(tag) != _TAG_LEN:
            raise IntegrityError()
        aad_bytes = b"" if aad is None else _check_bytes("aad", aad)

        def gcm_decrypt(state: _TokenState) -> bytes:
            key = self._key(state, ref, ObjectClass.SECRET_KEY)
            params = GCMParams(iv, aad_bytes, 128)
            return bytes(key.decrypt(ciphertext + tag, mechanism=Mechanism.AES_GCM, mechanism_param=params))

        return self._run(f"decrypt {alg}", gcm_decrypt, integrity=True)

    def wrap_key(self, ref: HsmKeyRef, alg: str, key: bytes) -> bytes:
        """Wrap key bytes: RSA1_5/RSA-OAEP (public key) or A*KW (RFC 3394) in the token."""
        self._check_ref(ref, "RSA-HSM", "oct-HSM")
        key = _check_bytes("key", key)
        if ref.kty == "RSA-HSM":
            return self.encrypt(ref, alg, key).ciphertext
        self._kw_size(ref, alg)
        mechanism = Mechanism.AES_KEY_WRAP_PAD if alg == _KW_PADDED else Mechanism.AES_KEY_WRAP
        if alg == _KW_PADDED:
            if not key:
                raise InvalidParameterError(f"{alg} wraps 1 byte or more")
        elif len(key) < 16 or len(key) % 8:
            raise InvalidParameterError(f"{alg} wraps keys of 16 or more bytes, a multiple of 8")

        def wrap(state: _TokenState) -> bytes:
            kek = self._key(state, ref, ObjectClass.SECRET_KEY)
            if mechanism is Mechanism.AES_KEY_WRAP_PAD and len(key) % 8:
                return _kwp_wrap_unaligned(kek, key)
            return _wrap_bytes(state, kek, key, mechanism)

        return self._run(f"wrap key {alg}", wrap)

    def unwrap_key(self, ref: HsmKeyRef, alg: str, wrapped: bytes) -> bytes:
        """Unwrap key bytes inside the token; a failed check raises :class:`IntegrityError`."""
        self._check_ref(ref, "RSA-HSM", "oct-HSM")
        wrapped = _check_bytes("wrapped", wrapped)
        if ref.kty == "RSA-HSM":
            return self.decrypt(ref, alg, wrapped)
        self._kw_size(ref, alg)
        mechanism = Mechanism.AES_KEY_WRAP_PAD if alg == _KW_PADDED else Mechanism.AES_KEY_WRAP
        if len(wrapped) < (16 if alg == _KW_PADDED else 24) or len(wrapped) % 8:
            raise IntegrityError()

        def unwrap(state: _TokenState) -> bytes:
            kek = self._key(state, ref, ObjectClass.SECRET_KEY)
            temp = kek.unwrap_key(
                ObjectClass.SECRET_KEY,
                KeyType.GENERIC_SECRET,
                wrapped,
                mechanism=mechanism,
                store=False,
                capabilities=0,
                template={Attribute.TOKEN: False, Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True},
            )
            try:
                value = bytes(temp[Attribute.VALUE])
            finally:
                temp.destroy()
            return value

        return self._run(f"unwrap key {alg}", unwrap, integrity=True)

    def _kw_size(self, ref: HsmKeyRef, alg: str) -> None:
        if alg not in _KW_ALGS:
            self._unknown(alg, "AES key wrap")
        if _KW_ALGS[alg] and _KW_ALGS[alg] != ref.size:
            raise InvalidParameterError(f"{alg} needs a {_KW_ALGS[alg]}-bit key, not {ref.size}")

    def key_protection(self, ref: HsmKeyRef) -> dict[str, bool]:
        """Protection flags of the private/secret part; ``value_readable`` must be False."""
        self._check_ref(ref, "RSA-HSM", "EC-HSM", "oct-HSM")
        if ref.kty == "oct-HSM":
            cls, secret = ObjectClass.SECRET_KEY, Attribute.VALUE
        elif ref.kty == "RSA-HSM":
            cls, secret = ObjectClass.PRIVATE_KEY, Attribute.PRIVATE_EXPONENT
        else:
            cls, secret = ObjectClass.PRIVATE_KEY, Attribute.VALUE
        return self._run("read key attributes", lambda s: _protection(self._key(s, ref, cls), secret))

    def delete_hsm_key(self, ref: HsmKeyRef) -> None:
        """Destroy every object of the key (private/secret and public)."""
        self._check_ref(ref, "RSA-HSM", "EC-HSM", "oct-HSM")

        def delete(state: _TokenState) -> None:
            found = list(state.session.get_objects({Attribute.ID: ref.key_id}))
            if not found:
                raise _Missing(f"HSM key {ref.key_id.hex()}")
            for obj in found:
                obj.destroy()
            for cls in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY, ObjectClass.SECRET_KEY):
                state.objects.pop((cls, ref.key_id), None)

        self._run("delete key", delete, write=True)

    def export_wrapped(self, ref: HsmKeyRef, domain_key_label: str) -> bytes:
        """Refused on SoftHSM 2.6.1: see docs/hsm.md ("Backup of HSM keys")."""
        raise UnsupportedError(_BACKUP_REFUSAL)

    def import_wrapped(self, blob: bytes, domain_key_label: str, *, key_id: bytes) -> HsmKeyRef:
        """Refused on SoftHSM 2.6.1: see docs/hsm.md ("Backup of HSM keys")."""
        raise UnsupportedError(_BACKUP_REFUSAL)


# --------------------------------------------------------------------------- root key


class HsmRootKey:
    """The vault's root key: a sensitive, never-extractable AES-256 key in the token.

    ``create=True`` generates the key labelled ``config.key_label`` unless one exists, in
    which case it is adopted if fit (AES-256, sensitive, never extractable). ``create=False``
    requires it. :meth:`wrap`/:meth:`unwrap` run AES-256-GCM inside the token.
    """

    def __init__(self, config: Pkcs11Config, *, create: bool) -> None:
        self._token = HsmToken(config)
        self._config = config
        self._key_id = _MANAGER.run(config, "open root key", lambda s: self._locate(s, create), write=create)

    def __repr__(self) -> str:
        return f"HsmRootKey(token_label={self._config.token_label!r}, key_label={self._config.key_label!r})"

    def __reduce__(self) -> Any:
        raise TypeError("HsmRootKey holds a PIN and cannot be pickled")

    @property
    def token(self) -> HsmToken:
        """The token holding the key (rollback counter, HSM keys, random bytes)."""
        return self._token

    @property
    def key_id(self) -> bytes:
        """CKA_ID of the root key object."""
        return self._key_id

    def _locate(self, state: _TokenState, create: bool) -> bytes:
        label = self._config.key_label
        attrs = {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.LABEL: label}
        found = list(state.session.get_objects(attrs))
        if len(found) > 1:
            raise HSMConfigurationError(f"several secret keys are labelled '{label}' in PKCS#11 token '{state.label}'")
        if found:
            key = found[0]
            checks = key.get_attributes(
                [
                    Attribute.KEY_TYPE,
                    Attribute.VALUE_LEN,
                    Attribute.SENSITIVE,
                    Attribute.EXTRACTABLE,
                    Attribute.ALWAYS_SENSITIVE,
                    Attribute.NEVER_EXTRACTABLE,
                    Attribute.ENCRYPT,
                    Attribute.DECRYPT,
                    Attribute.ID,
                ]
            )
            fit = (
                checks[Attribute.KEY_TYPE] == KeyType.AES
                and checks[Attribute.VALUE_LEN] == 32
                and checks[Attribute.SENSITIVE]
                and checks[Attribute.ALWAYS_SENSITIVE]
                and not checks[Attribute.EXTRACTABLE]
                and checks[Attribute.NEVER_EXTRACTABLE]
                and checks[Attribute.ENCRYPT]
                and checks[Attribute.DECRYPT]
                and checks[Attribute.ID]
            )
            if not fit:
                raise HSMConfigurationError(
                    f"key '{label}' in PKCS#11 token '{state.label}' is not a sensitive, "
                    "never-extractable AES-256 encrypt/decrypt key with an id"
                )
            key_id = bytes(checks[Attribute.ID])
        elif not create:
            raise _Missing(f"root key '{label}'")
        else:
            key_id = os.urandom(16)
            key = state.session.generate_key(
                KeyType.AES,
                256,
                id=key_id,
                label=label,
                store=True,
                capabilities=MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT,
                template={
                    Attribute.TOKEN: True,
                    Attribute.PRIVATE: True,
                    Attribute.SENSITIVE: True,
                    Attribute.EXTRACTABLE: False,
                },
            )
        state.objects[("root", label, key_id)] = key
        return key_id

    def _root(self, state: _TokenState) -> Any:
        label = self._config.key_label
        attrs = {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.LABEL: label, Attribute.ID: self._key_id}
        return _find(state, ("root", label, self._key_id), attrs, f"root key '{label}'")

    def protection(self) -> dict[str, bool]:
        """Protection flags of the root key; ``value_readable`` is False for a sound key."""
        return self._token._run("read root key attributes", lambda s: _protection(self._root(s), Attribute.VALUE))

    def describe(self) -> dict[str, str]:
        """Non-secret facts: module path, token label and serial, key label, key id (hex)."""
        return {
            **self._token.describe(),
            "key_label": self._config.key_label,
            "key_id": self._key_id.hex(),
            "mechanism": "CKM_AES_GCM",
        }

    def wrap(self, plaintext: bytes, aad: bytes) -> bytes:
        """Encrypt ``plaintext`` (≤ 1 MiB) under the root key, bound to ``aad``."""
        plaintext = _check_bytes("plaintext", plaintext)
        aad = _check_bytes("aad", aad)
        if len(plaintext) > _MAX_WRAP_INPUT:
            raise InvalidParameterError("plaintext is larger than 1 MiB")
        header = bytes([ROOT_BLOB_VERSION])
        nonce = os.urandom(_NONCE_LEN)
        params = GCMParams(nonce, header + aad, 128)

        def encrypt(state: _TokenState) -> bytes:
            return bytes(self._root(state).encrypt(plaintext, mechanism=Mechanism.AES_GCM, mechanism_param=params))

        return header + nonce + self._token._run("root key wrap", encrypt)

    def unwrap(self, blob: bytes, aad: bytes) -> bytes:
        """Decrypt a :meth:`wrap` blob; any mismatch raises :class:`IntegrityError`."""
        blob = _check_bytes("blob", blob)
        aad = _check_bytes("aad", aad)
        if len(blob) < 1 + _NONCE_LEN + _TAG_LEN or blob[0] != ROOT_BLOB_VERSION:
            raise IntegrityError()
        header, nonce, body = blob[:1], blob[1 : 1 + _NONCE_LEN], blob[1 + _NONCE_LEN :]
        params = GCMParams(nonce, header + aad, 128)

        def decrypt(state: _TokenState) -> bytes:
            return bytes(self._root(state).decrypt(body, mechanism=Mechanism.AES_GCM, mechanism_param=params))

        return self._token._run("root key unwrap", decrypt, integrity=True)
