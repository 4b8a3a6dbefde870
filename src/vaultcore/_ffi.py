"""The one importer of the compiled C core (``vaultcore._native``, built from ``csrc/``).

It loads the extension, refuses a build whose C contract differs from the one this Python
expects, and hands ``ffi`` and ``lib`` to the two modules that marshal for it: the crypto
half to :mod:`vaultcore.crypto._bindings`, the LMDB half to :mod:`vaultcore.storage._mdb`.
Nothing else touches the extension (``tests/test_layout.py`` checks it).
"""

from __future__ import annotations

# The compiled module has no stubs: ffi and lib are Any, and only the two halves use them.
import vaultcore._native as _native  # type: ignore[import-not-found]

ffi, lib = _native.ffi, _native.lib

__all__ = ["EXPECTED_ABI", "event_push", "fast_get", "fast_open", "ffi", "kw_run", "lib"]

#: The C contract version this Python is written against (``VC_ABI_VERSION`` in csrc/).
EXPECTED_ABI = 10

if lib.vc_abi_version() != EXPECTED_ABI:  # pragma: no cover - stale build
    raise ImportError(f"vaultcore._native ABI {lib.vc_abi_version()} != {EXPECTED_ABI}: rebuild it with `make build`")

# get_secret's entry points written to the CPython API (csrc/vaultcore_pyfast.c): cffi cannot
# build Python objects in C, and on the hottest call its glue cost more than the read.
if lib.vc_py_export() != 0:  # pragma: no cover - the interpreter refused the function
    raise ImportError("vaultcore._native could not export fast_get")
fast_get, fast_open = _native.fast_get, _native.fast_open
# and the hot path of key operations' (wrap/unwrap on a keyed context, the success event)
kw_run, event_push = _native.kw_run, _native.event_push
