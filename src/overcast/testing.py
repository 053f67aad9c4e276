"""Testing drivers without a server: a scripted transport for both runners.

A test lists the requests a driver should send, in order, with the answer each
one gets; the transport checks every request as it arrives and replays the
answer. The same script serves the sync and the async runner, so a driver's
logic (paging, error mapping, reconciliation after a lost answer) is tested in
milliseconds, in both modes, with no socket::

    from overcast.testing import Script, call

    def test_lists_every_page(mode):
        script = Script()
        script.expect("GET", "https://api.example.com/v1/zones", params={"page": "1"}).reply(
            200, json={"zones": [{"name": "a.example."}], "next": 2})
        script.expect("GET", "https://api.example.com/v1/zones", params={"page": "2"}).reply(
            200, json={"zones": [{"name": "b.example."}], "next": None})
        driver = MyDNSDriver("token", **script.options())
        zones = call(mode, driver, "list_zones")
        assert [z.domain for z in zones] == ["a.example.", "b.example."]
        script.assert_done()

What a request is checked against (each part only if the expectation gives it):

* the method and the URL: scheme, host, path, and the query as a multiset of
  pairs (the expected URL's own query plus ``params``), in any order;
* ``headers``: each must be present with that value (any case; others may be
  present too, such as the ones a signer adds);
* the body: ``body=`` bytes exactly, ``json=`` equal after decoding, ``text=``
  equal as UTF-8, or ``match=`` any predicate of the :class:`Sent` request.

The answer is :meth:`Expectation.reply` (status, headers, and ``json``,
``text`` or ``body``) or :meth:`Expectation.fail` (the connection failed,
before or after the request reached the server). A request that matches no
expectation, or comes when none is left, fails the test with a message that
shows what was sent and what was expected; :meth:`Script.assert_done` also
fails if an expected request never came.

Drivers of other projects use this module the same way (it is public API).
"""

from __future__ import annotations

import inspect
import json as _json
import threading
from collections.abc import AsyncIterable
from collections.abc import AsyncIterator
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from urllib.parse import parse_qsl
from urllib.parse import urlsplit

import anyio
import anyio.lowlevel
import anyio.to_thread

from overcast.runtime.effects import Headers
from overcast.runtime.effects import Request
from overcast.runtime.effects import Response
from overcast.runtime.redact import redact_url
from overcast.runtime.streams import IterStream
from overcast.runtime.transports.base import AsyncTransport
from overcast.runtime.transports.base import SyncTransport
from overcast.runtime.transports.base import TransportFailure

__all__ = ["MODES", "Expectation", "Script", "ScriptError", "Sent", "call"]

#: The two ways every operation runs; parametrize tests over them.
MODES = ("sync", "async")

_UNSET: Any = object()


class ScriptError(AssertionError):
    """A request the script did not expect (or a missing one)."""


@dataclass(frozen=True, slots=True)
class Sent:
    """A request as the transport received it: signed, with its body read."""

    method: str
    url: str
    headers: Headers
    body: bytes

    @property
    def path(self) -> str:
        """The URL's path."""
        return urlsplit(self.url).path

    @property
    def query(self) -> list[tuple[str, str]]:
        """The URL's query as ``(name, value)`` pairs, in order."""
        return parse_qsl(urlsplit(self.url).query, keep_blank_values=True)

    def json(self) -> Any:
        """The body decoded as JSON."""
        return _json.loads(self.body)

    @property
    def text(self) -> str:
        """The body decoded as UTF-8."""
        return self.body.decode("utf-8")

    def __str__(self) -> str:
        shown = self.body[:300]
        return f"{self.method} {redact_url(self.url)} body={shown!r}"


@dataclass(slots=True)
class Expectation:
    """One expected request and its answer; made by :meth:`Script.expect`."""

    method: str
    url: str
    params: Sequence[tuple[str, str]] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    json: Any = _UNSET
    text: str | None = None
    match: Callable[[Sent], bool] | None = None
    status: int = 200
    reply_headers: list[tuple[str, str]] = field(default_factory=list)
    reply_body: bytes = b""
    failure: TransportFailure | None = None

    def reply(self, status: int = 200, *, json: Any = _UNSET, text: str | None = None,
              body: bytes | None = None,
              headers: Mapping[str, str] | Sequence[tuple[str, str]] = ()) -> Expectation:
        """Answer with ``status``, ``headers`` and a body: ``json`` (encoded, with
        ``Content-Type: application/json``), ``text`` (UTF-8) or raw ``body``."""
        pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
        payload = b""
        if json is not _UNSET:
            payload = _json.dumps(json).encode("utf-8")
            if not any(k.lower() == "content-type" for k, _ in pairs):
                pairs.append(("Content-Type", "application/json"))
        elif text is not None:
            payload = text.encode("utf-8")
        elif body is not None:
            payload = body
        self.status, self.reply_headers, self.reply_body = status, pairs, payload
        return self

    def fail(self, *, sent: bool = True, timeout: bool = False) -> Expectation:
        """Answer with a failed connection: ``sent=False`` if the request never
        left (it may be retried), ``sent=True`` if it may have reached the server
        (a non-idempotent request then has an unknown outcome); ``timeout`` for a
        read or connect timeout."""
        what = "timed out" if timeout else ("connection reset" if sent else "connection refused")
        self.failure = TransportFailure(f"scripted failure: {what}", sent=sent, timeout=timeout)
        return self

    # -- checking ------------------------------------------------------------------------

    def mismatch(self, sent: Sent) -> str | None:
        """Why ``sent`` is not this request, or ``None`` if it is."""
        if sent.method.upper() != self.method.upper():
            return f"method {sent.method} is not {self.method}"
        want, got = urlsplit(self.url), urlsplit(sent.url)
        if (want.scheme, want.netloc, want.path) != (got.scheme, got.netloc, got.path):
            return f"URL {got.scheme}://{got.netloc}{got.path} is not {self.url.split('?')[0]}"
        expected_query = parse_qsl(want.query, keep_blank_values=True) + list(self.params or ())
        if sorted(expected_query) != sorted(sent.query):
            return f"query {sorted(sent.query)} is not {sorted(expected_query)}"
        for name, value in self.headers.items():
            if sent.headers.get(name) != value:
                return f"header {name}: {sent.headers.get(name)!r} is not {value!r}"
        if self.body is not None and sent.body != self.body:
            return f"body {sent.body[:200]!r} is not {self.body[:200]!r}"
        if self.text is not None and sent.body != self.text.encode("utf-8"):
            return f"body {sent.body[:200]!r} is not {self.text[:200]!r}"
        if self.json is not _UNSET:
            try:
                decoded = sent.json()
            except ValueError:
                return f"body {sent.body[:200]!r} is not JSON"
            if decoded != self.json:
                return f"JSON body {decoded!r} is not {self.json!r}"
        if self.match is not None and not self.match(sent):
            return "the match= predicate refused it"
        return None

    def answer(self, request: Request) -> Response:
        """The scripted response (or failure) for ``request``."""
        if self.failure is not None:
            raise self.failure
        response = Response(
            self.status, Headers(list(self.reply_headers)), url=redact_url(request.full_url),
            method=request.method,
        )
        if request.stream and 200 <= self.status < 300 and request.method != "HEAD":
            stream = IterStream([self.reply_body] if self.reply_body else [])
            stream.length = len(self.reply_body)
            response.stream = stream
        else:
            response.body = self.reply_body
        return response

    def __str__(self) -> str:
        query = f" params={list(self.params)}" if self.params else ""
        return f"{self.method} {self.url}{query}"


class Script:
    """An ordered list of expected requests with their answers, shared by a
    sync and an async transport (:meth:`options` gives both to a driver).

    Requests must come in the order they were expected, except that
    ``any_order=True`` lets each request match the first unused expectation
    that fits (for operations that send requests concurrently).
    """

    def __init__(self, *, any_order: bool = False) -> None:
        self.expected: list[Expectation] = []
        self.received: list[Sent] = []
        self.any_order = any_order
        self._used: list[bool] = []
        self._errors: list[str] = []
        self._lock = threading.Lock()

    def expect(self, method: str, url: str, *,
               params: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
               headers: Mapping[str, str] | None = None, body: bytes | None = None,
               json: Any = _UNSET, text: str | None = None,
               match: Callable[[Sent], bool] | None = None) -> Expectation:
        """Expect a request; answer it with ``.reply(...)`` or ``.fail(...)``
        (a 200 with an empty body if neither is called)."""
        pairs = list(params.items()) if isinstance(params, Mapping) else params
        expectation = Expectation(
            method, url, pairs, dict(headers or {}), body, json, text, match
        )
        self.expected.append(expectation)
        self._used.append(False)
        return expectation

    # -- the transports ------------------------------------------------------------------

    def options(self) -> dict[str, Any]:
        """``sync_transport=`` and ``async_transport=`` for a driver's constructor."""
        return {"sync_transport": self.sync_transport, "async_transport": self.async_transport}

    def sync_transport(self) -> SyncTransport:
        """A sync transport replaying this script."""
        return _SyncScripted(self)

    def async_transport(self) -> AsyncTransport:
        """An async transport replaying this script."""
        return _AsyncScripted(self)

    def respond(self, request: Request, body: bytes) -> Response:
        """Check one request (``body``: its body, read) and return its answer."""
        sent = Sent(request.method, request.full_url, Headers(dict(request.headers)), body)
        with self._lock:
            self.received.append(sent)
            expectation = self._take(sent)
        return expectation.answer(request)

    def _take(self, sent: Sent) -> Expectation:
        candidates = [i for i, used in enumerate(self._used) if not used]
        if not candidates:
            return self._refuse(f"unexpected request (none left): {sent}")
        if not self.any_order:
            candidates = candidates[:1]
        reasons = []
        for index in candidates:
            why = self.expected[index].mismatch(sent)
            if why is None:
                self._used[index] = True
                return self.expected[index]
            reasons.append(f"  expected {self.expected[index]}: {why}")
        return self._refuse(f"unexpected request: {sent}\n" + "\n".join(reasons))

    def _refuse(self, message: str) -> Expectation:
        self._errors.append(message)
        raise ScriptError(message)

    # -- verdict -------------------------------------------------------------------------

    @property
    def pending(self) -> list[Expectation]:
        """The expected requests that have not come (yet)."""
        return [e for e, used in zip(self.expected, self._used, strict=True) if not used]

    def assert_done(self) -> None:
        """Fail if any request was refused or any expected request never came."""
        if self._errors:
            raise ScriptError(self._errors[0])
        if self.pending:
            missing = "\n".join(f"  {e}" for e in self.pending)
            raise ScriptError(f"expected requests that never came:\n{missing}")


def _read_sync(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body)
    if hasattr(body, "read"):
        data = body.read()
        return bytes(data)
    if isinstance(body, AsyncIterable) and not isinstance(body, Iterable):
        raise TypeError("an async iterable body can only be sent by the async runner")
    return b"".join(bytes(chunk) for chunk in body)


async def _read_async(body: Any) -> bytes:
    if isinstance(body, AsyncIterable):
        return b"".join([bytes(chunk) async for chunk in body])
    if hasattr(body, "read"):
        return await anyio.to_thread.run_sync(_read_sync, body)
    return _read_sync(body)


class _SyncScripted(SyncTransport):
    def __init__(self, script: Script) -> None:
        self.script = script

    def send(self, request: Request, *, connect_timeout: float, read_timeout: float) -> Response:
        return self.script.respond(request, _read_sync(request.body))

    def close(self) -> None:
        """Nothing to close."""


class _AsyncScripted(AsyncTransport):
    def __init__(self, script: Script) -> None:
        self.script = script

    async def send(
        self, request: Request, *, connect_timeout: float, read_timeout: float
    ) -> Response:
        body = await _read_async(request.body)
        await anyio.lowlevel.checkpoint()
        return self.script.respond(request, body)

    async def aclose(self) -> None:
        """Nothing to close."""


# -- running an operation in either mode -----------------------------------------------


def call(mode: str, driver: Any, name: str, /, *args: Any, **kwargs: Any) -> Any:
    """Call ``driver.<name>(*args, **kwargs)`` in ``mode`` (``"sync"`` or
    ``"async"``), so one test checks both. Iterators come back as lists and byte
    streams as ``bytes``, so results compare equal across modes."""
    if mode.startswith("sync"):
        result = getattr(driver, name)(*args, **kwargs)
        if inspect.isgenerator(result) or hasattr(result, "__next__"):
            return _bytes_or_list(name, list(result))
        return result

    async def main() -> Any:
        async with driver.aio as view:
            result = getattr(view, name)(*args, **kwargs)
            if isinstance(result, AsyncIterator):
                return _bytes_or_list(name, [item async for item in result])
            return await result

    return anyio.run(main)


def _bytes_or_list(name: str, items: list[Any]) -> Any:
    if name.endswith("as_stream") or (items and all(isinstance(i, bytes) for i in items)):
        return b"".join(items)
    return items
