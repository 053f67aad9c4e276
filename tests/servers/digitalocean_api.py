"""What every DigitalOcean API v2 fixture server shares (DNS and compute).

Written from DigitalOcean's API reference (its introduction on authentication,
errors and pagination):

* **Auth.** ``Authorization: Bearer <token>``; anything else is 401
  ``{"id": "unauthorized", "message": "Unable to authenticate you"}``.
* **Errors.** ``{"id", "message"}`` (``request_id`` optional): 404
  ``not_found``, 422 ``unprocessable_entity``, 429 ``too_many_requests``.
* **Pagination.** ``page`` and ``per_page`` (1..200, default 20). Lists carry
  ``meta.total`` and ``links.pages`` with ``first``/``prev``/``next``/``last``
  URLs where they make sense (no ``next`` on the last page, ``links`` empty when
  everything fits one page).

Tests make a server fail on purpose with :meth:`Faults.inject`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from urllib.parse import urlencode

from servers.fakeapi import FakeAPI
from servers.fakeapi import FakeRequest
from servers.fakeapi import FakeResponse

__all__ = ["TOKEN", "DigitalOceanAPI", "Fault", "Faults", "error", "invalid", "not_found"]

#: The personal access token the fixtures accept (DigitalOcean's ``dop_v1_`` form).
TOKEN = "dop_v1_" + "0123456789abcdef" * 4


def error(status: int, ident: str, message: str) -> FakeResponse:
    """DigitalOcean's error body."""
    return FakeResponse.json({"id": ident, "message": message}, status)


def not_found() -> FakeResponse:
    """The 404 every unknown resource gets."""
    return error(404, "not_found", "The resource you were accessing could not be found.")


def invalid(message: str) -> FakeResponse:
    """A 422 validation error."""
    return error(422, "unprocessable_entity", message)


@dataclass
class Fault:
    """A failure the server produces instead of (or after) handling a request."""

    method: str
    path: re.Pattern[str]
    response: FakeResponse
    times: int = 1
    after: bool = False  # handle the request first (its effect is kept), then fail
    when: Callable[[FakeRequest], bool] | None = None


@dataclass
class Faults:
    """Failures armed by a test (a server's state inherits this)."""

    faults: list[Fault] = field(default_factory=list)

    def inject(self, method: str, path: str, response: FakeResponse, *, times: int = 1,
               after: bool = False, when: Callable[[FakeRequest], bool] | None = None) -> None:
        """Make the next ``times`` matching requests fail with ``response``.

        ``path`` is a regex searched in the request path; ``after=True`` lets
        the request take effect before failing (an unknown outcome).
        """
        self.faults.append(Fault(method.upper(), re.compile(path), response, times, after, when))

    def take_fault(self, request: FakeRequest) -> Fault | None:
        """The first armed fault matching ``request``, disarming one use of it."""
        for fault in self.faults:
            if (fault.times > 0 and fault.method == request.method
                    and fault.path.search(request.path)
                    and (fault.when is None or fault.when(request))):
                fault.times -= 1
                return fault
        return None


class DigitalOceanAPI(FakeAPI):
    """Routes over a state holding :class:`Faults`; checks the token and
    faults before routing, and pages lists the API's way (:meth:`_page`)."""

    state: Faults

    def dispatch(self, request: FakeRequest) -> FakeResponse:
        """Check the token, then any injected fault, then route."""
        with self.lock:
            denied = None
            if request.header("Authorization") != f"Bearer {TOKEN}":
                denied = error(401, "unauthorized", "Unable to authenticate you")
            fault = None if denied is not None else self.state.take_fault(request)
            if denied is not None or (fault is not None and not fault.after):
                self.requests.append(request)
                return denied if denied is not None else fault.response  # type: ignore[union-attr]
            response = super().dispatch(request)
            return fault.response if fault is not None else response

    @staticmethod
    def _page(req: FakeRequest, key: str, items: list[dict[str, Any]]) -> FakeResponse:
        """One page of ``items`` under ``key``, with ``links.pages`` and ``meta.total``."""
        try:
            page = int(req.arg("page", "1") or 1)
            per_page = int(req.arg("per_page", "20") or 20)
        except ValueError:
            return invalid("page and per_page must be integers")  # unverified wording
        if page < 1 or not 1 <= per_page <= 200:
            return invalid("per_page must be between 1 and 200")  # unverified wording
        total = len(items)
        last = max(1, -(-total // per_page))
        host = req.header("Host") or "api.digitalocean.com"
        extra = [(k, v[0]) for k, v in req.query.items() if k not in ("page", "per_page")]

        def url(n: int) -> str:
            query = urlencode([*extra, ("page", n), ("per_page", per_page)])
            return f"http://{host}{req.path}?{query}"

        pages: dict[str, str] = {}
        if page > 1:
            pages.update(first=url(1), prev=url(page - 1))
        if page < last:
            pages.update(last=url(last), next=url(page + 1))
        body = {key: items[(page - 1) * per_page: page * per_page],
                "links": {"pages": pages} if pages else {}, "meta": {"total": total}}
        return FakeResponse.json(body)
