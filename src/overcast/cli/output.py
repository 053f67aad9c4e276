"""What the command prints: tables or JSON on stdout, errors and progress on
stderr, and the exit code of each kind of failure."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from typing import TYPE_CHECKING
from typing import Any
from typing import Final

from overcast import errors

if TYPE_CHECKING:
    from rich.console import Console

    from overcast.cli.config import Config
    from overcast.cli.targets import Resolver

__all__ = ["EXIT_CODES", "State", "exit_code", "one_line"]

#: Exit codes (documented in docs/cli.md).
OK: Final = 0
FAILED: Final = 1
INVALID_INPUT: Final = 2
NOT_FOUND: Final = 3
PROVIDER_ERROR: Final = 4
INVALID_CREDENTIALS: Final = 5
NOT_SUPPORTED: Final = 6
REFUSED: Final = 7

EXIT_CODES: Final = {
    OK: "success",
    FAILED: "any other failure (a bug: rerun with --debug for the traceback)",
    INVALID_INPUT: "invalid input or usage: nothing was sent",
    NOT_FOUND: "not found (profile, container, object, zone, node, file)",
    PROVIDER_ERROR: "the provider or the connection failed (errors, timeouts, conflicts, "
                    "integrity)",
    INVALID_CREDENTIALS: "the provider refused the credentials",
    NOT_SUPPORTED: "the driver cannot do this",
    REFUSED: "refused by a safety limit (dns apply, sync --delete): pass --force",
}


def exit_code(exc: BaseException) -> int:
    """The exit code for ``exc``."""
    from overcast.cli.refusal import Refused

    if isinstance(exc, Refused):
        return REFUSED
    if type(exc).__name__ == "UnsafePlan":
        return REFUSED
    if isinstance(exc, errors.InvalidInput):
        return INVALID_INPUT
    if isinstance(exc, errors.NotFound | FileNotFoundError):
        return NOT_FOUND
    if isinstance(exc, errors.InvalidCredentials):
        return INVALID_CREDENTIALS
    if isinstance(exc, errors.NotSupported):
        return NOT_SUPPORTED
    if isinstance(exc, errors.OvercastError | OSError):
        return PROVIDER_ERROR
    return FAILED


def one_line(exc: BaseException) -> str:
    """``exc`` as one line: its kind and its message, whitespace collapsed."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


@dataclass(slots=True)
class State:
    """What every command of one run shares: the global options, the config and
    the drivers made so far."""

    json: bool = False
    debug: bool = False
    quiet: bool = False
    profiles: list[str] = field(default_factory=list)
    _config: Config | None = None
    _resolver: Resolver | None = None

    @property
    def config(self) -> Config:
        """The config file's profiles (read on first use)."""
        if self._config is None:
            from overcast.cli.config import load

            self._config = load()
        return self._config

    def resolver(self, profiles: Sequence[str] | None = None) -> Resolver:
        """The run's resolver; ``profiles`` (a command's ``--profile``) add to the global ones."""
        from overcast.cli.targets import Resolver

        if self._resolver is None:
            self._resolver = Resolver(self.config, self.profiles)
        for name in profiles or ():
            if name not in self._resolver.profiles:
                self._resolver.profiles.append(name)
        for name in self._resolver.profiles:
            self.config.get(name)  # an unknown profile is NotFound before anything is sent
        return self._resolver

    def close(self) -> None:
        """Close the drivers of this run."""
        if self._resolver is not None:
            self._resolver.close()

    # -- printing -------------------------------------------------------------------

    @staticmethod
    def out() -> Console:
        """A console on stdout (wide when it is not a terminal, so nothing is cut)."""
        from rich.console import Console

        terminal = sys.stdout.isatty()
        return Console(file=sys.stdout, width=None if terminal else 4000, soft_wrap=True,
                       highlight=False)

    @staticmethod
    def err() -> Console:
        """A console on stderr, for progress, notes and errors."""
        from rich.console import Console

        return Console(file=sys.stderr, highlight=False)

    def note(self, text: str) -> None:
        """A line for people on stderr (not with ``--quiet``)."""
        if not self.quiet:
            self.err().print(text, markup=False)

    def emit(self, rows: Sequence[dict[str, Any]], columns: Sequence[str],
             title: str | None = None) -> None:
        """``rows`` as a table for people, or as a JSON list with ``--json``."""
        if self.json:
            print(json.dumps([{k: _plain(v) for k, v in row.items()} for row in rows],
                             default=str))
            return
        from rich.table import Table

        table = Table(title=title, box=None, header_style="bold", pad_edge=False)
        for column in columns:
            table.add_column(column.upper(), overflow="fold")
        for row in rows:
            table.add_row(*("" if row.get(c) is None else str(_plain(row.get(c)))
                            for c in columns))
        self.out().print(table)

    def emit_one(self, row: dict[str, Any]) -> None:
        """One record: ``key: value`` lines, or a JSON object with ``--json``."""
        if self.json:
            print(json.dumps({k: _plain(v) for k, v in row.items()}, default=str))
            return
        width = max((len(k) for k in row), default=0)
        for key, value in row.items():
            print(f"{key.ljust(width)}  {'' if value is None else _plain(value)}")
