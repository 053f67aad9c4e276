"""DigitalOcean's API v2, as every DigitalOcean driver reads it.

* Auth: ``Authorization: Bearer <token>`` (:class:`overcast.auth.bearer.BearerAuth`).
* Lists are paged by ``page`` and ``per_page`` (1..200); an answer names the
  next page's URL in ``links.pages.next`` (absent on the last page).
  :func:`page_of` reads one answer as a :class:`~overcast.runtime.paging.Page`
  numbered by that link, so the shared pager refuses a link that comes back.
* Errors are ``{"id", "message", "request_id"}``, which the kit's JSON fault
  reader understands.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from typing import Final
from urllib.parse import parse_qs
from urllib.parse import urlsplit

from overcast.errors import ProviderError
from overcast.runtime.paging import Page

__all__ = ["DEFAULT_ENDPOINT", "MAX_PAGE_SIZE", "page_of"]

DEFAULT_ENDPOINT: Final = "https://api.digitalocean.com/v2"
#: DigitalOcean's documented largest ``per_page``.
MAX_PAGE_SIZE: Final = 200


def page_of(payload: Mapping[str, Any] | None, key: str, path: str,
            driver: Any = None) -> Page[Any]:
    """The items under ``key`` of one list answer, followed by the page that
    ``links.pages.next`` names (none on the last page); a next link without a
    page number is a :class:`~overcast.errors.ProviderError`."""
    payload = payload or {}
    following = ((payload.get("links") or {}).get("pages") or {}).get("next")
    number = parse_qs(urlsplit(str(following)).query).get("page") if following else None
    if following and not (number and number[0].isdigit()):
        raise ProviderError(f"GET {path}: the next page link has no page number: "
                            f"{following!r}", driver=driver)
    return Page(payload.get(key) or [], int(number[0]) if number else None, "page")
