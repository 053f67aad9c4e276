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

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from typing import Self
from urllib.parse import urlencode

import pytest

from servers.fakeapi import FakeRequest
from servers.fakeapi import FakeResponse
from servers.fakeapi import Fault
from servers.fakeapi import Faults
from servers.fakeapi import GuardedAPI

__all__ = ["PREFIX", "TOKEN", "DigitalOceanAPI", "Fault", "Faults", "error", "invalid",
           "not_found"]

#: The path of the API below the server's address.
PREFIX = "/v2"
_SHARED: dict[type, tuple[Any, str]] = {}

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


class DigitalOceanAPI(GuardedAPI):
    """Routes over a state holding :class:`Faults`; checks the token and
    faults before routing, and pages lists the API's way (:meth:`_page`).
    :meth:`serve` runs a fresh server, :meth:`shared` this test process's."""

    @classmethod
    @contextmanager
    def serve(cls) -> Iterator[tuple[Self, str]]:
        """A fresh server; yields it and the driver endpoint (``.../v2``)."""
        server = cls()
        with server.serving() as base_url:
            yield server, base_url + PREFIX

    @classmethod
    def shared(cls, request: pytest.FixtureRequest) -> tuple[Self, str]:
        """This test process's server of this class, started on first use and
        stopped at session end."""
        found = _SHARED.get(cls)
        if found is None:
            context = cls.serve()
            found = context.__enter__()
            _SHARED[cls] = found
            request.config.add_cleanup(lambda: context.__exit__(None, None, None))
        return found  # type: ignore[return-value]

    def denied(self, request: FakeRequest) -> FakeResponse | None:
        """401 unless the request carries the fixtures' token."""
        if request.header("Authorization") != f"Bearer {TOKEN}":
            return error(401, "unauthorized", "Unable to authenticate you")
        return None

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
