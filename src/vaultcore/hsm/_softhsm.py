"""SoftHSM2 and p11-kit facts that need no PKCS#11 binding: paths, config files, lock files.

Also :func:`create_softhsm_token`, which makes a private SoftHSM2 token in a directory with
``softhsm2-util`` (used by the test fixtures; SoftHSM reads ``SOFTHSM2_CONF`` once, inside
``C_Initialize``, so the variable must name the config before the module is initialised).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import shutil
import subprocess
import tempfile
from typing import Literal

from vaultcore.exceptions import HSMConfigurationError

__all__ = [
    "P11KIT_PROXY_CANDIDATES",
    "SOFTHSM_CONF_DEFAULT",
    "SOFTHSM_MODULE_CANDIDATES",
    "SoftHsmToken",
    "create_softhsm_token",
    "lock_path_for",
    "module_family",
    "p11kit_exposes_softhsm",
    "softhsm2_util",
    "softhsm_conf_path",
    "softhsm_tokendir",
]

SOFTHSM_MODULE_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
)
P11KIT_PROXY_CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so",
    "/usr/lib/aarch64-linux-gnu/p11-kit-proxy.so",
    "/usr/lib64/p11-kit-proxy.so",
)
SOFTHSM_CONF_DEFAULT = "/etc/softhsm/softhsm2.conf"
_P11KIT_MODULE_DIRS = ("/usr/share/p11-kit/modules", "/etc/pkcs11/modules")

Family = Literal["softhsm", "p11-kit", "other"]


def module_family(path: str) -> Family:
    """Classify a module path: SoftHSM2 itself, the p11-kit proxy, or anything else."""
    names = {os.path.basename(path), os.path.basename(os.path.realpath(path))}
    if any("softhsm" in name for name in names):
        return "softhsm"
    if any(name.startswith(("p11-kit-proxy", "libp11-kit")) for name in names):
        return "p11-kit"
    return "other"


def _p11kit_module_paths() -> list[str]:
    """``module:`` entries of the p11-kit configuration (system and per-user)."""
    dirs = list(_P11KIT_MODULE_DIRS)
    home = os.environ.get("HOME")
    if home:
        dirs.append(os.path.join(home, ".config", "pkcs11", "modules"))
    paths = []
    for directory in dirs:
        with contextlib.suppress(OSError):
            for name in sorted(os.listdir(directory)):
                if not name.endswith(".module"):
                    continue
                with contextlib.suppress(OSError), open(os.path.join(directory, name)) as fh:
                    for line in fh:
                        key, sep, value = line.partition(":")
                        if sep and key.strip() == "module":
                            paths.append(value.strip())
    return paths


def p11kit_exposes_softhsm() -> bool:
    """True when the p11-kit configuration loads SoftHSM2 into the proxy."""
    return any(module_family(path) == "softhsm" for path in _p11kit_module_paths())


def softhsm_conf_path() -> str:
    """The config file SoftHSM2 will read: ``$SOFTHSM2_CONF``, the user's, or the default."""
    env = os.environ.get("SOFTHSM2_CONF")
    if env:
        return env
    home = os.environ.get("HOME")
    if home:
        user_conf = os.path.join(home, ".config", "softhsm2", "softhsm2.conf")
        if os.path.isfile(user_conf):
            return user_conf
    return SOFTHSM_CONF_DEFAULT


def softhsm_tokendir(conf_path: str) -> str:
    """``directories.tokendir`` of a SoftHSM2 config; checks that file and directory exist."""
    try:
        with open(conf_path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except OSError as exc:
        raise HSMConfigurationError(
            f"SoftHSM2 configuration '{conf_path}' cannot be read ({exc.strerror}); "
            "set SOFTHSM2_CONF to a valid softhsm2.conf"
        ) from None
    tokendir = None
    for line in lines:
        key, sep, value = line.partition("=")
        if sep and key.strip() == "directories.tokendir":
            tokendir = value.strip()
    if not tokendir:
        raise HSMConfigurationError(f"SoftHSM2 configuration '{conf_path}' has no directories.tokendir")
    if not os.path.isdir(tokendir):
        raise HSMConfigurationError(
            f"SoftHSM2 token directory '{tokendir}' (directories.tokendir in '{conf_path}') does not exist"
        )
    return tokendir


def _runtime_dir() -> str:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime) and os.access(runtime, os.W_OK):
        return runtime
    private = os.path.join(tempfile.gettempdir(), f"vaultcore-{os.getuid()}")
    os.makedirs(private, mode=0o700, exist_ok=True)
    if os.stat(private).st_uid != os.getuid():
        raise HSMConfigurationError(f"lock directory '{private}' belongs to another user")
    return private


def lock_path_for(tokendir: str | None, fallback_key: str) -> str:
    """The flock file serialising token writes between processes.

    Next to the SoftHSM token directory when it is known and its parent is writable (every
    process of every user of that token then agrees on it); otherwise a per-user file in
    the runtime directory keyed by ``fallback_key`` (module path and token label).
    """
    if tokendir:
        tokendir = os.path.abspath(tokendir.rstrip("/") or "/")
        parent = os.path.dirname(tokendir)
        if os.access(parent, os.W_OK):
            return os.path.join(parent, os.path.basename(tokendir) + ".vaultcore.lock")
        fallback_key = tokendir
    digest = hashlib.sha256(fallback_key.encode("utf-8")).hexdigest()[:24]
    return os.path.join(_runtime_dir(), f"hsm-{digest}.lock")


@dataclasses.dataclass(frozen=True)
class SoftHsmToken:
    """A SoftHSM2 token made by :func:`create_softhsm_token` (test credentials only)."""

    directory: str
    conf_path: str
    tokendir: str
    label: str
    pin: str = dataclasses.field(repr=False)
    so_pin: str = dataclasses.field(repr=False)


def softhsm2_util() -> str | None:
    """Path of ``softhsm2-util``, or None when SoftHSM2 is not installed."""
    return shutil.which("softhsm2-util")


def create_softhsm_token(
    directory: str,
    *,
    label: str,
    pin: str,
    so_pin: str,
    conf_path: str | None = None,
) -> SoftHsmToken:
    """Initialise a token labelled ``label`` in ``directory``/tokens (created if needed).

    Writes ``directory``/softhsm2.conf unless ``conf_path`` names an existing config, so
    several tokens can share one config. Does not touch ``os.environ``.
    """
    tool = softhsm2_util()
    if tool is None:
        raise HSMConfigurationError("softhsm2-util not found: install the softhsm2 package")
    tokendir = os.path.join(directory, "tokens")
    if conf_path is None:
        os.makedirs(tokendir, mode=0o700, exist_ok=True)
        conf_path = os.path.join(directory, "softhsm2.conf")
        with open(conf_path, "w", encoding="utf-8") as fh:
            fh.write(
                f"directories.tokendir = {tokendir}\n"
                "objectstore.backend = file\n"
                "log.level = ERROR\n"
                "slots.removable = false\n"
            )
    else:
        tokendir = softhsm_tokendir(conf_path)
    env = dict(os.environ, SOFTHSM2_CONF=conf_path)
    result = subprocess.run(
        [tool, "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", so_pin],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise HSMConfigurationError(f"softhsm2-util --init-token failed for label '{label}': {result.stderr.strip()}")
    return SoftHsmToken(directory, conf_path, tokendir, label, pin, so_pin)
