"""``python -m vaultcore.cli``."""

from ._app import main

main()
