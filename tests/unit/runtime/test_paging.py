"""The one pager: every paging style, its repeated-cursor guard, both modes."""

from __future__ import annotations

from collections.abc import Sequence

import anyio
import pytest

from overcast.errors import ProviderError
from overcast.runtime.effects import Call
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.paging import Cursor
from overcast.runtime.paging import Page
from overcast.runtime.paging import paginate
from overcast.runtime.policy import RuntimeConfig
from overcast.runtime.runner import AsyncRunner
from overcast.runtime.runner import SyncRunner
from overcast.testing import MODES


def _no_transport() -> object:
    raise AssertionError("these operations send no request")


def run_iterator(mode: str, op: Iter[object]) -> list[object]:
    """Drive an iterator operation on a runner of ``mode`` and gather its items."""
    config = RuntimeConfig("paging-test")
    if mode == "sync":
        return list(SyncRunner(config, _no_transport).iterate(op))

    async def main() -> list[object]:
        runner = AsyncRunner(config, _no_transport)
        return [item async for item in runner.iterate(op)]

    return anyio.run(main)


def pages_of(book: dict[Cursor | None, Page[str]], asked: list[Cursor | None]):
    """A fetch function serving ``book`` (cursor -> page), recording each cursor asked.

    Each fetch yields a ``Call`` so the pager is driven through a real effect."""

    def fetch(cursor: Cursor | None) -> Op[Page[str]]:
        asked.append(cursor)
        page: Page[str] = yield Call(book.__getitem__, cursor)
        return page

    return fetch


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_token_pages_are_followed_to_the_end(mode: str) -> None:
    asked: list[Cursor | None] = []
    book = {
        None: Page.token(["a", "b"], "t1"),
        "t1": Page.token(["c"], "t2"),
        "t2": Page.token(["d"], None),
    }
    items = run_iterator(mode, paginate(pages_of(book, asked), what="zones"))
    assert items == ["a", "b", "c", "d"]
    assert asked == [None, "t1", "t2"]


@pytest.mark.parametrize(
    ("style", "book", "first"),
    [
        ("token", {None: Page.token(["a"], "t1"), "t1": Page.token(["b"], "t1")}, None),
        (
            "token",  # a cycle of period two is a loop too
            {None: Page.token(["a"], "t1"), "t1": Page.token(["b"], "t2"),
             "t2": Page.token(["c"], "t1")},
            None,
        ),
        (
            "marker",
            {None: Page.marker(["a", "b"], True, key=str.upper),
             "B": Page.marker(["b"], True, key=str.upper)},
            None,
        ),
        (
            "link",
            {None: Page.link(["a"], "https://api/p2"), "https://api/p2": Page.link(["b"],
                                                                                   "https://api/p2")},
            None,
        ),
        ("page", {1: Page(["a"], 2, "page"), 2: Page(["b"], 1, "page")}, 1),
    ],
)
def test_a_repeated_cursor_raises_instead_of_looping(
    mode: str, style: str, book: dict[Cursor | None, Page[str]], first: Cursor | None
) -> None:
    asked: list[Cursor | None] = []
    collected: list[object] = []

    def consume() -> None:
        op = paginate(pages_of(book, asked), first=first, what="GET /zones", driver="demo")
        if mode == "sync":
            config = RuntimeConfig("paging-test")
            for item in SyncRunner(config, _no_transport).iterate(op):
                collected.append(item)
        else:

            async def main() -> None:
                runner = AsyncRunner(RuntimeConfig("paging-test"), _no_transport)
                async for item in runner.iterate(op):
                    collected.append(item)

            anyio.run(main)

    with pytest.raises(ProviderError, match=f"GET /zones: the provider sent the {style}") as info:
        consume()
    assert info.value.driver == "demo"
    assert len(asked) <= 3  # stopped at the first repeat, not after many pages
    assert collected  # the items before the repeat were handed over, none invented


def test_marker_pages_continue_after_the_last_key_or_the_next_marker(mode: str) -> None:
    asked: list[Cursor | None] = []
    book = {
        None: Page.marker(["a", "b"], True, key=str),
        "b": Page.marker(["c"], True, key=str, next_marker="zz"),
        "zz": Page.marker(["d"], False, key=str),
    }
    assert run_iterator(mode, paginate(pages_of(book, asked))) == ["a", "b", "c", "d"]
    assert asked == [None, "b", "zz"]


def test_a_truncated_marker_page_with_nothing_to_continue_from_is_an_error() -> None:
    with pytest.raises(ProviderError, match="no items and no marker"):
        Page.marker([], True, key=str)


def test_numbered_pages_stop_at_the_page_count(mode: str) -> None:
    asked: list[Cursor | None] = []

    def fetch(cursor: Cursor | None) -> Op[Page[str]]:
        asked.append(cursor)
        assert isinstance(cursor, int)
        items: Sequence[str] = yield Call(lambda: [f"item{cursor}"])
        return Page.number(items, cursor, pages=3, reported=cursor)

    assert run_iterator(mode, paginate(fetch, first=1)) == ["item1", "item2", "item3"]
    assert asked == [1, 2, 3]


def test_a_numbered_page_other_than_the_one_asked_for_is_an_error(mode: str) -> None:
    def fetch(cursor: Cursor | None) -> Op[Page[str]]:
        items: Sequence[str] = yield Call(lambda: ["same"])
        return Page.number(items, int(cursor or 1), pages=5, reported=1)  # ignores ?page=

    with pytest.raises(ProviderError, match=r"asked for page 2 .* sent page 1"):
        run_iterator(mode, paginate(fetch, first=1, driver="demo"))


def test_pages_are_fetched_only_as_items_are_consumed() -> None:
    asked: list[Cursor | None] = []
    book = {None: Page.token(["a"], "t1"), "t1": Page.token(["b"], None)}
    runner = SyncRunner(RuntimeConfig("paging-test"), _no_transport)
    items = runner.iterate(paginate(pages_of(book, asked)))
    assert next(items) == "a"
    assert asked == [None]
    assert list(items) == ["b"]
    assert asked == [None, "t1"]
