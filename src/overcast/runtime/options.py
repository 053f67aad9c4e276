"""Checks of the options drivers take in their constructors, written once.

Each raises :class:`~overcast.errors.InvalidInput` naming the option, so a bad
``endpoint=`` or ``page_size=`` fails when the driver is made, before any
request.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from overcast.errors import InvalidInput

__all__ = ["check_endpoint", "check_page_size"]


def check_endpoint(
    value: object, *, option: str = "endpoint", query: bool = True, driver: Any = None
) -> str:
    """An ``http(s)://`` URL with a host, without its trailing ``/``.

    ``query=False`` also refuses a query string (credentials belong in their
    own option, not in a URL that ends up in logs).
    """
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise InvalidInput(
            f"{option} must be an http(s) URL such as http://127.0.0.1:9000: {value!r}",
            driver=driver,
        )
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise InvalidInput(f"{option} is not a valid URL: {value!r}", driver=driver) from None
    if not parts.hostname:
        raise InvalidInput(f"{option} has no host: {value!r}", driver=driver)
    if not query and (parts.query or parts.fragment):
        raise InvalidInput(f"{option} must not carry a query: {value!r}", driver=driver)
    return value.rstrip("/")


def check_page_size(value: object, *, maximum: int | None = None, minimum: int = 1,
                    clamp: bool = False, option: str = "page_size", driver: Any = None) -> int:
    """A whole number of items per page, from ``minimum`` to ``maximum``.

    With ``clamp``, a number above ``maximum`` becomes ``maximum`` (for
    providers whose documented limit is a ceiling rather than an error).
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        bounds = f"from {minimum} to {maximum}" if maximum is not None else f"of {minimum} or more"
        raise InvalidInput(f"{option} must be an integer {bounds}: {value!r}", driver=driver)
    if maximum is not None and value > maximum:
        if clamp:
            return maximum
        raise InvalidInput(
            f"{option} must be an integer from {minimum} to {maximum}: {value!r}", driver=driver
        )
    return value
