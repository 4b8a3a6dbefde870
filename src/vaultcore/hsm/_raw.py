"""Raw ctypes view of a PKCS#11 module's function list, for the two calls python-pkcs11 lacks.

python-pkcs11 0.10.1 can only log in while opening a session (``Token.open(user_pin=...)``),
and leaks that session when ``C_Login`` fails; it also exposes neither ``C_GetSessionInfo``
nor ``C_Logout`` on a PIN-less session. This module reads the module's ``CK_FUNCTION_LIST``
with ``C_GetFunctionList`` and calls ``C_Login``, ``C_Logout`` and ``C_GetSessionInfo`` on
session handles that python-pkcs11 opened.

That is only sound when both see the same function list, i.e. the same initialised module
instance. SoftHSM2 returns one static list; the p11-kit proxy returns a fresh, separately
initialised list on every call, so :meth:`RawModule.shares_session` must confirm a session
handle before the view is used (``vaultcore.hsm._pkcs11`` falls back otherwise). No PKCS#11 binding
is imported here; callers hold the process-wide PKCS#11 lock around every call.
"""

from __future__ import annotations

import ctypes

__all__ = [
    "CKR_OK",
    "CKR_USER_ALREADY_LOGGED_IN",
    "CKS_RW_PUBLIC_SESSION",
    "CKU_USER",
    "RawModule",
]

CK_ULONG = ctypes.c_ulong
CK_RV = ctypes.c_ulong

CKR_OK = 0x0
CKR_USER_ALREADY_LOGGED_IN = 0x100
CKU_USER = 1
CKS_RW_PUBLIC_SESSION = 2

# Indexes into CK_FUNCTION_LIST after its CK_VERSION header (PKCS#11 v2.40 order).
_FN_GET_SESSION_INFO = 15
_FN_LOGIN = 18
_FN_LOGOUT = 19
_FN_COUNT = 68


class _CkVersion(ctypes.Structure):
    _fields_ = [("major", ctypes.c_ubyte), ("minor", ctypes.c_ubyte)]


class _CkFunctionList(ctypes.Structure):
    _fields_ = [("version", _CkVersion), ("fns", ctypes.c_void_p * _FN_COUNT)]


class _CkSessionInfo(ctypes.Structure):
    _fields_ = [
        ("slotID", CK_ULONG),
        ("state", CK_ULONG),
        ("flags", CK_ULONG),
        ("ulDeviceError", CK_ULONG),
    ]


_GetSessionInfo = ctypes.CFUNCTYPE(CK_RV, CK_ULONG, ctypes.POINTER(_CkSessionInfo))
_Login = ctypes.CFUNCTYPE(CK_RV, CK_ULONG, CK_ULONG, ctypes.c_char_p, CK_ULONG)
_Logout = ctypes.CFUNCTYPE(CK_RV, CK_ULONG)


class RawModule:
    """The function list of one loaded PKCS#11 module (never holds a PIN)."""

    def __init__(self, path: str) -> None:
        dll = ctypes.CDLL(path)
        get_function_list = dll.C_GetFunctionList
        get_function_list.restype = CK_RV
        get_function_list.argtypes = [ctypes.POINTER(ctypes.POINTER(_CkFunctionList))]
        table = ctypes.POINTER(_CkFunctionList)()
        rv = get_function_list(ctypes.byref(table))
        if rv != CKR_OK or not table:
            raise OSError(f"C_GetFunctionList failed in {path} (rv=0x{rv:x})")
        fns = table.contents.fns
        self._dll = dll  # keeps the module mapped while the pointers are in use
        self._get_session_info = _GetSessionInfo(fns[_FN_GET_SESSION_INFO])
        self._login = _Login(fns[_FN_LOGIN])
        self._logout = _Logout(fns[_FN_LOGOUT])

    def session_info(self, handle: int) -> tuple[int, int, int]:
        """``(rv, slot_id, state)`` of a session handle."""
        info = _CkSessionInfo()
        rv = self._get_session_info(handle, ctypes.byref(info))
        return int(rv), int(info.slotID), int(info.state)

    def shares_session(self, handle: int, slot_id: int, state: int) -> bool:
        """True when this view sees ``handle`` exactly as its opener does."""
        rv, slot, current = self.session_info(handle)
        return rv == CKR_OK and slot == slot_id and current == state

    def login(self, handle: int, pin: bytes) -> int:
        """``C_Login(handle, CKU_USER, pin)``; returns the CK_RV."""
        return int(self._login(handle, CKU_USER, pin, len(pin)))

    def logout(self, handle: int) -> int:
        """``C_Logout(handle)``; returns the CK_RV."""
        return int(self._logout(handle))

    def count_sessions(self, slot_id: int | None = None, *, horizon: int = 256) -> int:
        """Open sessions of this process (optionally on one slot), probed by handle.

        SoftHSM2 reports ``ulSessionCount`` as unavailable but numbers sessions 1, 2, ...
        reusing freed numbers, so probing handles until ``horizon`` consecutive misses finds
        every open one.
        """
        count = 0
        misses = 0
        handle = 0
        while misses < horizon:
            handle += 1
            rv, slot, _state = self.session_info(handle)
            if rv == CKR_OK:
                misses = 0
                if slot_id is None or slot == slot_id:
                    count += 1
            else:
                misses += 1
        return count
