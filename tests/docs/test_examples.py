"""Every ```python block on the documentation site runs, so the docs cannot rot.

The site's pages are ``docs/**/*.md`` plus the two files it includes,
``README.md`` (Home) and ``bench/README.md`` (Benchmarks). A page's blocks run
in order, in one namespace, in a fresh temporary directory as the working
directory (like a reader pasting them into one interpreter), sync code and
``asyncio.run`` alike. Pages whose walk-through needs a local server get it
from :data:`SERVERS`: a fixture that starts it and sets the environment
variables the page tells the reader to set.

The command line's walk-through (``docs/getting-started/cli.md``) is shell:
its ```sh blocks run the same way, as one ``bash -euo pipefail`` script, with
the installed ``overcast`` command and a SeaweedFS S3 server
(:func:`test_cli_walkthrough_runs`).

The API reference pages show docstrings: their ``>>>`` examples run as
doctests (:func:`test_api_reference_doctests_run`), except those marked
``# doctest: +SKIP`` because they need a cloud.

A block that cannot run here (it needs a real cloud account, or it is an
excerpt of a class shown for reading) is marked by an HTML comment on the line
just before its fence, which the site does not show::

    <!-- example: no-run (needs an AWS account) -->

The reason in parentheses is required. Such blocks are still compiled, so a
syntax error is caught; keep them few (:func:`test_few_blocks_are_exempt`).

A block that shows part of a file of the repository (a driver's class body, a
test) is marked with that file instead, and is checked against it::

    <!-- example: excerpt (examples/nimbus_dns/driver.py) -->

Every name the excerpt uses without defining it must exist in that module,
every ``self.x`` must be an attribute of a class of that module, and every
function or name it defines at its top level must exist there too
(:func:`test_excerpts_name_what_exists`): a renamed method or helper fails the
test.
"""

from __future__ import annotations

import ast
import builtins
import doctest
import importlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SITE_FILES = [
    ROOT / "README.md",
    ROOT / "bench" / "README.md",
    *sorted((ROOT / "docs").rglob("*.md")),
]
NO_RUN = re.compile(r"^\s*<!--\s*example:\s*no-run\s*\((?P<reason>[^)]+)\)\s*-->\s*$")
EXCERPT = re.compile(r"^\s*<!--\s*example:\s*excerpt\s*\((?P<path>[^)]+)\)\s*-->\s*$")
# Where the repository's modules are imported from (pyproject's pythonpath).
IMPORT_ROOTS = ("src", "tests", "examples")
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)\s*(?P<info>[^\s`]*)")

# Pages whose examples need a server the tests start: page -> fixture name.
SERVERS = {
    "docs/getting-started/loadbalancer.md": "haproxy_for_docs",
    "docs/getting-started/container.md": "docker_for_docs",
}
# At most this share of the site's Python blocks may be marked no-run.
MAX_EXEMPT_SHARE = 0.5


@dataclass(frozen=True)
class Block:
    """One fenced ```python block of a page."""

    path: Path
    line: int
    code: str
    no_run: str | None  # the reason, when marked (an excerpt's is "excerpt of <path>")
    excerpt: str | None = None  # the file it is an excerpt of


def blocks_of(path: Path, languages: tuple[str, ...] = ("python", "py")) -> list[Block]:
    """The blocks of one Markdown file in ``languages`` (```python), in order."""
    found: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence, indent, start = match["fence"], len(match["indent"]), i
        body: list[str] = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i][indent:])
            i += 1
        i += 1
        if match["info"] in languages:
            before = lines[start - 1] if start else ""
            marker = NO_RUN.match(before)
            excerpt = EXCERPT.match(before)
            reason = marker["reason"] if marker else None
            if excerpt:
                reason = f"excerpt of {excerpt['path'].strip()}"
            found.append(Block(path, start + 1, "\n".join(body) + "\n", reason,
                               excerpt["path"].strip() if excerpt else None))
    return found


def page_id(path: Path) -> str:
    """The page's path from the repository root."""
    return path.relative_to(ROOT).as_posix()


RUNNABLE = [p for p in SITE_FILES if any(b.no_run is None for b in blocks_of(p))]
ALL_BLOCKS = [b for p in SITE_FILES for b in blocks_of(p)]


@pytest.fixture
def haproxy_for_docs(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A real HAProxy in master-worker mode; its paths in the page's variables."""
    from servers.haproxy import HAProxyServer

    running = HAProxyServer()
    try:
        monkeypatch.setenv("HAPROXY_CONFIG", str(running.config))
        monkeypatch.setenv("HAPROXY_BASE_CONFIG", str(running.base))
        monkeypatch.setenv("HAPROXY_MASTER_SOCKET", running.master)
        monkeypatch.setenv("HAPROXY_RUNTIME_SOCKET", running.runtime)
        monkeypatch.setenv("HAPROXY_STATE_FILE", str(running.state))
        yield
    finally:
        running.stop()


@pytest.fixture
def docker_for_docs(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Podman's Docker-compatible API; its address in ``DOCKER_HOST``."""
    from servers.podman import podman_fixture

    podman = podman_fixture(request, tmp_path_factory)
    monkeypatch.setenv("DOCKER_HOST", podman.host)
    monkeypatch.setenv("BUSYBOX_ROOTFS", str(podman.directory / "busybox-rootfs.tar"))


@pytest.mark.parametrize("path", RUNNABLE, ids=page_id)
def test_page_examples_run(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """The page's runnable blocks run in order, in one namespace, without an error."""
    if page_id(path) in SERVERS:
        request.getfixturevalue(SERVERS[page_id(path)])
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    ran = 0
    for block in blocks_of(path):
        if block.no_run is not None:
            continue
        code = compile(block.code, f"{page_id(path)}:{block.line}", "exec")
        exec(code, namespace)
        ran += 1
    assert ran > 0


@pytest.mark.parametrize("block", ALL_BLOCKS, ids=lambda b: f"{page_id(b.path)}:{b.line}")
def test_every_block_compiles(block: Block) -> None:
    """Even a block marked no-run is valid Python (``...`` stands for the elided)."""
    ast.parse(block.code, filename=f"{page_id(block.path)}:{block.line}")


def module_of(relative: str) -> ModuleType:
    """Import a repository file by its path (``examples/nimbus_dns/driver.py``)."""
    for root in IMPORT_ROOTS:
        if relative.startswith(f"{root}/"):
            name = relative[len(root) + 1:].removesuffix(".py").replace("/", ".")
            return importlib.import_module(name.removesuffix(".__init__"))
    raise AssertionError(f"{relative} is not under {IMPORT_ROOTS}")


def undefined_names(tree: ast.Module) -> tuple[set[str], set[str], set[str]]:
    """(names read but not bound in the excerpt, ``self.x`` attributes,
    names the excerpt binds at its top level)."""
    bound: set[str] = set()
    read: set[str] = set()
    attributes: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (bound if isinstance(node.ctx, ast.Store) else read).add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
              and node.value.id == "self"):
            attributes.add(node.attr)
    top: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            top.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            top |= {t.id for t in targets if isinstance(t, ast.Name)}
    return read - bound - set(dir(builtins)), attributes, top


EXCERPTS = [b for b in ALL_BLOCKS if b.excerpt is not None]


@pytest.mark.parametrize("block", EXCERPTS, ids=lambda b: f"{page_id(b.path)}:{b.line}")
def test_excerpts_name_what_exists(block: Block) -> None:
    """An excerpt uses only names its file has, and what it defines is there."""
    assert block.excerpt is not None
    assert (ROOT / block.excerpt).is_file(), block.excerpt
    module = module_of(block.excerpt)
    # The module's globals, and every name its source binds anywhere (a method's
    # parameters and locals, for an excerpt of a method's body).
    source = ast.parse((ROOT / block.excerpt).read_text(encoding="utf-8"))
    names = set(vars(module)) | bound_names(source) | {"self"}
    classes = [c for c in vars(module).values()
               if isinstance(c, type) and c.__module__ == module.__name__]
    instance = self_attributes(source)

    def has(attribute: str) -> bool:
        return attribute in instance or any(hasattr(c, attribute) for c in classes)

    read, attributes, top = undefined_names(ast.parse(block.code))
    assert sorted(read - names) == []
    assert sorted(a for a in attributes if not has(a)) == []
    assert sorted(n for n in top if n not in names and not has(n)) == []


def bound_names(tree: ast.Module) -> set[str]:
    """Every name a module's source binds: assignments, parameters, definitions."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            found.add(node.id)
        elif isinstance(node, ast.arg):
            found.add(node.arg)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found.add(node.name)
    return found


def self_attributes(tree: ast.Module) -> set[str]:
    """The ``self.x`` a module's source assigns (instance attributes)."""
    return {
        node.attr for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
        and isinstance(node.value, ast.Name) and node.value.id == "self"
    }


def test_excerpt_check_catches_a_rename() -> None:
    """A helper renamed in the code makes its excerpt fail the check."""
    read, attributes, top = undefined_names(ast.parse(
        "def iterate_zones(self):\n"
        "    yield from self._listingg('/zones', 'zones', self._to_zone)\n"
    ))
    from nimbus_dns.driver import NimbusDNSDriver

    assert read == set()
    assert top == {"iterate_zones"}
    assert {a for a in attributes if not hasattr(NimbusDNSDriver, a)} == {"_listingg"}


def test_few_blocks_are_exempt() -> None:
    """No-run markers stay the exception, each with its reason, and the
    getting-started pages have none: they are the walk-throughs that must run."""
    exempt = [b for b in ALL_BLOCKS if b.no_run is not None]
    assert all(b.no_run and b.no_run.strip() for b in exempt)
    assert len(exempt) <= MAX_EXEMPT_SHARE * len(ALL_BLOCKS), [
        f"{page_id(b.path)}:{b.line}" for b in exempt
    ]
    walkthroughs = sorted(set((ROOT / "docs" / "getting-started").glob("*.md")) - {CLI_PAGE})
    assert len(walkthroughs) == 6
    for page in walkthroughs:
        blocks = blocks_of(page)
        assert blocks, page
        assert all(b.no_run is None for b in blocks), page


CLI_PAGE = ROOT / "docs" / "getting-started" / "cli.md"
API_DIRECTIVE = re.compile(r"^::: (?P<path>[\w.]+)\s*$", re.MULTILINE)
API_OBJECTS = sorted({
    m["path"] for page in (ROOT / "docs" / "api").glob("*.md")
    for m in API_DIRECTIVE.finditer(page.read_text(encoding="utf-8"))
})


def api_object(path: str) -> object:
    """The module, class or function an API page's ``::: path`` names."""
    try:
        return importlib.import_module(path)
    except ModuleNotFoundError:
        parent, _, name = path.rpartition(".")
        return getattr(importlib.import_module(parent), name)


@pytest.mark.parametrize("path", API_OBJECTS)
def test_api_reference_doctests_run(path: str, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``>>>`` examples in the docstrings the API pages show run and print
    what they say (``# doctest: +SKIP`` ones, which need a cloud, excepted)."""
    monkeypatch.chdir(tmp_path)
    result = run_doctests(path)
    assert result.failed == 0


def run_doctests(path: str) -> doctest.TestResults:
    """Run the docstring examples of what ``path`` names (and its members)."""
    target = api_object(path)
    module = target if isinstance(target, ModuleType) else importlib.import_module(
        target.__module__)  # type: ignore[attr-defined]
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in doctest.DocTestFinder().find(target, path, module=module):
        runner.run(test)
    return runner.summarize(verbose=False)


def test_api_doctests_are_found() -> None:
    """The doctest run above does see examples (Secret's, the storage package's)."""
    assert run_doctests("overcast.runtime.redact.Secret").attempted >= 3
    assert run_doctests("overcast.storage").attempted >= 2


def test_cli_walkthrough_runs(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """The command line's getting-started page, run as written against SeaweedFS:
    then the photos are in the S3 bucket and the local mirror, byte for byte,
    the zone file holds the zone, and the secret was printed nowhere."""
    from servers.seaweedfs import ACCESS_KEY
    from servers.seaweedfs import SECRET_KEY
    from servers.seaweedfs import seaweedfs_server

    s3 = seaweedfs_server(request)
    blocks = blocks_of(CLI_PAGE, ("sh",))
    assert len(blocks) >= 5
    assert all(b.no_run is None for b in blocks)
    script = "set -euo pipefail\n" + "\n".join(b.code for b in blocks)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "S3_ENDPOINT": s3.url, "S3_KEY": ACCESS_KEY, "S3_SECRET": SECRET_KEY,
        "HOME": str(tmp_path), "NO_COLOR": "1", "COLUMNS": "120",
    }
    env.pop("OVERCAST_CONFIG", None)
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "2024/img3.jpg" in out                        # ls -l of the bucket
    assert "3 to copy, 0 to delete, 0 unchanged" in done.stderr + out
    assert "0 to copy, 0 to delete, 3 unchanged" in done.stderr + out   # the second sync
    assert "+ www 300 A 192.0.2.10" in out               # the plan
    assert "test" in out and "running" in out            # nodes on test:///default
    for i in (1, 2, 3):
        original = (tmp_path / "photos" / "2024" / f"img{i}.jpg").read_bytes()
        assert (tmp_path / "mirror" / "photos" / "2024" / f"img{i}.jpg").read_bytes() == original
    zone = (tmp_path / "zones" / "example.org.zone").read_text()
    assert "192.0.2.11" in zone and "mail.example.org." in zone
    assert SECRET_KEY not in out + done.stderr
    assert SECRET_KEY not in (tmp_path / "overcast" / "config.toml").read_text()


def test_marker_is_recognised(tmp_path: Path) -> None:
    """The marker, as documented above, exempts the next block only."""
    page = tmp_path / "page.md"
    page.write_text(
        "intro\n<!-- example: no-run (needs an AWS account) -->\n```python\nx = 1\n```\n"
        "text\n\n```python\ny = 2\n```\n  ```py\n  z = 3\n  ```\n```bash\nls\n```\n"
    )
    blocks = blocks_of(page)
    assert [(b.code, b.no_run) for b in blocks] == [
        ("x = 1\n", "needs an AWS account"),
        ("y = 2\n", None),
        ("z = 3\n", None),
    ]
