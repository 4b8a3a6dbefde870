"""Build ``vaultcore._native`` (the C core) with cffi in out-of-line API mode.

The C core links two system libraries: OpenSSL's libcrypto (the crypto half, owned in
Python by ``vaultcore.crypto._bindings``) and liblmdb (the storage half, owned by
``vaultcore.storage._lmdb``; one library so that the fused read in ``vaultcore_store.c``
uses the same LMDB environment and DEK cache as the rest). Our declarations come from
``vaultcore_native.h`` and ``vaultcore_store.h`` with their preprocessor lines removed, so
the headers are the single source of truth for both the C compiler and cffi's cdef; the
part of LMDB's API the storage owner calls is declared in ``_LMDB_CDEF`` below (cffi checks
it against ``<lmdb.h>`` when it compiles).

Two ways in:

* ``setup.py`` lists ``cffi_modules=["csrc/build_ffi.py:ffi"]``; setuptools imports this
  module and compiles ``ffi`` into the wheel / build tree.
* Run as a script (``cd csrc && ../.venv/bin/python build_ffi.py``), it compiles the
  extension into ``../src/vaultcore/`` so that ``import vaultcore._native`` works in the
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
STORE_HEADER = HERE / "vaultcore_store.h"
SOURCE_STORE = HERE / "vaultcore_store.c"
SOURCE_AUDITQ = HERE / "vaultcore_auditq.c"
SOURCE_READER = HERE / "vaultcore_reader.c"
SOURCE_PYFAST = HERE / "vaultcore_pyfast.c"
SOURCE_WATCH = HERE / "vaultcore_watch.c"
SOURCE_KWKEY = HERE / "vaultcore_kwkey.c"
SOURCE_AUDITCOMMIT = HERE / "vaultcore_auditcommit.c"
SOURCES = (
    SOURCE,
    SOURCE_CACHE,
    SOURCE_AUDIT,
    SOURCE_AUDITQ,
    SOURCE_STORE,
    SOURCE_READER,
    SOURCE_PYFAST,
    SOURCE_WATCH,
    SOURCE_KWKEY,
    SOURCE_AUDITCOMMIT,
)

# The subset of <lmdb.h> that storage/_lmdb.py uses (types opaque or partial; cffi takes
# the layouts and constants from the real header at compile time).
_LMDB_CDEF = """
typedef struct MDB_env MDB_env;
typedef struct MDB_txn MDB_txn;
typedef struct MDB_cursor MDB_cursor;
typedef unsigned int MDB_dbi;
typedef int... mdb_mode_t;
typedef int mdb_filehandle_t;
typedef struct MDB_val { size_t mv_size; void *mv_data; } MDB_val;
typedef struct MDB_stat { unsigned int ms_psize; size_t ms_entries; ...; } MDB_stat;
typedef struct MDB_envinfo { size_t me_mapsize; size_t me_last_pgno; ...; } MDB_envinfo;
typedef enum MDB_cursor_op {
    MDB_FIRST, MDB_GET_CURRENT, MDB_LAST, MDB_NEXT, MDB_PREV, MDB_SET_RANGE, ...
} MDB_cursor_op;
#define MDB_NOSUBDIR ...
#define MDB_RDONLY ...
#define MDB_NOMETASYNC ...
#define MDB_NOTLS ...
#define MDB_NORDAHEAD ...
#define MDB_CREATE ...
#define MDB_NOOVERWRITE ...
#define MDB_CP_COMPACT ...
#define MDB_KEYEXIST ...
#define MDB_NOTFOUND ...
#define MDB_PAGE_NOTFOUND ...
#define MDB_CORRUPTED ...
#define MDB_PANIC ...
#define MDB_VERSION_MISMATCH ...
#define MDB_INVALID ...
#define MDB_MAP_FULL ...
#define MDB_DBS_FULL ...
#define MDB_READERS_FULL ...
#define MDB_TXN_FULL ...
#define MDB_CURSOR_FULL ...
#define MDB_PAGE_FULL ...
#define MDB_MAP_RESIZED ...
#define MDB_INCOMPATIBLE ...
#define MDB_BAD_RSLOT ...
#define MDB_BAD_TXN ...
#define MDB_BAD_VALSIZE ...
#define MDB_BAD_DBI ...
char *mdb_version(int *major, int *minor, int *patch);
char *mdb_strerror(int err);
int mdb_env_create(MDB_env **env);
int mdb_env_open(MDB_env *env, const char *path, unsigned int flags, mdb_mode_t mode);
void mdb_env_close(MDB_env *env);
int mdb_env_set_mapsize(MDB_env *env, size_t size);
int mdb_env_set_maxreaders(MDB_env *env, unsigned int readers);
int mdb_env_set_maxdbs(MDB_env *env, MDB_dbi dbs);
int mdb_env_info(MDB_env *env, MDB_envinfo *stat);
int mdb_env_stat(MDB_env *env, MDB_stat *stat);
int mdb_env_sync(MDB_env *env, int force);
int mdb_env_copyfd2(MDB_env *env, mdb_filehandle_t fd, unsigned int flags);
int mdb_reader_check(MDB_env *env, int *dead);
int mdb_txn_begin(MDB_env *env, MDB_txn *parent, unsigned int flags, MDB_txn **txn);
int mdb_txn_commit(MDB_txn *txn);
void mdb_txn_abort(MDB_txn *txn);
int mdb_dbi_open(MDB_txn *txn, const char *name, unsigned int flags, MDB_dbi *dbi);
int mdb_stat(MDB_txn *txn, MDB_dbi dbi, MDB_stat *stat);
int mdb_get(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data);
int mdb_put(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data, unsigned int flags);
int mdb_del(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data);
int mdb_cursor_open(MDB_txn *txn, MDB_dbi dbi, MDB_cursor **cursor);
void mdb_cursor_close(MDB_cursor *cursor);
int mdb_cursor_get(MDB_cursor *cursor, MDB_val *key, MDB_val *data, MDB_cursor_op op);
"""

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
    builder.cdef(_LMDB_CDEF)
    builder.cdef(_cdef_text(STORE_HEADER))
    builder.set_source(
        "vaultcore._native",
        '#include <lmdb.h>\n#include "vaultcore_native.h"\n#include "vaultcore_store.h"\n',
        sources=[where(path) for path in SOURCES],
        include_dirs=[where(HERE)],
        libraries=["crypto", "lmdb"],
        extra_compile_args=EXTRA_COMPILE_ARGS,
        extra_link_args=["-pthread"],
    )
    return builder


ffi = _make_ffi(absolute=False)


def main() -> int:
    """Compile into ../src/vaultcore (the editable install's package directory)."""
    target_pkg = HERE.parent / "src" / "vaultcore"
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
