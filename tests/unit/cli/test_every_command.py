"""Every command of the typer app takes ``--profile`` (``-p``), but the
``profile`` commands, which name their profile as an argument."""

from __future__ import annotations

import typer
from typer._click import Command

from overcast.cli.app import app

#: Commands that name a profile positionally instead (documented in docs/cli.md).
EXCEPTIONS = {"profile add", "profile list", "profile show", "profile rm"}


def _commands(command: Command, path: tuple[str, ...] = ()) -> dict[str, Command]:
    subcommands: dict[str, Command] | None = getattr(command, "commands", None)
    if subcommands is not None:
        found: dict[str, Command] = {}
        for name, sub in subcommands.items():
            found.update(_commands(sub, (*path, name)))
        return found
    return {" ".join(path): command}


def test_every_command_takes_profile() -> None:
    commands = _commands(typer.main.get_command(app))
    assert {"cp", "ls", "nodes", "dns plan", "dns apply", "profile show"} <= set(commands)
    lacking = sorted(name for name, command in commands.items()
                     if not any("--profile" in p.opts and "-p" in p.opts
                                for p in command.params))
    assert lacking == sorted(EXCEPTIONS)


def test_the_group_takes_profile_too() -> None:
    root = typer.main.get_command(app)
    assert any("--profile" in p.opts for p in root.params)
