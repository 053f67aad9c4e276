"""Checks of the options drivers take in their constructors, written once.

Each raises :class:`~overcast.errors.InvalidInput` naming the option, so a bad
``endpoint=`` or ``page_size=`` fails when the driver is made, before any
request.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from overcast.errors import InvalidInput

__all__ = ["check_endpoint", "check_page_size", "check_polling", "libcloud_endpoint",
           "secure_or_token"]


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


def check_polling(poll_interval: object, wait_timeout: object, *,
                  driver: Any = None) -> tuple[float, float]:
    """``(poll_interval, wait_timeout)`` as floats: the pause between two looks
    at a change the provider makes in its own time, and how long to wait for
    it at most; each a positive number of seconds."""
    checked = []
    for option, value in (("poll_interval", poll_interval), ("wait_timeout", wait_timeout)):
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise InvalidInput(f"{option} must be a positive number: {value!r}", driver=driver)
        checked.append(float(value))
    return checked[0], checked[1]


def libcloud_endpoint(endpoint: str | None, host: object = None, port: object = None,
                      secure: object = True, *, path: str = "", driver: Any = None) -> str | None:
    """``endpoint`` from Apache Libcloud's connection keywords, checked.

    Libcloud drivers take ``host`` (a name or address, no scheme), ``port`` and
    ``secure`` (https when true) where overcast takes one ``endpoint=`` URL.
    Without ``host`` this is ``endpoint`` (checked, or None); with it, the URL
    ``http(s)://host[:port]`` + ``path``. Giving both ``endpoint`` and ``host``
    is InvalidInput, as is a ``port`` without a ``host``.
    """
    if host is None:
        if port is not None:
            raise InvalidInput(f"port={port!r} needs host=", driver=driver)
        return None if endpoint is None else check_endpoint(endpoint, driver=driver)
    if endpoint is not None:
        raise InvalidInput(
            f"give endpoint= or host= (with port= and secure=), not both: "
            f"endpoint={endpoint!r}, host={host!r}", driver=driver,
        )
    if not isinstance(host, str) or not host or "/" in host or any(c.isspace() for c in host):
        raise InvalidInput(f"host must be a host name or address: {host!r}", driver=driver)
    if not isinstance(secure, bool):
        raise InvalidInput(f"secure must be True or False: {secure!r}", driver=driver)
    netloc = f"[{host}]" if ":" in host and not host.startswith("[") else host
    if port is not None:
        if isinstance(port, bool) or not isinstance(port, int | str) or not str(port).isdigit() \
                or not 0 < int(port) < 65536:
            raise InvalidInput(f"port must be a number from 1 to 65535: {port!r}", driver=driver)
        netloc = f"{netloc}:{int(port)}"
    scheme = "https" if secure else "http"
    return check_endpoint(f"{scheme}://{netloc}{path}", driver=driver)


def secure_or_token(secure: object, token: object, *, driver: Any = None) -> tuple[bool, Any]:
    """``(secure, token)`` from the third positional argument of an AWS driver.

    Apache Libcloud's AWS drivers take ``(key, secret, secure, host, port,
    region, token)``; overcast's took the session token third. A string (or
    :class:`~overcast.runtime.redact.Secret`) there is the token, as before; a
    boolean is Libcloud's ``secure``.
    """
    if isinstance(secure, bool):
        return secure, token
    if token is not None:
        raise InvalidInput("the session token is given twice (third argument and token=)",
                           driver=driver)
    return True, secure
