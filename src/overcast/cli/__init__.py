"""The ``overcast`` command: profiles, storage, DNS and compute over every driver.

``main()`` is the entry point (``[project.scripts]``); the typer application is
:data:`overcast.cli.app.app`. Nothing here is imported by ``import overcast``
or by an area's package: the command's dependencies (typer, rich) load only
when the command runs.
"""

from __future__ import annotations

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``) and exit."""
    from overcast.cli.app import run

    raise SystemExit(run(argv))
