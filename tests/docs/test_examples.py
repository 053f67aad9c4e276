"""Every ```python block on the documentation site runs, so the docs cannot rot.

The site's pages are ``docs/**/*.md`` plus the two files it includes,
``README.md`` (Home) and ``bench/README.md`` (Benchmarks). A page's blocks run
in order, in one namespace, in a fresh temporary directory as the working
directory (like a reader pasting them into one interpreter), sync code and
``asyncio.run`` alike. Pages whose walk-through needs a local server get it
from :data:`SERVERS`: a fixture that starts it and sets the environment
variables the page tells the reader to set.

A block that cannot run here (it needs a real cloud account, or it is an
excerpt of a class shown for reading) is marked by an HTML comment on the line
just before its fence, which the site does not show::

    <!-- example: no-run (needs an AWS account) -->

The reason in parentheses is required. Such blocks are still compiled, so a
syntax error is caught; keep them few (:func:`test_few_blocks_are_exempt`).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SITE_FILES = [
    ROOT / "README.md",
    ROOT / "bench" / "README.md",
    *sorted((ROOT / "docs").rglob("*.md")),
]
NO_RUN = re.compile(r"^\s*<!--\s*example:\s*no-run\s*\((?P<reason>[^)]+)\)\s*-->\s*$")
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
    no_run: str | None  # the reason, when marked


def blocks_of(path: Path) -> list[Block]:
    """The ```python blocks of one Markdown file, in order."""
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
        if match["info"] in ("python", "py"):
            before = lines[start - 1] if start else ""
            marker = NO_RUN.match(before)
            found.append(Block(path, start + 1, "\n".join(body) + "\n",
                               marker["reason"] if marker else None))
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


def test_few_blocks_are_exempt() -> None:
    """No-run markers stay the exception, each with its reason, and the
    getting-started pages have none: they are the walk-throughs that must run."""
    exempt = [b for b in ALL_BLOCKS if b.no_run is not None]
    assert all(b.no_run and b.no_run.strip() for b in exempt)
    assert len(exempt) <= MAX_EXEMPT_SHARE * len(ALL_BLOCKS), [
        f"{page_id(b.path)}:{b.line}" for b in exempt
    ]
    walkthroughs = sorted((ROOT / "docs" / "getting-started").glob("*.md"))
    assert len(walkthroughs) == 6
    for page in walkthroughs:
        blocks = blocks_of(page)
        assert blocks, page
        assert all(b.no_run is None for b in blocks), page


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
