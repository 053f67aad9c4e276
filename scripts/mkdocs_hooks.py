"""MkDocs hooks for the documentation site (``hooks:`` in ``mkdocs.yml``).

* Pages made at build time from files kept elsewhere, so nothing is copied by
  hand: ``index.md`` is ``README.md``, ``benchmarks.md`` is ``bench/README.md``
  and ``cli-reference.md`` is generated from the ``overcast`` command's typer
  application (every command, its arguments and options).
* Links: a page's relative links are read from where its source lives in the
  repository. A link to another page of the site stays a page link; a link to
  anything else in the repository (``src/...``, ``tests/...``, ``examples/...``)
  becomes a link to that file in the repository on GitHub. So ``README.md``'s
  ``docs/cli.md`` and ``docs/architecture.md``'s ``../src/overcast/...`` both
  work on the site, and ``mkdocs build --strict`` still fails on a link to a
  file that does not exist.
* Docstrings: their reST roles (``:class:`~overcast.errors.NotFound` ``,
  ``:meth:`close` ``, ...) are rendered by mkdocstrings as the role's text
  followed by code. They become cross-references (mkdocs-autorefs): a role
  naming an object by its full ``overcast.`` path must resolve to an object on
  the site, so ``--strict`` fails on a broken one; a short name (relative to
  where the docstring is) is linked when the site has an object of that name,
  and shown as code otherwise.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page

ROOT = Path(__file__).resolve().parent.parent

# Site page -> the repository file it is made from.
INCLUDED = {"index.md": "README.md", "benchmarks.md": "bench/README.md"}
CLI_PAGE = "cli-reference.md"

_LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)(\))")
_FENCE = re.compile(r"^ *(```|~~~)")
_ROLE = re.compile(
    r":(?:py:)?(?:class|func|meth|data|mod|attr|exc|obj|const|type):"
    r"<code>(?:(?P<title>[^<&]+?)\s+&lt;(?P<titled>[A-Za-z_][\w.]*)&gt;|"
    r"(?P<short>~?)(?P<target>[A-Za-z_][\w.]*)(?P<call>\(\))?)</code>"
)


def _cli_reference() -> str:
    """The CLI reference: typer's own Markdown for the ``overcast`` application."""
    import typer.main
    from typer.cli import get_docs_for_click

    from overcast.cli.app import app

    command = typer.main.get_command(app)
    body = get_docs_for_click(obj=command, ctx=typer.Context(command), name="overcast")
    # typer titles the page with the command name ("# `overcast`"); keep it as the title.
    return (
        "<!-- Generated from the typer application (overcast.cli.app) when the site is built. -->\n"
        + body.strip()
        + "\n\nA guide to profiles, URL forms, exit codes and the safety limits is in "
        + "[the CLI guide](cli.md).\n"
    )


def title_first(text: str) -> str:
    """The Markdown with its first level-1 heading moved to the top (the README
    opens with its commands, above the title; a page opens with its title)."""
    match = re.search(r"^# .+\n", text, re.MULTILINE)
    if match is None or match.start() == 0:
        return text
    return match.group(0) + "\n" + text[: match.start()] + text[match.end():]


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the generated pages to the site."""
    for page, source in INCLUDED.items():
        text = title_first((ROOT / source).read_text(encoding="utf-8"))
        files.append(File.generated(config, page, content=text))
    files.append(File.generated(config, CLI_PAGE, content=_cli_reference()))
    return files


def _source_of(page: Page) -> str:
    """Where the page's Markdown lives in the repository (a POSIX path from its root)."""
    uri = page.file.src_uri
    if uri in INCLUDED:
        return INCLUDED[uri]
    return f"docs/{uri}"


def _rewrite(target: str, source: str, page_uri: str, files: Files, repo_url: str) -> str:
    if target.startswith(("#", "/")) or re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target):
        return target
    path, _, anchor = target.partition("#")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(source), path))
    suffix = f"#{anchor}" if anchor else ""
    if resolved.startswith("docs/"):
        in_site = resolved[len("docs/"):]
        if files.get_file_from_path(in_site) is not None:
            relative = posixpath.relpath(in_site, posixpath.dirname(page_uri) or ".")
            return relative + suffix
    for page, origin in INCLUDED.items():  # a link to README.md or bench/README.md
        if resolved == origin:
            return posixpath.relpath(page, posixpath.dirname(page_uri) or ".") + suffix
    if not (ROOT / resolved).exists():
        return target  # left as written: --strict reports it
    kind = "tree" if (ROOT / resolved).is_dir() else "blob"
    return f"{repo_url.rstrip('/')}/{kind}/main/{resolved}{suffix}"


def on_page_markdown(
    markdown: str, page: Page, config: MkDocsConfig, files: Files, **_: Any
) -> str:
    """Make the page's relative links work on the site (see the module's docstring)."""
    source = _source_of(page)
    repo_url = str(config.repo_url or "")
    out: list[str] = []
    fenced = False
    for line in markdown.splitlines(keepends=True):
        if _FENCE.match(line):
            fenced = not fenced
        if not fenced:
            line = _LINK.sub(
                lambda m: m.group(1)
                + _rewrite(m.group(2), source, page.file.src_uri, files, repo_url)
                + m.group(3),
                line,
            )
        out.append(line)
    return "".join(out)


def _role(match: re.Match[str]) -> str:
    if match["titled"]:  # :meth:`title <target>`
        target, shown = match["titled"], match["title"]
    else:
        target = match["target"]
        shown = (target.rpartition(".")[2] if match["short"] else target) + (match["call"] or "")
    optional = "" if target.startswith("overcast.") else " optional"
    return f'<autoref identifier="{target}"{optional}><code>{shown}</code></autoref>'


def on_page_content(html: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Docstrings' reST roles as cross-references (see the module's docstring)."""
    return _ROLE.sub(_role, html)
