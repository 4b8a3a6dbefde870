"""Global options after the subcommand: ``vaultcore secret get NAME --vault DIR`` works.

Before the root command parses its arguments, options that belong to the root (``--vault``,
``--key-file``, ``--pkcs11-*``, ``--client-id``, ``-o/--output``, ``--query``) found after
the subcommand are moved in front of it, unless the leaf command defines an option of the
same name itself (``init --key-file`` keeps its own meaning). Nothing after ``--`` moves, nor
anything after the first argument of a command that passes its arguments on (``run``).
"""

from __future__ import annotations

import click

__all__ = ["move_global_options"]


def _root_options(group: click.Group) -> dict[str, bool]:
    """Option string -> whether it takes a value, for the root's own options."""
    found: dict[str, bool] = {}
    for param in group.params:
        if isinstance(param, click.Option) and not param.is_flag and param.name not in ("help",):
            for opt in param.opts:
                found[opt] = True
    return found


def _leaf(group: click.Group, ctx: click.Context, args: list[str]) -> tuple[click.Command | None, int]:
    """The leaf command named in *args* and the index just after its name."""
    command: click.Command | None = group
    index = 0
    takes_value = _root_options(group)
    while isinstance(command, click.Group) and index < len(args):
        arg = args[index]
        if arg == "--":
            return None, index
        if arg.startswith("-"):
            index += 2 if (arg in takes_value and "=" not in arg) else 1
            continue
        command = command.get_command(ctx, arg)
        index += 1
        if command is None:
            return None, index
    return (None if isinstance(command, click.Group) else command), index


def move_global_options(group: click.Group, ctx: click.Context, args: list[str]) -> list[str]:
    """*args* with the root's options that follow the leaf command moved to the front."""
    leaf, start = _leaf(group, ctx, args)
    if leaf is None:
        return args
    # A command that passes its arguments on (run) stops at its first argument: what follows
    # belongs to the program it starts.
    passes_on = bool(leaf.context_settings.get("ignore_unknown_options"))
    roots = _root_options(group)
    own = {opt for p in leaf.params if isinstance(p, click.Option) for opt in (*p.opts, *p.secondary_opts)}
    own_values = {opt for p in leaf.params if isinstance(p, click.Option) and not p.is_flag for opt in p.opts}
    moved: list[str] = []
    rest: list[str] = args[:start]
    i = start
    while i < len(args):
        arg = args[i]
        if arg == "--" or (passes_on and not arg.startswith("-")):
            rest += args[i:]
            break
        name, eq, _ = arg.partition("=")
        if passes_on and name in own_values and not eq:
            rest += args[i : i + 2]
            i += 2
            continue
        if name in roots and name not in own:
            if eq or i + 1 >= len(args):
                moved.append(arg)
                i += 1
            else:
                moved += args[i : i + 2]
                i += 2
            continue
        rest.append(arg)
        i += 1
    return moved + rest
