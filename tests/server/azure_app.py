"""An unchanged Azure app: azure-identity + azure-keyvault-secrets, configured by the environment only.

Run as ``python azure_app.py KIND MODE NAME [VALUE]`` in a subprocess whose environment holds
what ``vaultcore serve`` / ``vaultcore env`` print, plus ``AZURE_KEYVAULT_URL`` (where the app
finds its vault, as real apps do). KIND picks the credential class (``secret``, ``certificate``,
``managed``, ``default``), MODE ``sync`` or ``async``. With VALUE it sets the secret NAME, then
reads NAME back. Prints one JSON line: ``{"value": ...}`` or ``{"error": class, "status": code}``.
Nothing here knows about vaultcore: only ``verify_challenge_resource=False`` is passed in code.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any


def _sync_credential(kind: str) -> Any:
    from azure import identity

    env = os.environ
    if kind == "secret":
        return identity.ClientSecretCredential(
            env["AZURE_TENANT_ID"], env["AZURE_CLIENT_ID"], env["AZURE_CLIENT_SECRET"]
        )
    if kind == "certificate":
        return identity.CertificateCredential(
            env["AZURE_TENANT_ID"], env["AZURE_CLIENT_ID"], env["AZURE_CLIENT_CERTIFICATE_PATH"]
        )
    if kind == "managed":
        return identity.ManagedIdentityCredential()
    return identity.DefaultAzureCredential()


def _async_credential(kind: str) -> Any:
    from azure.identity import aio

    env = os.environ
    if kind == "secret":
        secret = env["AZURE_CLIENT_SECRET"]
        return aio.ClientSecretCredential(env["AZURE_TENANT_ID"], env["AZURE_CLIENT_ID"], secret)
    if kind == "certificate":
        return aio.CertificateCredential(
            env["AZURE_TENANT_ID"], env["AZURE_CLIENT_ID"], env["AZURE_CLIENT_CERTIFICATE_PATH"]
        )
    if kind == "managed":
        return aio.ManagedIdentityCredential()
    return aio.DefaultAzureCredential()


def _failure(exc: Exception) -> dict[str, Any]:
    return {"error": type(exc).__name__, "status": getattr(exc, "status_code", None), "message": str(exc)[:500]}


def run_sync(kind: str, name: str, value: str | None) -> dict[str, Any]:
    from azure.keyvault.secrets import SecretClient

    credential = _sync_credential(kind)
    try:
        with SecretClient(os.environ["AZURE_KEYVAULT_URL"], credential, verify_challenge_resource=False) as client:
            if value is not None:
                client.set_secret(name, value)
            return {"value": client.get_secret(name).value}
    except Exception as exc:
        return _failure(exc)
    finally:
        credential.close()


async def run_async(kind: str, name: str, value: str | None) -> dict[str, Any]:
    from azure.keyvault.secrets.aio import SecretClient

    credential = _async_credential(kind)
    try:
        async with SecretClient(
            os.environ["AZURE_KEYVAULT_URL"], credential, verify_challenge_resource=False
        ) as client:
            if value is not None:
                await client.set_secret(name, value)
            return {"value": (await client.get_secret(name)).value}
    except Exception as exc:
        return _failure(exc)
    finally:
        await credential.close()


def main(argv: list[str]) -> None:
    kind, mode, name = argv[1], argv[2], argv[3]
    value = argv[4] if len(argv) > 4 else None
    result = run_sync(kind, name, value) if mode == "sync" else asyncio.run(run_async(kind, name, value))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv)
