"""Render terminal captures (``tmux capture-pane -p -e``, ANSI colours kept) as
one SVG through rich, for the documentation's screenshots.

    python scripts/ansi_to_svg.py OUT.svg TITLE "$ COMMAND" CAPTURE.ansi [...]

Each ``"$ COMMAND" CAPTURE`` pair is shown as the prompt line, then the capture
(trailing blank lines dropped).
"""

from __future__ import annotations

import sys

from rich.console import Console
from rich.text import Text


def main(out: str, title: str, *pairs: str) -> None:
    """Write the SVG of the ``(command, capture file)`` pairs to ``out``."""
    console = Console(record=True, width=110, file=open("/dev/null", "w"))  # noqa: SIM115
    for command, capture in zip(pairs[::2], pairs[1::2], strict=True):
        with open(capture, encoding="utf-8") as source:
            lines = source.read().rstrip().splitlines()
        lines = [line for line in lines if not Text.from_ansi(line).plain.startswith("root@")]
        console.print(Text(command, style="bold"))
        console.print(Text.from_ansi("\n".join(lines)))
        console.print()
    console.save_svg(out, title=title)


if __name__ == "__main__":
    main(*sys.argv[1:])
