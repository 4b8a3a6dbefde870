"""``python -m vaultcore.cli`` (the same entry point as the ``vaultcore`` script)."""

from . import main

main()
