"""Every leaf command's --help has examples; the root help points at the docs."""

from __future__ import annotations

import click
from clihelpers import Cli

from vaultcore.cli import cli as root


def _leaves(group: click.Group, ctx: click.Context, path: list[str]) -> list[list[str]]:
    found: list[list[str]] = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        if isinstance(command, click.Group):
            found += _leaves(command, click.Context(command, info_name=name, parent=ctx), [*path, name])
        else:
            found.append([*path, name])
    return found


def test_every_leaf_command_has_examples() -> None:
    runner = Cli({})
    leaves = _leaves(root, click.Context(root, info_name="vaultcore"), [])
    assert len(leaves) > 90
    missing = [" ".join(path) for path in leaves if "Example" not in runner.ok(*path, "--help").stdout]
    assert missing == []


def test_root_help_lists_lazily_loaded_commands() -> None:
    out = Cli({}).ok("--help").stdout
    for command in ("secret", "key", "cert", "run", "inject", "unlock", "lock", "init"):
        assert f"  {command} " in out, command
    assert "docs/cli.md" in out


def test_the_lazy_command_table_matches_the_modules() -> None:
    """Every command a module defines is in COMMAND_MODULES under that module (and only there)."""
    from importlib import import_module

    from vaultcore.cli._app import COMMAND_MODULES

    defined: dict[str, str] = {}
    for module_name in set(COMMAND_MODULES.values()):
        for command in import_module(f"vaultcore.cli.{module_name}").COMMANDS:
            defined[command.name or ""] = module_name
    assert defined == COMMAND_MODULES


def test_the_cli_knows_the_vaults_secret_size_limit() -> None:
    from vaultcore.cli._params import MAX_SECRET_BYTES as CLI_LIMIT
    from vaultcore.secrets._client import MAX_SECRET_BYTES

    assert CLI_LIMIT == MAX_SECRET_BYTES
