"""Vultr's API v2, as every Vultr driver reads it.

* Auth: ``Authorization: Bearer <API key>`` (:class:`overcast.auth.bearer.BearerAuth`).
* Lists are paged by cursor: ``per_page`` (1..500, default 100) and
  ``cursor``; an answer names the next page's cursor in ``meta.links.next``
  (an empty string on the last page). :func:`page_of` reads one answer as a
  :class:`~overcast.runtime.paging.Page` of that cursor, so the shared pager
  refuses a cursor that comes back.
* Errors are ``{"error": "<text>", "status": <code>}``, which the kit's JSON
  fault reader understands (the text is the message, the status the code).
* Prices: a plan says ``monthly_cost`` (US dollars). Vultr bills by the hour
  up to a monthly cap of 672 hours (28 days) for every server type but Cloud
  GPU, whose cap is 730 hours ("How Am I Billed for My Servers?", Vultr's
  docs, September 2025); :func:`hourly_price` divides by the plan type's cap.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from typing import Final

from overcast.compute.values import price
from overcast.runtime.paging import Page

__all__ = ["DEFAULT_ENDPOINT", "GPU_HOURS_PER_MONTH", "HOURS_PER_MONTH", "MAX_PAGE_SIZE",
           "hourly_price", "page_of"]

DEFAULT_ENDPOINT: Final = "https://api.vultr.com/v2"
#: Vultr's documented largest ``per_page``.
MAX_PAGE_SIZE: Final = 500
#: The hours of a month Vultr bills at most (the monthly cap), all but GPU plans.
HOURS_PER_MONTH: Final = 672
#: The monthly cap of Cloud GPU plans (type ``vcg``).
GPU_HOURS_PER_MONTH: Final = 730


def hourly_price(plan: Mapping[str, Any]) -> float | None:
    """A plan's price in US dollars per hour: its ``monthly_cost`` over the
    hours Vultr bills a month at most for its type; ``None`` when the plan
    gives no positive monthly cost (unknown is never free)."""
    monthly = price(plan.get("monthly_cost"))
    if monthly is None:
        return None
    hours = GPU_HOURS_PER_MONTH if plan.get("type") == "vcg" else HOURS_PER_MONTH
    return monthly / hours


def page_of(payload: Mapping[str, Any] | None, key: str) -> Page[Any]:
    """The items under ``key`` of one list answer, followed by the page of the
    cursor ``meta.links.next`` names (none when it is empty or absent)."""
    payload = payload or {}
    links = (payload.get("meta") or {}).get("links") or {}
    following = links.get("next")
    return Page.token(payload.get(key) or [], str(following) if following else None)
