"""The documentation site's build hooks (scripts/mkdocs_hooks.py): links read
from where a page's source lives, generated pages, docstring roles."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest
from mkdocs.structure.files import File  # the "docs" extra (scripts/test.sh installs it)
from mkdocs.structure.files import Files

ROOT = Path(__file__).resolve().parents[2]
REPO = "https://github.com/overcast-cloud/overcast"


def load_hooks() -> ModuleType:
    """The hooks module, imported from its path as mkdocs does."""
    path = ROOT / "scripts" / "mkdocs_hooks.py"
    spec = importlib.util.spec_from_file_location("mkdocs_hooks", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hooks = load_hooks()


def site_files() -> Files:
    """The site's Markdown files as mkdocs lists them (plus the generated Home)."""
    docs = ROOT / "docs"
    found = [File(p.relative_to(docs).as_posix(), str(docs), "/tmp/site", use_directory_urls=True)
             for p in docs.rglob("*") if p.is_file()]
    found.append(File("index.md", str(docs), "/tmp/site", use_directory_urls=True))
    return Files(found)


@pytest.mark.parametrize(("source", "page", "target", "expected"), [
    # README.md is the Home page: its docs/ links become page links
    ("README.md", "index.md", "docs/cli.md", "cli.md"),
    ("README.md", "index.md", "docs/architecture.md#drivers", "architecture.md#drivers"),
    ("README.md", "index.md", "bench/README.md", "benchmarks.md"),
    # anything else in the repository becomes a repository link
    ("README.md", "index.md", "examples/nimbus_dns", f"{REPO}/tree/main/examples/nimbus_dns"),
    ("docs/architecture.md", "architecture.md", "../src/overcast/errors.py",
     f"{REPO}/blob/main/src/overcast/errors.py"),
    # a page in a folder links up
    ("docs/getting-started/dns.md", "getting-started/dns.md", "../cli.md", "../cli.md"),
    # external links, anchors and missing files are left as written
    ("README.md", "index.md", "https://example.org/x.md", "https://example.org/x.md"),
    ("README.md", "index.md", "#object-storage", "#object-storage"),
    ("README.md", "index.md", "docs/no-such-page.md", "docs/no-such-page.md"),
])
def test_links_are_read_from_the_source(source: str, page: str, target: str,
                                        expected: str) -> None:
    assert hooks._rewrite(target, source, page, site_files(), REPO) == expected


@pytest.mark.parametrize(("html", "expected"), [
    (":class:<code>~overcast.errors.NotFound</code>",
     '<autoref identifier="overcast.errors.NotFound"><code>NotFound</code></autoref>'),
    (":meth:<code>close()</code>",
     '<autoref identifier="close" optional><code>close()</code></autoref>'),
    (":meth:<code>NodeDriver.deploy_node\n&lt;overcast.compute.base.NodeDriver.deploy_node&gt;</code>",
     '<autoref identifier="overcast.compute.base.NodeDriver.deploy_node">'
     "<code>NodeDriver.deploy_node</code></autoref>"),
    ("plain <code>x</code>", "plain <code>x</code>"),
])
def test_docstring_roles_become_cross_references(html: str, expected: str) -> None:
    assert hooks._ROLE.sub(hooks._role, html) == expected


def test_the_cli_reference_names_every_command() -> None:
    """Generated from the typer application: every command and sub-command."""
    from typer.main import get_command

    from overcast.cli.app import app

    text = hooks._cli_reference()
    group = get_command(app)
    names = list(group.commands)  # type: ignore[attr-defined]
    assert names
    for name in names:
        assert f"`overcast {name}`" in text, name
    assert re.search(r"^# `overcast`$", text, re.MULTILINE)


def test_a_page_opens_with_its_title() -> None:
    """README.md opens with its commands; as the Home page, with its title."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    home = hooks.title_first(readme)
    assert home.startswith("# overcast\n")
    assert sorted(home.split("\n")) == sorted((readme + "\n").split("\n"))
    assert hooks.title_first("# t\n\nbody\n") == "# t\n\nbody\n"
