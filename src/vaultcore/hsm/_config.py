"""Configuration of the PKCS#11 layer: :class:`Pkcs11Config`, the module default and labels.

Also the constants of the layer (root-key blob layout, input limits, object labels and
start-up retry delays). Split out of :mod:`vaultcore.hsm._pkcs11` because none of it needs the
PKCS#11 binding: ``hsm._pkcs11`` stays the only module that imports ``pkcs11`` and re-exports
the public names, so callers keep importing them from there.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from vaultcore.exceptions import HSMConfigurationError, InvalidParameterError
from vaultcore.hsm import _softhsm

__all__ = [
    "ROOT_BLOB_VERSION",
    "Pkcs11Config",
    "default_module",
    "generation_label",
]

ROOT_BLOB_VERSION = 1
_NONCE_LEN = 12
_TAG_LEN = 16
_MAX_WRAP_INPUT = 1 << 20
_MAX_RANDOM = 1 << 16
_APPLICATION = "vaultcore"
_KEY_LABEL_PREFIX = "vaultcore-key:"
_GENERATION_LABEL_PREFIX = "vaultcore-generation:"
# Start-up retries on NoSuchToken/GeneralError (another process rewriting token files).
_RETRY_DELAYS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32)


def default_module() -> str:
    """The PKCS#11 module used when none is configured: SoftHSM2 itself.

    SoftHSM2 is preferred over the p11-kit proxy: with the process-wide lock both ran
    8 threads crash-free, the proxy was not faster, and only the direct module lets a
    failed login be undone without re-initialising (docs/hsm.md). The proxy is used only
    when SoftHSM2 is not at a known path but p11-kit is configured to load it.
    """
    for path in _softhsm.SOFTHSM_MODULE_CANDIDATES:
        if os.path.isfile(path):
            return path
    for path in _softhsm.P11KIT_PROXY_CANDIDATES:
        if os.path.isfile(path) and _softhsm.p11kit_exposes_softhsm():
            return path
    raise HSMConfigurationError(
        "no PKCS#11 module found (looked for SoftHSM2 at "
        + ", ".join(_softhsm.SOFTHSM_MODULE_CANDIDATES)
        + "); install softhsm2 or pass module="
    )


@dataclasses.dataclass(frozen=True)
class Pkcs11Config:
    """Where the root key lives: module path, token label, user PIN and key label.

    ``module=None`` picks :func:`default_module`. Validated at construction; the PIN is
    kept out of ``repr`` and comparisons, and the object refuses to be pickled.
    """

    module: str | None
    token_label: str
    pin: str = dataclasses.field(repr=False, compare=False)
    key_label: str = "vaultcore-root"

    def __post_init__(self) -> None:
        if self.module is not None and not isinstance(self.module, str):
            raise InvalidParameterError("module must be a path or None")
        module = self.module if self.module is not None else default_module()
        if not os.path.isfile(module):
            raise HSMConfigurationError(f"PKCS#11 module '{module}' does not exist")
        object.__setattr__(self, "module", module)
        for name in ("token_label", "key_label"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise InvalidParameterError(f"{name} must be a non-empty string")
        if len(self.token_label.encode("utf-8")) > 32:
            raise InvalidParameterError("token_label is longer than 32 bytes (PKCS#11 limit)")
        if not isinstance(self.pin, str) or not self.pin:
            raise InvalidParameterError("pin must be a non-empty string")

    @property
    def module_path(self) -> str:
        """The resolved module path (never None after construction)."""
        assert self.module is not None
        return self.module

    def __reduce__(self) -> Any:
        raise TypeError("Pkcs11Config holds a PIN and cannot be pickled")


def generation_label(vault_id: str | bytes) -> str:
    """Token label of the rollback counter of one vault."""
    text = vault_id.hex() if isinstance(vault_id, bytes) else vault_id
    if not text:
        raise InvalidParameterError("vault_id must not be empty")
    return _GENERATION_LABEL_PREFIX + text
