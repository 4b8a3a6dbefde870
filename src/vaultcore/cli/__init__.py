"""The ``vaultcore`` command line (click + rich live only in this package).

Modules: ``_app`` (root command, lazy registration), ``_errors`` (exit codes: the one
mapping), ``_state`` (vault path, credential, output), ``_render``/``_output`` (stable JSON
shapes, tables, yaml/tsv/--query), ``_tty`` (prompts on /dev/tty), ``_agent``/``_session``
(unlock-once sessions), ``_params``/``_progress``/``_dotenv``/``_globals`` (helpers), and one
module per command group: ``_admin``, ``_secret``, ``_key``, ``_cert``, ``_rbac``,
``_auditlog``, ``_env``, ``_serve``. Importing this package loads nothing but ``main``.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._app import cli
    from ._errors import EXIT_CODES, exit_code_for

__all__ = ["EXIT_CODES", "cli", "exit_code_for", "main"]


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (``vaultcore``).

    ``vaultcore --version`` is answered before click loads (a shell prompt or a script may
    call it often); everything else goes through the click application in ``_app``.
    """
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"] and "_VAULTCORE_COMPLETE" not in os.environ:
        from vaultcore._version import __version__

        sys.stdout.write(f"vaultcore, version {__version__}\n")
        return
    import gc

    # Start-up allocates thousands of long-lived objects (modules, classes, click options);
    # collecting while they are made only costs time (~10% of a short command). The
    # collector is back on once the vault is open (State.vault) and in any case on return.
    gc.disable()
    try:
        from ._app import main as app_main

        app_main(argv)
    except SystemExit as done:
        _exit_now(done)
        raise
    finally:
        gc.enable()


def _exit_now(done: SystemExit) -> None:
    """Exit without tearing the interpreter down (a fifth of a short command's wall time).

    Only when nothing else runs: the vault is closed by then (click's ``call_on_close``),
    atexit handlers run as usual and the standard streams are flushed. With another thread
    alive, or a non-integer status, the normal exit path is taken.
    """
    import threading

    code = 0 if done.code is None else done.code
    if not isinstance(code, int) or threading.active_count() != 1:
        return
    import atexit
    import contextlib

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (vaultcore ... | head)
            stream.flush()
    os._exit(code)


def __getattr__(name: str) -> object:
    if name == "cli":
        from ._app import cli as value
    elif name in ("EXIT_CODES", "exit_code_for"):
        from . import _errors

        value = getattr(_errors, name)
    else:
        raise AttributeError(f"module 'vaultcore.cli' has no attribute {name!r}")
    return value
