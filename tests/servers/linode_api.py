"""What every Linode API v4 fixture server shares (DNS and compute).

Written from the published reference (techdocs.akamai.com/linode-api):

* ``Authorization: Bearer <token>`` on every request, else 401
  ``{"errors": [{"reason": "Invalid Token"}]}`` (:func:`guarded`).
* Collections paged by ``page`` (from 1) and ``page_size`` (25 to 500, default
  100; anything else is a 400), answering ``data``, ``page``, ``pages``,
  ``results``; ``X-Filter`` filters by equality on fields (:func:`page`).
* Errors: ``{"errors": [{"reason": ..., "field": ...}]}`` (:func:`error`); a
  handler raises :class:`Invalid` for a 400 on a field.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any
from typing import Final

from servers.fakeapi import FakeRequest
from servers.fakeapi import FakeResponse

__all__ = ["TOKEN", "Invalid", "error", "guarded", "page"]

TOKEN: Final = "linode-fixture-token-0123456789abcdef"


def error(status: int, reason: str, field: str | None = None) -> FakeResponse:
    """Linode's error body."""
    item = {"reason": reason} if field is None else {"field": field, "reason": reason}
    return FakeResponse.json({"errors": [item]}, status)


class Invalid(Exception):
    """Raised by a handler: a 400 naming ``field``."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


def page(req: FakeRequest, items: list[dict[str, Any]]) -> FakeResponse:
    """One page of ``items`` (filtered by ``X-Filter``) as Linode answers a collection."""
    try:
        number = int(req.arg("page") or 1)
        size = int(req.arg("page_size") or 100)
    except ValueError:
        return error(400, "Must be an integer", "page")
    if number < 1:
        return error(400, "Must be 1 or greater", "page")
    if not 25 <= size <= 500:
        return error(400, "Must be between 25 and 500", "page_size")
    raw = req.header("X-Filter")
    if raw:
        try:
            wanted = json.loads(raw)
        except ValueError:
            return error(400, "Invalid JSON", "X-Filter")
        if not isinstance(wanted, dict) or any(k.startswith("+") for k in wanted):
            return error(400, "This fixture filters by plain equality only", "X-Filter")
        items = [i for i in items if all(i.get(k) == v for k, v in wanted.items())]
    pages = max(1, math.ceil(len(items) / size))
    chunk = items[(number - 1) * size : number * size]
    return FakeResponse.json({"data": chunk, "page": number, "pages": pages,
                              "results": len(items)})


def guarded(token: str) -> Callable[[Callable[..., FakeResponse]], Callable[..., FakeResponse]]:
    """A route decorator: the bearer ``token`` checked, the JSON body passed to
    the handler after the request, :class:`Invalid` answered as a 400."""

    def wrap(handler: Callable[..., FakeResponse]) -> Callable[..., FakeResponse]:
        def run(req: FakeRequest, **kw: str) -> FakeResponse:
            if req.header("Authorization") != f"Bearer {token}":
                return error(401, "Invalid Token")
            try:
                body = req.json() if req.body else {}
                response: FakeResponse = handler(req, body, **kw)
                return response
            except Invalid as invalid:
                return error(400, invalid.reason, invalid.field)
        return run

    return wrap
