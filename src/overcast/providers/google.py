"""Google's JSON APIs (Compute Engine, Cloud DNS, ...), as every Google driver reads them.

* Auth: ``Authorization: Bearer <token>``, from a service account
  (:mod:`overcast.auth.google_oauth`) or the metadata server
  (:mod:`overcast.auth.google_metadata`).
* Lists are paged with ``maxResults`` and ``pageToken``; an answer names the
  next page's token in ``nextPageToken`` (absent on the last page):
  :func:`token_page`.
* Errors are ``{"error": {"code", "message", "status", "errors": [{"reason",
  "message", "domain"}]}}``; the code a driver maps is the first
  ``errors[].reason`` (``notFound``, ``alreadyExists``, ...), else the
  ``status`` (``NOT_FOUND``): :func:`fault`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import replace
from typing import Any
from typing import TypeVar

from overcast.runtime.api import Fault
from overcast.runtime.api import json_fault
from overcast.runtime.effects import Response
from overcast.runtime.paging import Page

__all__ = ["fault", "token_page"]

T = TypeVar("T")


def fault(resp: Response, request_id_headers: Sequence[str] = ()) -> Fault:
    """Google's error: its code is the first ``errors[].reason``, else its ``status``."""
    found = json_fault(resp, request_id_headers)
    try:
        error = json.loads(resp.body).get("error")
    except (ValueError, AttributeError):
        return found
    if not isinstance(error, dict):
        return found
    details = error.get("errors")
    first = details[0] if isinstance(details, list) and details else None
    reason = first.get("reason") if isinstance(first, dict) else None
    code = reason or error.get("status")
    if not isinstance(code, str) or not code:
        return found
    return replace(found, code=code, codes=found.codes | {code})


def token_page(data: Mapping[str, Any] | None, key: str,
               convert: Callable[[Any], T]) -> Page[T]:
    """One page of a list: the items under ``key``, converted, followed by
    ``nextPageToken`` (none on the last page)."""
    data = data or {}
    following = data.get("nextPageToken")
    return Page.token([convert(item) for item in data.get(key) or []],
                      str(following) if following else None)
