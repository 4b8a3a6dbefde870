"""The package version, in one place (pyproject reads it; no importlib.metadata at import)."""

__version__ = "0.1.0"
