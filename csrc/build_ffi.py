"""Build ``vaultcore.crypto._native`` with cffi in out-of-line API mode.

The declarations come from ``vaultcore_native.h`` (the C contract) with its preprocessor
lines removed, so the header is the single source of truth for both the C compiler and
cffi's cdef.

Two ways in:

* ``setup.py`` lists ``cffi_modules=["csrc/build_ffi.py:ffi"]``; setuptools imports this
  module and compiles ``ffi`` into the wheel / build tree.
* Run as a script (``cd csrc && ../.venv/bin/python build_ffi.py``), it compiles the
  extension into ``../src/vaultcore/crypto/`` so that ``import vaultcore.crypto._native`` works in the
  editable install.

cffi's API mode releases the GIL around every call into the declared functions, so the
C core runs concurrently with other Python threads.
"""

from __future__ import annotations

import os
import pathlib
import sys

from cffi import FFI

HERE = pathlib.Path(__file__).resolve().parent
HEADER = HERE / "vaultcore_native.h"
SOURCE = HERE / "vaultcore_native.c"
SOURCE_CACHE = HERE / "vaultcore_dekcache.c"
SOURCE_AUDIT = HERE / "vaultcore_audit.c"

# Warnings are errors for our own C file only; cffi's generated wrapper is compiled with
# the same flags, which it is clean under.
EXTRA_COMPILE_ARGS = ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror", "-pthread"]


def _cdef_text(header: pathlib.Path) -> str:
    """The header minus preprocessor lines (cffi's parser does not run cpp)."""
    lines = header.read_text(encoding="utf-8").splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("#"))


def _make_ffi(*, absolute: bool) -> FFI:
    """setuptools wants source paths relative to the project root (the current directory
    when it imports this module); ffi.compile() changes into its tmpdir, so the script
    path uses absolute ones."""

    def where(path: pathlib.Path) -> str:
        return str(path) if absolute else os.path.relpath(path)

    builder = FFI()
    builder.cdef(_cdef_text(HEADER))
    builder.set_source(
        "vaultcore.crypto._native",
        '#include "vaultcore_native.h"\n',
        sources=[where(SOURCE), where(SOURCE_CACHE), where(SOURCE_AUDIT)],
        include_dirs=[where(HERE)],
        libraries=["crypto"],
        extra_compile_args=EXTRA_COMPILE_ARGS,
        extra_link_args=["-pthread"],
    )
    return builder


ffi = _make_ffi(absolute=False)


def main() -> int:
    """Compile into ../src/vaultcore/crypto (the editable install's package directory)."""
    target_pkg = HERE.parent / "src" / "vaultcore" / "crypto"
    tmpdir = HERE.parent / "build" / "cffi"
    tmpdir.mkdir(parents=True, exist_ok=True)
    so_path = _make_ffi(absolute=True).compile(tmpdir=str(tmpdir), verbose=False)
    built = pathlib.Path(so_path)
    dest = target_pkg / built.name
    # Replace atomically so a running interpreter never maps a half-written file.
    tmp = dest.with_suffix(dest.suffix + ".tmp")
    tmp.write_bytes(built.read_bytes())
    tmp.replace(dest)
    print(f"built {dest.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
