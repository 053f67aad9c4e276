"""Linode's API v4, as every Linode driver reads it.

* Auth: ``Authorization: Bearer <token>`` (:class:`overcast.auth.bearer.BearerAuth`).
* Collections are paged with ``page`` and ``page_size`` (25 to 500, default
  100); each answer says ``data``, ``page``, ``pages`` and ``results``
  (:func:`page_of`). ``X-Filter`` (a JSON object) filters on fields the
  reference marks *Filterable*.
* Errors are ``{"errors": [{"reason", "field"}]}`` (:func:`fault`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from typing import Final

from overcast.runtime.api import Fault
from overcast.runtime.effects import Response
from overcast.runtime.paging import Page

__all__ = ["DEFAULT_ENDPOINT", "MAX_PAGE_SIZE", "MIN_PAGE_SIZE", "fault", "page_of"]

DEFAULT_ENDPOINT: Final = "https://api.linode.com/v4"
#: The page sizes the API accepts.
MIN_PAGE_SIZE: Final = 25
MAX_PAGE_SIZE: Final = 500


def fault(resp: Response) -> Fault:
    """Linode's ``{"errors": [{"reason", "field"}]}``: the reasons are the
    message, the fields the code."""
    try:
        data = json.loads(resp.body)
    except ValueError:
        data = None
    errors = data.get("errors") if isinstance(data, dict) else None
    entries = [e for e in errors or [] if isinstance(e, dict)]
    reasons = [str(e["reason"]) for e in entries if e.get("reason")]
    fields = [str(e["field"]) for e in entries if e.get("field")]
    return Fault(resp.status, ",".join(fields) or None,
                 "; ".join(reasons) or resp.text[:300].strip(),
                 resp.headers.get("X-Request-Id"), frozenset(fields))


def page_of(body: Mapping[str, Any] | None, number: int) -> Page[Any]:
    """Page ``number`` of a collection: its ``data``, followed by the next page
    while ``number`` is below ``pages`` (a page other than the one asked for is
    a :class:`~overcast.errors.ProviderError`)."""
    body = body or {}
    reported = body.get("page")
    return Page.number(body.get("data") or [], number, pages=int(body.get("pages") or 1),
                       reported=None if reported is None else int(reported))
