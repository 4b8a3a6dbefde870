"""The ``vaultcore`` command line (click + rich live only in this package).

Modules: ``_app`` (root command, registration), ``_errors`` (exit codes: the one mapping),
``_state`` (vault path, credential, output), ``_render`` (stable JSON shapes and tables),
``_params``/``_progress``/``_dotenv`` (helpers), and one module per command group:
``_admin``, ``_secret``, ``_env``.
"""

from ._app import cli, main
from ._errors import EXIT_CODES, exit_code_for

__all__ = ["EXIT_CODES", "cli", "exit_code_for", "main"]
