"""The CLI screenshot's renderer (scripts/ansi_to_svg.py) keeps a line's
leading spaces: SVG renderers drop a text element's leading spaces, so the
indented context line of a ``dns plan`` diff must start at its own column."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
CAPTURE = ("\x1b[31m- www 300 A 192.0.2.2\n"
           "\x1b[2m\x1b[39m  www 300 A 192.0.2.1\n"
           "\x1b[0m\x1b[32m+ www 300 A 192.0.2.7\n"
           "\x1b[39m    \n"
           "   \x1b[1mbold\x1b[0m after spaces in no style\n")


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ansi_to_svg", ROOT / "scripts/ansi_to_svg.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_leading_spaces_become_the_text_position(tmp_path: Path) -> None:
    capture = tmp_path / "plan.ansi"
    capture.write_text(CAPTURE)
    out = tmp_path / "shot.svg"
    _script().main(str(out), "t", "$ overcast dns plan z -p live", str(capture))
    svg = out.read_text()
    texts = {re.sub("&#160;", " ", body): float(x) for x, body in re.findall(
        r'<text [^>]*x="([0-9.]+)"[^>]*>([^<]*)</text>', svg)}
    minus, context = texts["- www 300 A 192.0.2.2"], texts["www 300 A 192.0.2.1"]
    plus = texts["+ www 300 A 192.0.2.7"]
    assert minus == plus == 0
    width = float(re.search(r'textLength="([0-9.]+)"[^>]*>-&#160;www', svg).group(1)) / 21
    assert context == pytest.approx(2 * width)  # two columns in, as the terminal had it
    assert texts["bold"] == pytest.approx(3 * width)
    assert not any(body.startswith(" ") for body in texts)


def test_the_screenshot_in_the_docs_has_no_leading_spaces() -> None:
    svg = (ROOT / "docs/images/cli.svg").read_text()
    assert re.search(r"<text [^>]*>&#160;", svg) is None
    assert "dns&#160;plan&#160;new.zone&#160;-p&#160;live" in svg
