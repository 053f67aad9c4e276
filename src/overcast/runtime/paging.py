"""One pager for every listing: pages fetched one by one, items emitted as they come.

Every ``iterate_*`` operation of every driver is built on :func:`paginate`. A
driver writes only how to fetch one page (a small operation that returns a
:class:`Page`); the loop, and the guard that keeps a misbehaving provider from
making a listing loop for ever or silently stop short, are written here once.

The rules it keeps:

* A page says what fetches the next one (:attr:`Page.next`): a continuation
  token, a marker, a ``next`` link or a page number. ``None`` ends the listing.
* A cursor is never followed twice. A provider that sends a token, marker,
  link or page number it already sent (a cycle) makes the listing raise
  :class:`~overcast.errors.ProviderError`, instead of looping or dropping
  items. This is Apache Libcloud's recurring truncation bug, closed in one
  place.
* A page that claims more follows but holds no item and no new cursor is a
  provider error too (a marker listing cannot advance past nothing).
* Pages are fetched only as the consumer asks for items, in both modes: the
  sync and async runners drive the same generator.

Four constructors cover the paging styles providers use:

=====================  ==========================================================
``Page.token(...)``    an opaque continuation token (S3 v2, Route 53, EC2, GCP)
``Page.marker(...)``   the last key seen, or the provider's ``NextMarker`` (Swift)
``Page.link(...)``     a full URL for the next page (Azure ``nextLink``, Link)
``Page.number(...)``   page numbers (Linode ``page``/``pages``, DigitalOcean)
=====================  ==========================================================
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from typing import Generic
from typing import TypeAlias
from typing import TypeVar

from overcast.errors import ProviderError
from overcast.errors import driver_name
from overcast.runtime.effects import Emit
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op

__all__ = ["Cursor", "Page", "paginate"]

T = TypeVar("T")

#: What fetches a page: a token, marker or URL (``str``) or a page number (``int``).
Cursor: TypeAlias = str | int


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing: its items and the cursor of the next page.

    ``next`` is ``None`` on the last page. ``style`` names the kind of cursor
    (``"token"``, ``"marker"``, ``"link"``, ``"page"``) for error messages.
    Build pages with the constructors below rather than directly.
    """

    items: Sequence[T]
    next: Cursor | None = None
    style: str = "token"

    @classmethod
    def last(cls, items: Sequence[T]) -> Page[T]:
        """The final page: nothing follows it."""
        return cls(items, None)

    @classmethod
    def token(cls, items: Sequence[T], token: str | None) -> Page[T]:
        """A page followed by the one ``token`` fetches (empty or ``None``: the end)."""
        return cls(items, token or None, "token")

    @classmethod
    def link(cls, items: Sequence[T], url: str | None) -> Page[T]:
        """A page followed by the one at ``url`` (empty or ``None``: the end)."""
        return cls(items, url or None, "link")

    @classmethod
    def marker(cls, items: Sequence[T], truncated: bool, *, key: Callable[[T], str] | None = None,
               next_marker: str | None = None) -> Page[T]:
        """A page of a marker listing: if ``truncated``, the next page starts
        after ``next_marker`` when the provider gave one, else after the key of
        the last item (``key(items[-1])``)."""
        if not truncated:
            return cls(items, None, "marker")
        marker = next_marker or (key(items[-1]) if items and key is not None else None)
        if not marker:
            raise ProviderError(
                "the provider said more items follow but gave no way to fetch them "
                "(a truncated page with no items and no marker)"
            )
        return cls(items, marker, "marker")

    @classmethod
    def number(cls, items: Sequence[T], requested: int, *, more: bool | None = None,
               pages: int | None = None, reported: int | None = None) -> Page[T]:
        """Page ``requested`` of a numbered listing.

        The next page is ``requested + 1`` while ``more`` is true, or while
        ``requested`` is below the provider's page count ``pages``. A provider
        that reports which page it sent (``reported``) and sends another one
        than was asked for (it ignored the page parameter) is an error.
        """
        if reported is not None and reported != requested:
            raise ProviderError(
                f"asked for page {requested} of a listing and the provider sent page {reported}"
            )
        follows = more if more is not None else (pages is not None and requested < pages)
        return cls(items, requested + 1 if follows else None, "page")


def paginate(fetch: Callable[[Cursor | None], Op[Page[T]]], *, first: Cursor | None = None,
             what: str = "listing", driver: Any = None) -> Iter[T]:
    """Iterator operation: every item of every page, in order.

    ``fetch(cursor)`` is an operation returning one :class:`Page`; it is called
    with ``first`` (``None`` unless the style needs a start, such as page 1),
    then with each page's ``next`` until a page has none. A cursor that comes
    back a second time raises :class:`~overcast.errors.ProviderError` naming
    ``what``; so does a page that claims more but holds no item and the same
    cursor it was fetched with.
    """
    cursor = first
    seen: set[Cursor] = set() if first is None else {first}
    while True:
        try:
            page = yield from fetch(cursor)
        except ProviderError as exc:
            if exc.driver is None:  # raised by a Page constructor: name the driver
                exc.driver = driver_name(driver)
            raise
        for item in page.items:
            yield Emit(item)
        following = page.next
        if following is None:
            return
        if following in seen:
            raise ProviderError(
                f"{what}: the provider sent the {page.style} {_show(following)} a second time; "
                "stopping rather than looping or dropping items",
                driver=driver,
            )
        seen.add(following)
        cursor = following


def _show(cursor: Cursor) -> str:
    text = repr(cursor)
    return text if len(text) <= 80 else f"{text[:77]}...'"
