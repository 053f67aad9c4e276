"""Render terminal captures (``tmux capture-pane -p -e``, ANSI colours kept) as
one SVG through rich, for the documentation's screenshots.

    python scripts/ansi_to_svg.py OUT.svg TITLE "$ COMMAND" CAPTURE.ansi [...]

Each ``"$ COMMAND" CAPTURE`` pair is shown as the prompt line, then the capture
(trailing blank lines dropped).

Rich draws each run of equally styled characters as one SVG ``<text>`` at its
column (its spaces as no-break spaces) and skips runs that are only spaces,
advancing the column. SVG renderers drop a ``<text>``'s leading spaces, so a
run that starts with spaces lost them and was drawn that many columns too far
left: the context lines of a ``dns plan`` diff (two spaces, then the record,
all dim) lost their indent. :func:`keep_indent` gives spaces at the start of
a line or of a run a style of their own (the same look, plus a marker), so
they become a run of spaces that rich skips and the text starts at its own
column.
"""

from __future__ import annotations

import sys

from rich.console import Console
from rich.style import Style
from rich.text import Text

#: Marks leading spaces so they are a segment of their own (see the module).
_INDENT = Style(meta={"overcast-indent": True})


def keep_indent(text: Text) -> Text:
    """``text`` with the spaces that start a line or a run of one style split
    from what follows (same look), so the SVG places that text at its column."""
    plain = text.plain
    starts = {0} | {i + 1 for i, char in enumerate(plain) if char == "\n"}
    starts |= {span.start for span in text.spans} | {span.end for span in text.spans}
    for start in sorted(starts):
        end = start
        while end < len(plain) and plain[end] == " ":
            end += 1
        if end > start:
            text.stylize(_INDENT, start, end)
    return text


def main(out: str, title: str, *pairs: str) -> None:
    """Write the SVG of the ``(command, capture file)`` pairs to ``out``."""
    console = Console(record=True, width=110, file=open("/dev/null", "w"))  # noqa: SIM115
    for command, capture in zip(pairs[::2], pairs[1::2], strict=True):
        with open(capture, encoding="utf-8") as source:
            lines = source.read().rstrip().splitlines()
        lines = [line for line in lines if not Text.from_ansi(line).plain.startswith("root@")]
        console.print(Text(command, style="bold"))
        console.print(keep_indent(Text.from_ansi("\n".join(lines))))
        console.print()
    console.save_svg(out, title=title)


if __name__ == "__main__":
    main(*sys.argv[1:])
